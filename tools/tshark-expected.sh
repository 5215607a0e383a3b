#!/usr/bin/env bash
# Regenerate fixtures/tshark/*.tsv: Wireshark's TCP analysis flags per frame, the second opinion
# that tests/tshark_diff.rs compares tcpflow-audit against. tshark is a test-time reference only
# (Debian package `tshark`), never a runtime dependency.
#
#   tools/tshark-expected.sh            # fixtures/kernel/*, fixtures/kernel/round2/* and
#                                       # ../shared/captures/**
#
# Output: one file per capture, named after its path (`kernel__x.pcap.tsv`,
# `kernel__round2__x.pcap.tsv`, `shared__zeek__http_get.pcap.tsv`); a header with the tshark version and the capture's SHA-256,
# then `frame<TAB>flag,flag,...` for every frame with at least one tcp.analysis flag.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark not installed (apt-get install tshark)" >&2; exit 2; }
out=fixtures/tshark
mkdir -p "$out"
flags=(retransmission fast_retransmission spurious_retransmission out_of_order duplicate_ack
       lost_segment ack_lost_segment window_update window_full keep_alive keep_alive_ack
       zero_window_probe zero_window_probe_ack zero_window reused_ports)
fields=()
for f in "${flags[@]}"; do fields+=(-e "tcp.analysis.$f"); done
# D-SACK (RFC 2883) is an option flag, not an analysis flag.
flags+=(dsack)
fields+=(-e tcp.options.sack.dsack)
version=$(tshark --version | head -1)

one() {
    local file=$1 name=$2
    {
        echo "# $version"
        echo "# sha256 $(sha256sum "$file" | cut -d' ' -f1)"
        # Two passes (-2) so flags that depend on later frames are settled as in the GUI.
        # Damaged files make tshark exit non-zero after the frames it could read; keep those.
        { tshark -2 -n -r "$file" -Y "tcp.analysis.flags || tcp.options.sack.dsack" -T fields -E separator=/t -e frame.number "${fields[@]}" 2>/dev/null || true; } |
            awk -F'\t' -v names="${flags[*]}" 'BEGIN { split(names, n, " ") }
                { s = ""; for (i = 2; i <= NF; i++) if ($i != "") s = s (s == "" ? "" : ",") n[i-1]; print $1 "\t" s }'
    } > "$out/$name.tsv"
}

for f in fixtures/kernel/*.pcap fixtures/kernel/*.pcap.gz; do
    if [ -e "$f" ]; then one "$f" "kernel__$(basename "$f")"; fi
done
for f in fixtures/kernel/round2/*.pcap fixtures/kernel/round2/*.pcap.gz; do
    if [ -e "$f" ]; then one "$f" "kernel__round2__$(basename "$f")"; fi
done
if [ -d ../shared/captures ]; then
    while IFS= read -r f; do
        rel=${f#../shared/captures/}
        one "$f" "shared__${rel//\//__}"
    done < <(find ../shared/captures -type f -name '*.pcap*' | sort)
fi
echo "wrote $(ls "$out"/*.tsv | wc -l) files to $out"
