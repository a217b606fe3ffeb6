#!/usr/bin/env bash
# `carcinoma extract` vs its PyTorch eager reference (scripts/bench_extract_torch.py), side by side in
# one run: for each backbone and view, the same first N images (copied into a temp folder), the same
# weights file, threads and batch; our wall time, the reference's time, speed ratio and the agreement
# of the rows. Prints a markdown table; exits 2 when any row disagrees beyond 1e-4 relative L2.
#   scripts/bench_extract_compare.sh BIN
# Environment (defaults in brackets):
#   EXTRACT_DATA       source folder [../shared/data/oxml] (read only; the subset is copied out)
#   EXTRACT_IMAGES     first N images by sorted file name, 0 = all [24]
#   EXTRACT_BACKBONES  space- or comma-separated [efficientnet_lite0 resnet50 googlenet inception_v3 efficientnet_v2_s]
#   EXTRACT_VIEWS      view[:tta] items [resize native tiles] (pad and resize:d4 work too)
#   EXTRACT_TILE_ARGS  extra tiles options for both sides, e.g. "--min-tissue 0.5 --tile-stride 224" []
#   LITE0_WEIGHTS      [../shared/weights/efficientnet-lite0-57934424.pth] (real weights; the torchvision
#                      backbones get synthetic weights, spec v1, written as safetensors into the temp folder)
#   THREADS [2], BATCH [8], PYTHON [python3]
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
threads="${THREADS:-2}"
batch="${BATCH:-8}"
data="${EXTRACT_DATA:-../shared/data/oxml}"
count="${EXTRACT_IMAGES:-24}"
backbones="${EXTRACT_BACKBONES:-efficientnet_lite0 resnet50 googlenet inception_v3 efficientnet_v2_s}"
backbones="${backbones//,/ }"
views="${EXTRACT_VIEWS:-resize native tiles}"
views="${views//,/ }"
lite0="${LITE0_WEIGHTS:-../shared/weights/efficientnet-lite0-57934424.pth}"
read -r -a tile_args <<< "${EXTRACT_TILE_ARGS:-}"

if [ ! -d "$data" ]; then echo "skipping extraction comparison: $data not found" >&2; exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
images="$work/images"
copied=$("$python" "$here/bench_extract_torch.py" subset "$data" "$count" "$images")
results="$work/results.jsonl"
: > "$results"
status=0

for backbone in $backbones; do
  if [ "$backbone" = efficientnet_lite0 ]; then
    if [ ! -f "$lite0" ]; then echo "skipping efficientnet_lite0: $lite0 not found" >&2; continue; fi
    weights="$lite0"
  else
    weights="$work/weights/$backbone.safetensors"
    "$python" "$here/bench_extract_torch.py" weights --backbone "$backbone" --out "$weights"
  fi
  for item in $views; do
    view="${item%%:*}"; tta=""; [ "$item" != "$view" ] && tta="${item#*:}"
    out="$work/features"
    args=(extract --images "$images" --backbone "$backbone" --weights "$weights" --view "$view" --out "$out"
          --overwrite --quiet --threads "$threads" --batch "$batch")
    reference=(run --images "$images" --backbone "$backbone" --weights "$weights" --view "$view"
               --threads "$threads" --batch "$batch" --json)
    name="$backbone-$view"
    [ -n "$tta" ] && { args+=(--tta "$tta"); reference+=(--tta "$tta"); name="$name-$tta"; }
    [ "$view" = tiles ] && { args+=("${tile_args[@]}"); reference+=("${tile_args[@]}"); }
    start=$(date +%s.%N)
    summary=$("$bin" "${args[@]}" --json) || { echo "carcinoma ${args[*]} failed" >&2; exit 1; }
    end=$(date +%s.%N)
    ours=$(printf '%.3f' "$(echo "$end - $start" | bc -l)")
    summary=$(printf '%s' "$summary" | tr -d '\n')
    line=$("$python" "$here/bench_extract_torch.py" "${reference[@]}" --check "$out/$name.npy") || {
      code=$?; [ "$code" -eq 2 ] || exit "$code"; status=2; }
    echo "{\"ours_seconds\": $ours, \"ours_summary\": $summary, \"torch_run\": $line}" >> "$results"
    "$python" -c 'import json, sys; t = json.loads(sys.argv[2]); a = t.get("agreement", {})
print("extract %s: ours %.1f s, torch %.1f s, rel L2 %.2g%s" % (sys.argv[1], float(sys.argv[3]), t["seconds"],
      a.get("relative_l2", float("nan")), "" if a.get("ok") else " DISAGREE"), file=sys.stderr)' "$name" "$line" "$ours"
    rm -rf "$out"
  done
  rm -f "$work/weights/$backbone.safetensors"
done

"$python" - "$results" "$copied" "$data" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
if not rows:
    sys.exit(0)
first = rows[0]["torch_run"]
print(f"\nExtraction, ours vs PyTorch eager: first {sys.argv[2]} images of {sys.argv[3]}, "
      f"{first['threads']} threads, batch {first['batch']}, torch {first['torch']}")
print("ours = `carcinoma extract` process wall time (weights, hashing, decode, views, network, cache writes), in brackets")
print("its extraction loop alone; torch = bench_extract_torch.py from the built and loaded network to the last row (decode,")
print("views, network, pooling), network share in brackets. Speed ours/torch = torch time / our wall time.\n")
print("| backbone | view | images | network inputs | ours (s) | torch (s) | ours img/s | torch img/s | speed ours/torch | max abs diff | rel L2 (worst row) | min cosine |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in rows:
    t = row["torch_run"]
    a = t.get("agreement", {})
    view = t["view"] + (f" +{t['tta']}" if t.get("tta") else "")
    if t["view"] == "tiles":
        view += f" ({t['tile_stride']}, {t['tile_pool']}" + (f", tissue ≥ {t['min_tissue']:g}" if t["min_tissue"] else "") + ")"
    ours = row["ours_seconds"]
    loop = row["ours_summary"][0]["seconds"]
    if "rows" in a:
        agreement = (f"{a['max_abs_diff']:.2g} | {a['relative_l2']:.2g} ({a['worst_row_relative_l2']:.2g}) | "
                     f"{a['min_cosine']:.7f}" + ("" if a["ok"] else " **DISAGREE**"))
    else:
        agreement = "— | **DISAGREE**: " + "; ".join(a.get("problems", ["not checked"])) + " | —"
    print(f"| {t['backbone']} | {view} | {t['images']} | {t['network_inputs']} | {ours:.1f} ({loop:.1f}) | "
          f"{t['seconds']:.1f} ({t['network_seconds']:.1f}) | {t['images'] / ours:.2f} | {t['images_per_second']:.2f} | "
          f"{t['seconds'] / ours:.2f} | {agreement} |")
PY
if [ "$status" -ne 0 ]; then echo "extraction comparison: PyTorch and carcinoma DISAGREE on at least one row (see above)" >&2; fi
exit "$status"
