#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET [RUNS] [extra libFuzzer flags...]
# One libFuzzer process (no -jobs/-workers) on corpus-work/TARGET, seeded from corpus/TARGET;
# new inputs land in corpus-work/TARGET, crashes in artifacts/TARGET/. See README.md.
set -euo pipefail
cd "$(dirname "$0")"
target=$1
runs=${2:-10000000}
shift $(( $# < 2 ? $# : 2 ))
case $target in
  sasl) max_len=1024 ;;
  metadata_records) max_len=2048 ;;
  *) max_len=4096 ;;
esac
mkdir -p "corpus-work/$target" "artifacts/$target"
exec "target/x86_64-unknown-linux-gnu/release/$target" \
  -runs="$runs" -max_len="$max_len" -timeout=10 -rss_limit_mb=1536 -malloc_limit_mb=512 \
  -print_final_stats=1 -artifact_prefix="artifacts/$target/" "$@" \
  "corpus-work/$target" "corpus/$target"
