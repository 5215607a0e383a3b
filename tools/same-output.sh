#!/usr/bin/env bash
# Proves that a change meant to keep output the same did: runs two builds of tcpflow-audit over every
# format (table, --timeline, json, jsonl, csv, time-wait) on every trace in fixtures/kernel and every
# capture in ../shared/captures, and compares stdout, stderr and exit codes byte for byte.
#
#   tools/same-output.sh OLD_BINARY NEW_BINARY [EXTRA_ARGS...]
#
# Exits 0 and prints "identical: N runs" when every run matches, else lists the runs that differ.
set -uo pipefail
old=$1 new=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t captures < <( { ls "$here"/fixtures/kernel/*.pcap* 2>/dev/null
  find "$here/../shared/captures" -type f ! -name '*.md' ! -name '*.tsv' ! -name SHA256SUMS 2>/dev/null; } | sort)
runs=0 diffs=0
for cap in "${captures[@]}"; do
  for fmt in "table" "table --timeline" "json" "jsonl" "csv" "time-wait"; do
    case $fmt in
      time-wait) args=(time-wait) ;;
      *) args=(--format $fmt) ;;
    esac
    for bin in old new; do
      exe=$old; [ $bin = new ] && exe=$new
      "$exe" "${args[@]}" "$@" "$cap" >"$work/$bin.out" 2>"$work/$bin.err"
      echo $? >>"$work/$bin.err"
    done
    runs=$((runs + 1))
    if ! cmp -s "$work/old.out" "$work/new.out" || ! cmp -s "$work/old.err" "$work/new.err"; then
      diffs=$((diffs + 1))
      echo "differs: ${args[*]} $* $cap"
      diff <(cat "$work/old.out" "$work/old.err") <(cat "$work/new.out" "$work/new.err") | head -8
    fi
  done
done
if [ $diffs -eq 0 ]; then echo "identical: $runs runs on ${#captures[@]} captures"; else echo "$diffs of $runs runs differ"; exit 1; fi
