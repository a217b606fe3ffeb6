#!/usr/bin/env bash
# Wall time of `carcinoma extract` per view on a folder (default ../shared/data/oxml), one
# markdown table row per run. Every run starts from an empty cache (--overwrite into a temp folder).
#   scripts/bench_extract.sh BIN [IMAGES] [BACKBONE] [WEIGHTS] [VIEWS...]
# VIEWS are view[:tta] items, default: resize pad native tiles resize:d4
set -euo pipefail
bin="$1"
images="${2:-../shared/data/oxml}"
backbone="${3:-efficientnet_lite0}"
weights="${4:-}"
shift $(( $# < 4 ? $# : 4 ))
views=("$@")
[ ${#views[@]} -eq 0 ] && views=(resize pad native tiles resize:d4)
if [ ! -d "$images" ]; then echo "skipping extraction benchmark: $images not found" >&2; exit 0; fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
threads="${THREADS:-$(nproc)}"
count=$(find "$images" -maxdepth 1 \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) | wc -l)
echo "| backbone | view | TTA | images | threads | wall time (s) | images/s |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for item in "${views[@]}"; do
  view="${item%%:*}"; tta=""; [ "$item" != "$view" ] && tta="${item#*:}"
  args=(extract --images "$images" --backbone "$backbone" --view "$view" --out "$out" --overwrite --quiet --threads "$threads")
  [ -n "$weights" ] && args+=(--weights "$weights")
  [ -n "$tta" ] && args+=(--tta "$tta")
  start=$(date +%s.%N)
  "$bin" "${args[@]}" >/dev/null
  end=$(date +%s.%N)
  seconds=$(echo "$end - $start" | bc -l)
  printf "| %s | %s | %s | %d | %d | %.1f | %.2f |\n" "$backbone" "$view" "${tta:-none}" "$count" "$threads" "$seconds" "$(echo "$count / $seconds" | bc -l)"
done
