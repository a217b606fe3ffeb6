#!/usr/bin/env bash
# Side-by-side benchmarks against the anchors (PyTorch, scikit-learn); grows with each stage.
set -euo pipefail
bin="$1"
"$bin" --version

# --- backbones: this engine vs PyTorch eager, same synthetic weights, input and threads ---
# THREADS=2 by default (the anchors' setting); each row: median of >= 5 runs and >= 3 s.
threads="${THREADS:-2}"
python="${PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"
results="$(mktemp)"
"$bin" bench sgemm --size 4096 --threads "$threads" --json | sed 's/^/sgemm /' >> "$results"
for name in resnet50 googlenet; do
  for config in "224 1" "224 8" "512 1"; do
    set -- $config
    "$bin" bench backbone --name "$name" --size "$1" --batch "$2" --threads "$threads" --json | sed 's/^/ours /' >> "$results"
    "$bin" bench backbone --name "$name" --size "$1" --batch "$2" --threads "$threads" --no-winograd --json | sed 's/^/gemm /' >> "$results"
    "$python" "$here/bench_backbones.py" --name "$name" --size "$1" --batch "$2" --threads "$threads" --json | sed 's/^/torch /' >> "$results"
  done
done
# Inception-V3, EfficientNet-V2-S, EfficientNet-Lite0 at their native sizes (issue 4).
for config in "inception_v3 299 1" "inception_v3 299 8" "efficientnet_v2_s 384 1" "efficientnet_v2_s 384 8" \
              "efficientnet_lite0 224 1" "efficientnet_lite0 224 8"; do
  set -- $config
  "$bin" bench backbone --name "$1" --size "$2" --batch "$3" --threads "$threads" --json | sed 's/^/ours /' >> "$results"
  "$python" "$here/bench_backbones.py" --name "$1" --size "$2" --batch "$3" --threads "$threads" --json | sed 's/^/torch /' >> "$results"
done
"$python" - "$results" <<'PY'
import json, sys
ours, gemm, torch, sgemm = {}, {}, {}, None
for line in open(sys.argv[1]):
    side, payload = line.split(" ", 1)
    row = json.loads(payload)
    if side == "sgemm":
        sgemm = row
        continue
    key = (row["name"], row["size"], row["batch"])
    {"ours": ours, "gemm": gemm, "torch": torch}[side][key] = row
print(f"\nOpenBLAS sgemm 4096^2, {sgemm['threads']} threads: {sgemm['gflop_per_second']:.1f} GFLOP/s")
print(f"torch {next(iter(torch.values()))['torch']}, {sgemm['threads']} threads, synthetic weights, images/s (GFLOP/s; % of sgemm)\n")
print("| model | input | batch | GFLOP/img | ours | ours, no Winograd | torch | ours/torch |")
print("|---|---|---|---|---|---|---|---|")
for key, mine in ours.items():
    theirs = torch[key]
    gflop = theirs["gflop_per_image"]
    def cell(ips):
        rate = ips * gflop
        return f"{ips:.2f} ({rate:.0f}; {100 * rate / sgemm['gflop_per_second']:.0f}%)"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {gflop:.2f} | {cell(mine['images_per_second'])} | "
          f"{cell(gemm[key]['images_per_second']) if key in gemm else '—'} | {cell(theirs['images_per_second'])} | {mine['images_per_second'] / theirs['images_per_second']:.2f} |")
PY
rm -f "$results"

# --- extract: wall time per view on ../shared/data/oxml, EfficientNet-Lite0 real weights ---
# (skipped when the data or weights are absent; BENCHMARKS.md "Extraction" has the measured table)
lite0="${LITE0_WEIGHTS:-../shared/weights/efficientnet-lite0-57934424.pth}"
if [ -d ../shared/data/oxml ] && [ -f "$lite0" ]; then
  THREADS="$threads" "$here/bench_extract.sh" "$bin" ../shared/data/oxml efficientnet_lite0 "$lite0" resize pad native tiles resize:d4
fi

# --- heads: fit + predict of every head vs scikit-learn (and XGBoost / LightGBM) on the same 8 folds ---
# breast cancer (569 x 30) and an embedding-shaped make_classification (62 x 2048, classes 44/9/9).
OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$python" "$here/bench_heads.py" --bin "$bin" --markdown
