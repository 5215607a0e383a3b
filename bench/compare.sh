#!/usr/bin/env bash
# Wall time and peak memory of tcpflow-audit against tshark and tcptrace, on a large synthetic
# capture (examples/synth_capture.rs) and on the kernel fixtures.
#
# usage: bench/compare.sh [N_CONNECTIONS [SEGMENTS_PER_CONN [LOSS_PER_MILLE [SEED]]]]
#
# Defaults: 4000 connections x 700 segments, 4 per mille loss, seed 1 (about 4.4 million packets,
# ~450 MB). Environment:
#   BENCH_PACKETS=N        approximate packet count wanted; chooses N_CONNECTIONS from a small
#                          calibration capture with the same SEGMENTS/LOSS/SEED (overridden by an
#                          explicit N_CONNECTIONS argument)
#   BENCH_DIR=DIR          where the captures are written (default ${TMPDIR:-/tmp}; never the repo)
#   BENCH_RESULTS=FILE     results file (default bench/RESULTS.md)
#   BENCH_REPEAT=K         runs per measurement, the fastest is reported (default 1)
#   BENCH_SKIP_BIG=1       only the fixtures;  BENCH_SKIP_FIXTURES=1  only the synthetic capture
#   BENCH_LONG_CONNS=N     connections of the long capture (default 100000; 0 skips it): N short
#                          connections (8 segments) starting every 10 ms, so most are finished
#                          while the capture is read; measures --format jsonl streaming
#   BENCH_NO_BUILD=1       use the already built binaries
# Peer tools that are missing (tshark, tcptrace) are skipped with a note.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SEGS=${2:-700}
LOSS=${3:-4}
SEED=${4:-1}
DEFAULT_CONNS=4000
REPEAT=${BENCH_REPEAT:-1}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}}
TIME=/usr/bin/time
TIME_FMT='%e s %M KB'

die() { echo "compare.sh: $*" >&2; exit 2; }
note() { echo "compare.sh: $*" >&2; }

for v in "$SEGS" "$LOSS" "$SEED" "$REPEAT"; do
    [[ $v =~ ^[0-9]+$ ]] || die "not a number: $v"
done
[[ -n ${1:-} && ! $1 =~ ^[0-9]+$ ]] && die "not a number: $1"
[[ -n ${BENCH_PACKETS:-} && ! $BENCH_PACKETS =~ ^[0-9]+$ ]] && die "BENCH_PACKETS not a number: $BENCH_PACKETS"
[[ -x $TIME ]] || die "$TIME (GNU time) is needed for wall time and max RSS"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
case "$DIR/" in
    "$(pwd -P)/"*) die "BENCH_DIR/TMPDIR $DIR is inside the repository; captures must not go there" ;;
esac

# ---------------------------------------------------------------- build
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    note "building release binary and example"
    cargo build --release --quiet
    cargo build --release --quiet --example synth_capture
fi
AUDIT=$ROOT/target/release/tcpflow-audit
SYNTH=$ROOT/target/release/examples/synth_capture
[[ -x $AUDIT ]] || die "$AUDIT missing"
[[ -x $SYNTH ]] || die "$SYNTH missing"

TSHARK=$(command -v tshark || true)
TCPTRACE=$(command -v tcptrace || true)
NOTES=()
[[ -n $TSHARK ]] || NOTES+=("tshark not found: its rows are skipped")
[[ -n $TCPTRACE ]] || NOTES+=("tcptrace not found: its rows are skipped")

WORK=$(mktemp -d "$DIR/tcpflow-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- measuring
# measure LABEL CMD... : runs CMD (stdout to /dev/null) under GNU time REPEAT times; sets
# M_WALL (fastest wall seconds), M_RSS (KB, of that run), M_RC (exit status), M_ERR (stderr file).
M_WALL= M_RSS= M_RC= M_ERR=
measure() {
    local label=$1; shift
    local best= rss= rc=0 i
    M_ERR=$WORK/err.$RANDOM
    for ((i = 0; i < REPEAT || i == 0; i++)); do
        note "  $label (run $((i + 1))/$((REPEAT > 0 ? REPEAT : 1)))"
        if "$TIME" -f "$TIME_FMT" -o "$WORK/time" -- "$@" > /dev/null 2> "$M_ERR"; then rc=0; else rc=$?; fi
        local line wall kb
        line=$(tail -n 1 "$WORK/time")
        wall=${line%% s *}
        kb=${line#* s }; kb=${kb% KB}
        if [[ -z $best ]] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a < b)}'; then
            best=$wall rss=$kb
        fi
    done
    M_WALL=$best M_RSS=$rss M_RC=$rc
    if [[ $rc -ne 0 ]]; then
        note "  $label exited with status $rc; stderr:"
        head -n 5 "$M_ERR" >&2 || true
    fi
}

# Rows of one table: tool, command, wall, rss_kb, rc, extra, separated by US (0x1f).
US=$'\x1f'
ROWS=()
add_row() { ROWS+=("$1$US$2$US$M_WALL$US$M_RSS$US$M_RC$US${3:-}"); }

fmt_mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 == 0) print "n/a"; else printf "%.2fx", a / b }'; }

# print_table TITLE : markdown table of ROWS, ratios against the first row (tcpflow-audit json).
print_table() {
    local base_wall base_rss r tool cmd wall rss rc extra
    IFS=$US read -r _ _ base_wall base_rss _ _ <<< "${ROWS[0]}"
    echo "| tool | command | wall s | max RSS MiB | wall / tcpflow-audit | RSS / tcpflow-audit | exit | notes |"
    echo "|---|---|---:|---:|---:|---:|---:|---|"
    for r in "${ROWS[@]}"; do
        IFS=$US read -r tool cmd wall rss rc extra <<< "$r"
        cmd=${cmd//|/\\|}
        echo "| $tool | \`$cmd\` | $wall | $(fmt_mib "$rss") | $(ratio "$wall" "$base_wall") | $(ratio "$rss" "$base_rss") | $rc | $extra |"
    done
}

# run_suite DISPLAY_NAME FILES... : the five measurements on one capture or (several files) on
# all of them in a loop; the time is the total, RSS the largest single process.
run_suite() {
    local name=$1; shift
    local files=("$@") q
    ROWS=()
    if [[ ${#files[@]} -eq 1 ]]; then
        local f=${files[0]}
        measure "tcpflow-audit json" "$AUDIT" --format json "$f"
        add_row tcpflow-audit "tcpflow-audit --format json $name > /dev/null"
        measure "tcpflow-audit table" "$AUDIT" "$f"
        add_row tcpflow-audit "tcpflow-audit $name > /dev/null"
        if [[ -n $TSHARK ]]; then
            measure "tshark conv,tcp" "$TSHARK" -r "$f" -q -z conv,tcp
            add_row tshark "tshark -r $name -q -z conv,tcp > /dev/null"
            printf -v q '%q' "$f"
            measure "tshark retransmissions" bash -c "set -o pipefail; $TSHARK -r $q -Y tcp.analysis.retransmission -T fields -e frame.number 2>/dev/null | wc -l > $WORK/retx"
            add_row tshark "tshark -r $name -Y tcp.analysis.retransmission -T fields -e frame.number | wc -l" "$(tr -d ' ' < "$WORK/retx") retransmissions"
        fi
        if [[ -n $TCPTRACE ]]; then
            measure "tcptrace -l" "$TCPTRACE" -l "$f"
            add_row tcptrace "tcptrace -l $name > /dev/null"
        fi
    else
        local list
        printf -v list '%q ' "${files[@]}"
        measure "tcpflow-audit json (loop)" bash -c "for f in $list; do $AUDIT --format json \"\$f\" > /dev/null; done"
        add_row tcpflow-audit "for f in $name; do tcpflow-audit --format json \$f > /dev/null; done"
        measure "tcpflow-audit table (loop)" bash -c "for f in $list; do $AUDIT \"\$f\" > /dev/null; done"
        add_row tcpflow-audit "for f in $name; do tcpflow-audit \$f > /dev/null; done"
        if [[ -n $TSHARK ]]; then
            measure "tshark conv,tcp (loop)" bash -c "for f in $list; do $TSHARK -r \"\$f\" -q -z conv,tcp > /dev/null 2>&1; done"
            add_row tshark "for f in $name; do tshark -r \$f -q -z conv,tcp > /dev/null; done"
            measure "tshark retransmissions (loop)" bash -c "for f in $list; do $TSHARK -r \"\$f\" -Y tcp.analysis.retransmission -T fields -e frame.number 2>/dev/null; done | wc -l > $WORK/retx"
            add_row tshark "for f in $name; do tshark -r \$f -Y tcp.analysis.retransmission -T fields -e frame.number; done | wc -l" "$(tr -d ' ' < "$WORK/retx") retransmissions"
        fi
        if [[ -n $TCPTRACE ]]; then
            measure "tcptrace -l (loop)" bash -c "for f in $list; do $TCPTRACE -l \"\$f\" > /dev/null 2>&1; done"
            add_row tcptrace "for f in $name; do tcptrace -l \$f > /dev/null; done"
        fi
    fi
}

# ---------------------------------------------------------------- captures
SMALL=$WORK/synth_small.pcap
note "sanity check: 3 connections"
"$SYNTH" "$SMALL" 3 "$SEGS" "$LOSS" "$SEED" 2> "$WORK/small.gen"
SMALL_GEN=$(cat "$WORK/small.gen")
SMALL_LOSSES=$(sed -n 's/.*injected_losses=\([0-9]*\).*/\1/p' "$WORK/small.gen")
SANITY="generator: $SMALL_GEN"$'\n'
if command -v jq > /dev/null; then
    "$AUDIT" --format json "$SMALL" > "$WORK/small.json"
    SANITY+="tcpflow-audit --format json: $(jq -r '"connections=\(.connections | length) outcomes=\([.connections[].outcome] | unique | join(",")) retransmissions=\([.connections[] | .client.retransmissions + .server.retransmissions] | add) fast=\([.connections[].client.fast_retransmissions] | add) per_connection=\([.connections[].client.retransmissions] | map(tostring) | join("+"))"' "$WORK/small.json")"$'\n'
    SMALL_RETX=$(jq '[.connections[] | .client.retransmissions + .server.retransmissions] | add' "$WORK/small.json")
    if [[ $SMALL_RETX == "$SMALL_LOSSES" ]]; then
        SANITY+="injected losses ($SMALL_LOSSES) = retransmissions counted by tcpflow-audit ($SMALL_RETX)"$'\n'
    else
        SANITY+="MISMATCH: injected losses $SMALL_LOSSES, tcpflow-audit counted $SMALL_RETX retransmissions"$'\n'
    fi
else
    SANITY+="jq not found: JSON check skipped"$'\n'
fi
if [[ -n $TSHARK ]]; then
    tshark_err=$("$TSHARK" -r "$SMALL" -q -z expert 2>&1 > "$WORK/small.expert" | grep -v 'Running as user' || true)
    SANITY+="tshark -q -z expert: $(grep -E '^(Errors|Warns|Notes|Chats) \(' "$WORK/small.expert" | tr '\n' ' ')stderr: ${tshark_err:-none}"$'\n'
fi
printf '%s' "$SANITY" >&2

if [[ -n ${1:-} ]]; then
    CONNS=$1
elif [[ -n ${BENCH_PACKETS:-} ]]; then
    "$SYNTH" "$WORK/calib.pcap" 200 "$SEGS" "$LOSS" "$SEED" 2> "$WORK/calib.gen"
    per=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$WORK/calib.gen")
    CONNS=$(awk -v p="$BENCH_PACKETS" -v per="$per" 'BEGIN{n = int(p * 200 / per + 0.5); print (n < 1 ? 1 : n)}')
    note "BENCH_PACKETS=$BENCH_PACKETS: $((per / 200)) packets per connection -> $CONNS connections"
else
    CONNS=$DEFAULT_CONNS
fi

BIG=$DIR/tcpflow-audit-synth-c${CONNS}-s${SEGS}-l${LOSS}-seed${SEED}.pcap
if [[ -z ${BENCH_SKIP_BIG:-} ]]; then
    if [[ -s $BIG && -s $BIG.gen ]]; then
        note "reusing $BIG"
    else
        note "generating $BIG"
        "$SYNTH" "$BIG.tmp" "$CONNS" "$SEGS" "$LOSS" "$SEED" 2> "$BIG.gen.tmp"
        mv "$BIG.tmp" "$BIG"
        mv "$BIG.gen.tmp" "$BIG.gen"
    fi
    BIG_GEN=$(cat "$BIG.gen")
    BIG_BYTES=$(stat -c %s "$BIG")
    BIG_PACKETS=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$BIG.gen")
    BIG_LOSSES=$(sed -n 's/.*injected_losses=\([0-9]*\).*/\1/p' "$BIG.gen")
    note "warming the page cache"
    cat "$BIG" > /dev/null
    note "big capture: $BIG_PACKETS packets, $BIG_BYTES bytes"
    run_suite "BIG.pcap" "$BIG"
    BIG_TABLE=$(print_table)
    # Untimed: what tcpflow-audit counted on the big capture.
    if command -v jq > /dev/null; then
        BIG_COUNTS=$("$AUDIT" --format json "$BIG" | jq -r '"packets=\(.capture.packets) connections=\(.connections | length) outcomes=\([.connections[].outcome] | group_by(.) | map("\(.[0]):\(length)") | join(",")) retransmissions=\([.connections[] | .client.retransmissions + .server.retransmissions] | add) fast=\([.connections[].client.fast_retransmissions] | add) server_dup_acks=\([.connections[].server.dup_acks] | add)"')
    else
        BIG_COUNTS="(jq not found)"
    fi
fi

LONG_CONNS=${BENCH_LONG_CONNS:-100000}
[[ $LONG_CONNS =~ ^[0-9]+$ ]] || die "BENCH_LONG_CONNS not a number: $LONG_CONNS"
if [[ $LONG_CONNS -gt 0 ]]; then
    LONG=$DIR/tcpflow-audit-synth-long-c${LONG_CONNS}-s8-l0-seed${SEED}-gap10000.pcap
    if [[ -s $LONG && -s $LONG.gen ]]; then
        note "reusing $LONG"
    else
        note "generating $LONG"
        "$SYNTH" "$LONG.tmp" "$LONG_CONNS" 8 0 "$SEED" 10000 2> "$LONG.gen.tmp"
        mv "$LONG.tmp" "$LONG"
        mv "$LONG.gen.tmp" "$LONG.gen"
    fi
    LONG_GEN=$(cat "$LONG.gen")
    LONG_BYTES=$(stat -c %s "$LONG")
    LONG_PACKETS=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' "$LONG.gen")
    cat "$LONG" > /dev/null
    ROWS=()
    measure "tcpflow-audit json (long)" "$AUDIT" --format json "$LONG"
    add_row tcpflow-audit "tcpflow-audit --format json LONG.pcap > /dev/null"
    measure "tcpflow-audit jsonl (long)" "$AUDIT" --format jsonl "$LONG"
    add_row tcpflow-audit "tcpflow-audit --format jsonl LONG.pcap > /dev/null" "lines written as connections finish"
    printf -v q '%q' "$LONG"
    measure "tcpflow-audit jsonl | head -1 (long)" bash -c "$AUDIT --format jsonl $q | head -n 1 > /dev/null"
    add_row tcpflow-audit "tcpflow-audit --format jsonl LONG.pcap | head -n 1" "time to the first line; the reader stops when the pipe closes"
    measure "tcpflow-audit table (long)" "$AUDIT" "$LONG"
    add_row tcpflow-audit "tcpflow-audit LONG.pcap > /dev/null"
    if [[ -n $TSHARK ]]; then
        measure "tshark conv,tcp (long)" "$TSHARK" -r "$LONG" -q -z conv,tcp
        add_row tshark "tshark -r LONG.pcap -q -z conv,tcp > /dev/null"
    fi
    if [[ -n $TCPTRACE ]]; then
        measure "tcptrace -l (long)" "$TCPTRACE" -l "$LONG"
        add_row tcptrace "tcptrace -l LONG.pcap > /dev/null"
    fi
    LONG_TABLE=$(print_table)
fi

if [[ -z ${BENCH_SKIP_FIXTURES:-} ]]; then
    shopt -s nullglob
    FIX=(fixtures/kernel/*.pcap*)
    shopt -u nullglob
    if [[ ${#FIX[@]} -eq 0 ]]; then
        NOTES+=("no fixtures/kernel/*.pcap* files: fixture run skipped")
    else
        FIX_BYTES=$(cat "${FIX[@]}" | wc -c)
        FIX_PACKETS=$(for f in "${FIX[@]}"; do "$AUDIT" --format json "$f" 2> /dev/null | jq '.capture.packets' 2> /dev/null || true; done | awk '{s += $1} END {print s + 0}')
        note "fixtures: ${#FIX[@]} files"
        run_suite "fixtures/kernel/*.pcap*" "${FIX[@]/#/$ROOT/}"
        FIX_TABLE=$(print_table)
    fi
fi

# ---------------------------------------------------------------- report
ver() { "$@" 2>&1 | grep -v 'Running as user' | head -n 1; }
{
    echo "# tcpflow-audit benchmark"
    echo
    echo "Written by \`bench/compare.sh\` $(date -u '+%Y-%m-%d %H:%M:%S UTC'). Wall time is the fastest of $REPEAT run(s)"
    echo "(\`$TIME -f '$TIME_FMT'\`), max RSS is that run's peak resident set (for a loop or a pipeline: the"
    echo "largest single process). Ratios are against \`tcpflow-audit --format json\` (first row); above 1 means"
    echo "slower / more memory than tcpflow-audit. Page cache warm (the file was read once before)."
    echo
    echo "## Machine"
    echo
    echo '```'
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu 2> /dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
    echo "kernel: $(uname -srm)"
    free -g
    echo '```'
    echo
    echo "## Versions"
    echo
    echo '```'
    echo "$("$AUDIT" --version) (git $(git rev-parse --short HEAD 2> /dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml 2> /dev/null || echo ', src modified in the working tree'))"
    echo "$(rustc -V)"
    [[ -n $TSHARK ]] && ver "$TSHARK" --version
    [[ -n $TCPTRACE ]] && ver "$TCPTRACE" -v | sed 's/^Version: //'
    echo '```'
    for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo; echo "Note: $n"; done
    echo
    echo "## Sanity check of the generator (3 connections, same segments/loss/seed)"
    echo
    echo '```'
    printf '%s' "$SANITY"
    echo '```'
    if [[ -n ${BIG_TABLE:-} ]]; then
        echo
        echo "## Synthetic capture: $BIG_PACKETS packets, $CONNS connections"
        echo
        echo "\`BIG.pcap\` = \`$BIG\` ($(awk -v b="$BIG_BYTES" 'BEGIN{printf "%.0f MB", b / 1e6}'), snaplen 96), made by"
        echo
        echo "    cargo run --release --example synth_capture -- BIG.pcap $CONNS $SEGS $LOSS $SEED"
        echo "    # $BIG_GEN"
        echo
        echo "$BIG_TABLE"
        echo
        echo "tcpflow-audit counts on BIG.pcap (untimed run): $BIG_COUNTS; injected losses: $BIG_LOSSES."
    fi
    if [[ -n ${LONG_TABLE:-} ]]; then
        echo
        echo "## Long capture: $LONG_PACKETS packets, $LONG_CONNS short connections over $((LONG_CONNS / 100)) s"
        echo
        echo "\`LONG.pcap\` = \`$LONG\` ($(awk -v b="$LONG_BYTES" 'BEGIN{printf "%.0f MB", b / 1e6}')), made by"
        echo
        echo "    cargo run --release --example synth_capture -- LONG.pcap $LONG_CONNS 8 0 $SEED 10000"
        echo "    # $LONG_GEN"
        echo
        echo "A connection is finished 60 s after it closed, so about 6000 are held at a time; \`--format jsonl\`"
        echo "writes and drops each one then, the other formats keep all of them for the report."
        echo
        echo "$LONG_TABLE"
    fi
    if [[ -n ${FIX_TABLE:-} ]]; then
        echo
        echo "## Kernel fixtures: ${#FIX[@]} files, $FIX_PACKETS packets, $(awk -v b="$FIX_BYTES" 'BEGIN{printf "%.1f MB", b / 1e6}') on disk (some gzip)"
        echo
        echo "Each tool run once per file in a shell loop; wall time is the total."
        echo
        echo "$FIX_TABLE"
    fi
    echo
    echo "Exact commands: the \`command\` column, each prefixed with \`$TIME -f '$TIME_FMT'\` (loops and"
    echo "pipelines run as \`$TIME -f '$TIME_FMT' bash -c '...'\`); binaries: \`$AUDIT\`,"
    echo "\`${TSHARK:-tshark (missing)}\`, \`${TCPTRACE:-tcptrace (missing)}\`."
} > "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"

echo
[[ -n ${BIG_TABLE:-} ]] && { echo "Synthetic capture ($BIG_PACKETS packets, $BIG):"; echo "$BIG_TABLE"; echo "tcpflow-audit counted: $BIG_COUNTS; injected losses: $BIG_LOSSES"; echo; }
[[ -n ${LONG_TABLE:-} ]] && { echo "Long capture ($LONG_PACKETS packets, $LONG):"; echo "$LONG_TABLE"; echo; }
[[ -n ${FIX_TABLE:-} ]] && { echo "Kernel fixtures (${#FIX[@]} files, total):"; echo "$FIX_TABLE"; echo; }
echo "Results written to $RESULTS"
