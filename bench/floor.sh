#!/usr/bin/env bash
# Speed as a ratio to the parse floor (../shared/bench/floor.c: mmap, walk the records, pull each
# TCP 4-tuple, seq and flags, count packets per flow: the least work any analyzer must do),
# measured in one run on the same machine, and each format's peak anonymous memory (RssAnon:
# a memory-mapped capture's page cache does not count).
#
# usage: bench/floor.sh            (writes bench/FLOOR.md)
# Environment:
#   BENCH_DIR=DIR     where captures are written (default ${TMPDIR:-/tmp}/tcpflow-audit-bench)
#   BENCH_RUNS=N      alternating runs per command, the median is reported (default 5)
#   BENCH_FORMATS=".."  formats to time (default "table json jsonl csv")
#   BENCH_THREADS=".."  --threads values to time each format with (default "1 2")
#   BENCH_FLOODS=0    leave out the flood captures (default 1: included)
#   BENCH_SCALING=0   leave out the scaling table (default 1: included)
#   BENCH_OUT=FILE    results file (default bench/FLOOR.md)
#
# Captures: "bulk" (examples/synth_capture: 3 connections x 1,000,000 segments, 0.4% loss,
# ~4.7 M frames, ~480 MB), "many" (40,000 short connections, 520 k frames, 48 MB, all within
# 40 s, so every connection is still lingering at the end) and the kernel's fast_bulk trace
# (9.5 Gbit/s sender, fixtures/kernel/round2, uncompressed into BENCH_DIR) when present; and for
# the memory bound (examples/flood_capture, table and jsonl with the default threads only):
# "syn_flood", 1,000,000 SYNs from distinct sources in 10 s, and "short_1m", 1,000,000 complete
# short connections within a minute (7 M frames), every one still lingering at the end.
# Scaling: time per frame (json, one thread) on bulk captures of about 10^5, 10^6 and 10^7 frames
# (3 connections each, 7 for 10^7: the generator makes at most 10^6 segments a connection) and
# on short-connection captures of the same sizes (7 frames a connection),
# to show that the cost of a frame does not grow with the capture.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/tcpflow-audit-bench}
RUNS=${BENCH_RUNS:-5}
FORMATS=${BENCH_FORMATS:-table json jsonl csv}
THREADS=${BENCH_THREADS:-1 2}
FLOODS=${BENCH_FLOODS:-1}
SCALING=${BENCH_SCALING:-1}
OUT=${BENCH_OUT:-$ROOT/bench/FLOOR.md}
mkdir -p "$DIR"

cargo build --release --quiet
cargo build --release --quiet --example synth_capture --example flood_capture
cc -O2 -o "$DIR/floor" "$ROOT/../shared/bench/floor.c"
AUDIT=$ROOT/target/release/tcpflow-audit
SYNTH=$ROOT/target/release/examples/synth_capture
FLOOD=$ROOT/target/release/examples/flood_capture

[[ -s $DIR/bulk.pcap ]] || "$SYNTH" "$DIR/bulk.pcap" 3 1000000 4 1 2>/dev/null
[[ -s $DIR/many.pcap ]] || "$SYNTH" "$DIR/many.pcap" 40000 4 4 1 1000 2>/dev/null
captures=(bulk many)
fast=$ROOT/fixtures/kernel/round2/fast_bulk_client.pcap.gz
if [[ -f $fast ]]; then
    [[ -s $DIR/fast_bulk.pcap ]] || gzip -dc "$fast" >"$DIR/fast_bulk.pcap"
    captures+=(fast_bulk)
fi
if [[ $FLOODS == 1 ]]; then
    [[ -s $DIR/syn_flood.pcap ]] || "$FLOOD" "$DIR/syn_flood.pcap" syn 1000000 2>/dev/null
    [[ -s $DIR/short_1m.pcap ]] || "$FLOOD" "$DIR/short_1m.pcap" short 1000000 2>/dev/null
    captures+=(syn_flood short_1m)
fi

# measure CMD...: one run; prints "wall_seconds peak_anon_KiB"
measure() {
    python3 - "$@" <<'EOF'
import os, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
print(f"{time.monotonic() - t0:.4f} {peak}")
EOF
}

# timed CMD...: one run, wall seconds only (no polling, so short runs are timed closely)
timed() {
    python3 - "$@" <<'EOF'
import subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{time.perf_counter() - t0:.4f}")
EOF
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

{
    echo "# Speed against the parse floor"
    echo
    echo "\`bench/floor.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r); commit $(git rev-parse --short HEAD)."
    echo "Median of $RUNS alternating runs; ratio = tcpflow-audit's wall time / the floor's, in the same run."
    echo "Memory is the peak RssAnon (sampled every 2 ms), so the mapped capture's pages do not count."
    echo
    echo "| capture | frames | connections | floor | format | threads | time | ratio | peak anon memory |"
    echo "|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

for cap in "${captures[@]}"; do
    file=$DIR/$cap.pcap
    stats=$("$DIR/floor" "$file")
    frames=$(sed -E 's/.*packets ([0-9]+).*/\1/' <<<"$stats")
    conns=$("$AUDIT" --format jsonl -q "$file" | wc -l)
    # variants: FORMAT@THREADS ("" = the default threads)
    variants=()
    case $cap in
        syn_flood | short_1m) variants=(table@ jsonl@) ;;
        *) for fmt in $FORMATS; do for t in $THREADS; do variants+=("$fmt@$t"); done; done ;;
    esac
    declare -A times=() mems=()
    floor_times=()
    for ((i = 0; i < RUNS; i++)); do
        floor_times+=("$(measure "$DIR/floor" "$file" | cut -d' ' -f1)")
        for v in "${variants[@]}"; do
            fmt=${v%@*} t=${v#*@}
            read -r secs m < <(measure "$AUDIT" --format "$fmt" ${t:+--threads "$t"} "$file")
            times[$v]+="$secs "
            mems[$v]=$(( ${mems[$v]:-0} > m ? ${mems[$v]:-0} : m ))
        done
    done
    floor=$(printf '%s\n' "${floor_times[@]}" | median)
    for v in "${variants[@]}"; do
        fmt=${v%@*} t=${v#*@}
        secs=$(tr ' ' '\n' <<<"${times[$v]}" | grep . | median)
        ratio=$(awk -v a="$secs" -v b="$floor" 'BEGIN {printf "%.1f", a / b}')
        mib=$(awk -v k="${mems[$v]}" 'BEGIN {printf "%.1f", k / 1024}')
        echo "| $cap | $frames | $conns | ${floor} s | $fmt | ${t:-default} | ${secs} s | ${ratio}x | ${mib} MiB |" >>"$OUT"
    done
    unset times mems
done

if [[ $SCALING == 1 ]]; then
    # name:generator command; bulk frames are about 1.57 per segment, short ones 7 per connection.
    scaled=(
        "bulk_1e5:$SYNTH $DIR/bulk_1e5.pcap 3 21200 4 1"
        "bulk_1e6:$SYNTH $DIR/bulk_1e6.pcap 3 212000 4 1"
        "bulk_1e7:$SYNTH $DIR/bulk_1e7.pcap 7 910000 4 1"
        "short_1e5:$FLOOD $DIR/short_1e5.pcap short 14286"
        "short_1e6:$FLOOD $DIR/short_1e6.pcap short 142857"
        "short_1e7:$FLOOD $DIR/short_1e7.pcap short 1428571"
    )
    {
        echo
        echo "## Time per frame as captures grow (json, --threads 1, median of $RUNS)"
        echo
        echo "Timed without memory polling (the peak comes from one more run), so short runs are timed closely;"
        echo "each time still includes starting the process."
        echo
        echo "| capture | frames | time | ns per frame | floor ns per frame | peak anon memory |"
        echo "|---|---|---|---|---|---|"
    } >>"$OUT"
    for entry in "${scaled[@]}"; do
        name=${entry%%:*} gen=${entry#*:}
        file=$DIR/$name.pcap
        [[ -s $file ]] || $gen >/dev/null 2>&1
        frames=$("$DIR/floor" "$file" | sed -E 's/.*packets ([0-9]+).*/\1/')
        ts=() fs=()
        for ((i = 0; i < RUNS; i++)); do
            fs+=("$(timed "$DIR/floor" "$file")")
            ts+=("$(timed "$AUDIT" --format json --threads 1 "$file")")
        done
        peak=$(measure "$AUDIT" --format json --threads 1 "$file" | cut -d' ' -f2)
        secs=$(printf '%s\n' "${ts[@]}" | median)
        floor=$(printf '%s\n' "${fs[@]}" | median)
        awk -v n="$name" -v f="$frames" -v s="$secs" -v fl="$floor" -v k="$peak" 'BEGIN {
            printf "| %s | %d | %s s | %.0f | %.0f | %.1f MiB |\n", n, f, s, s * 1e9 / f, fl * 1e9 / f, k / 1024 }' >>"$OUT"
    done
fi
cat "$OUT"
