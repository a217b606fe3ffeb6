#!/usr/bin/env bash
# Side-by-side benchmarks against the anchors (PyTorch, scikit-learn); grows with each stage.
set -euo pipefail
bin="$1"
# Which processor and which paths: the CPU's model and vector flags, then (from --version) the vector unit
# our kernels use, the packed GEMM's register tile and the core OpenBLAS runs (carcinoma re-executes itself
# with OPENBLAS_CORETYPE set when OpenBLAS picked a generic core; a value already set is left alone).
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512bw|avx512_bf16|avx512_fp16|amx_tile' | tr '\n' ' ')"
echo "OPENBLAS_CORETYPE in the environment: ${OPENBLAS_CORETYPE:-unset}"
"$bin" --version
# Whether the GEMM's register tiles keep their accumulators in registers in this build (scripts/check_spills.sh).
"$(dirname "$0")/check_spills.sh" "$bin" | tail -1 || true
# BENCH_SECTIONS picks what runs (default: all of "backbones memory extract heads").
want() { [[ " ${BENCH_SECTIONS:-backbones memory extract heads} " == *" $1 "* ]]; }

# --- backbones: this engine vs PyTorch eager and ONNX Runtime, same synthetic weights, input and threads ---
# THREADS=2 by default (the anchors' setting); each cell: one warm-up, then the median of >= 5 runs and >= 3 s.
# BACKBONE_CONFIGS overrides the "name size batch" list. BENCH_ROUNDS=N (default 3; 1 for a quick look) runs N - 1 more rounds of ONNX Runtime
# then ours after the first, alternating, and adds a column: the best images/s of each side over its runs, against each
# other (on a shared VM whose speed swings by tens of percent, interference only slows a run down, so the best of a
# few alternating runs is the steadier estimate of each side's speed). With more than one thread, each side also runs
# once on one thread (a last column): on a 2-vCPU VM the host sometimes slows two threads running side by side, unevenly
# for the two engines, and never one (BENCHMARKS.md, session 18); BENCH_ONE_THREAD=0 leaves it out.
# Before every two-thread run of either side, `carcinoma bench cores` measures the round trip of a cache line between
# cores 0 and 1 (a column of its own): ~60 ns where the two share a level-3 cache, several times that where the host
# placed them apart, and then both engines run slower at two threads (BENCHMARKS.md, session 19).
threads="${THREADS:-2}"
python="${PYTHON:-python3}"
here="$(cd "$(dirname "$0")" && pwd)"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
configs="${BACKBONE_CONFIGS:-resnet50:224:1 resnet50:224:8 resnet50:512:1 googlenet:224:1 googlenet:224:8 googlenet:512:1
inception_v3:299:1 inception_v3:299:8 inception_v3:512:1 efficientnet_v2_s:224:1 efficientnet_v2_s:384:1 efficientnet_v2_s:512:1
efficientnet_lite0:224:1 efficientnet_lite0:224:8 efficientnet_lite0:512:1}"
# On a CPU with a bfloat16 unit (AMX or AVX512-BF16), each configuration also runs with the opt-in bfloat16
# convolutions (a second table). Elsewhere grep finds nothing: `|| true`, or pipefail would end the script here.
bf16unit=$("$bin" --version | grep -o "bf16 available on [A-Z0-9-]*" | sed 's/bf16 available on //' || true)
if want backbones; then
"$bin" bench sgemm --size 4096 --threads "$threads" --json | sed 's/^/sgemm /' >> "$results"
"$bin" bench sgemm --size 4096 --threads "$threads" --engine packed --json | sed 's/^/packed /' >> "$results"
# distance SIDE: the cores' round trip now, as a line for the table's "apart" column (nothing on one thread or core).
distance() {
  [ "$threads" -gt 1 ] && [ "$(nproc)" -gt 1 ] || return 0
  printf '%s {"name": "%s", "size": %s, "batch": %s, "cores": %s}\n' "$1" "$name" "$size" "$batch" \
    "$("$bin" bench cores --json 2>/dev/null || echo null)" >> "$results"
}
# One run of ours / of ONNX Runtime on "$threads" threads, its line tagged TAG, the cores' round trip taken just before.
ours_run() {
  distance apart_ours
  "$bin" bench backbone --name "$name" --size "$size" --batch "$batch" --threads "$threads" --json | sed "s/^/$1 /" >> "$results"
}
ort_run() {
  distance apart_ort
  "$python" "$here/bench_backbones.py" --name "$name" --size "$size" --batch "$batch" --threads "$threads" --runtime onnxruntime \
    --json | sed "s/^/$1 /" >> "$results"
}
for config in $configs; do
  IFS=: read -r name size batch <<< "$config"
  ours_run ours
  if [ "$name" = resnet50 ]; then
    "$bin" bench backbone --name "$name" --size "$size" --batch "$batch" --threads "$threads" --no-winograd --json | sed 's/^/gemm /' >> "$results"
  fi
  "$python" "$here/bench_backbones.py" --name "$name" --size "$size" --batch "$batch" --threads "$threads" --json | sed 's/^/torch /' >> "$results"
  ort_run ort
  # Ours once more after the references: the table takes the mean of the two runs that bracket them, so a
  # machine whose speed drifts (a shared VM) biases the ratio less.
  ours_run ours2
  for _ in $(seq 2 "${BENCH_ROUNDS:-3}"); do
    ort_run ortmore
    ours_run oursmore
  done
  if [ "$threads" -gt 1 ] && [ "${BENCH_ONE_THREAD:-1}" != 0 ]; then
    "$bin" bench backbone --name "$name" --size "$size" --batch "$batch" --threads 1 --json | sed 's/^/ours1 /' >> "$results"
    "$python" "$here/bench_backbones.py" --name "$name" --size "$size" --batch "$batch" --threads 1 --runtime onnxruntime --json \
      | sed 's/^/ort1 /' >> "$results"
  fi
  if [ -n "$bf16unit" ]; then
    for precision in bf16x3 bf16; do
      "$bin" bench backbone --name "$name" --size "$size" --batch "$batch" --threads "$threads" --precision "$precision" --json \
        | sed "s/^/$precision /" >> "$results"
    done
  fi
done
BF16_UNIT="$bf16unit" "$python" - "$results" <<'PY'
import json, os, sys
sides = {"ours": {}, "ours2": {}, "gemm": {}, "torch": {}, "ort": {}, "bf16x3": {}, "bf16": {}, "ours1": {}, "ort1": {}}
sgemm = packed = None
# Every run's images/s per side and configuration (BENCH_ROUNDS > 1: the best of each side goes in the last column).
speeds = {"ours": {}, "ort": {}}
# The cores' round trip (ns) before each two-thread run of each side (bench.sh's `distance`).
apart = {"apart_ours": {}, "apart_ort": {}}
for line in open(sys.argv[1]):
    side, payload = line.split(" ", 1)
    row = json.loads(payload)
    if side in apart:
        if row["cores"]:
            apart[side].setdefault((row["name"], row["size"], row["batch"]), []).append(row["cores"]["round_trip_nanoseconds"])
        continue
    if side == "sgemm":
        sgemm = row
        continue
    if side == "packed":
        packed = row
        continue
    key = (row["name"], row["size"], row["batch"])
    family = {"ours2": "ours", "oursmore": "ours", "ortmore": "ort"}.get(side, side)
    if family in speeds:
        speeds[family].setdefault(key, []).append(row["images_per_second"])
    if side in sides:
        sides[side][key] = row
rounds = max((len(v) for v in speeds["ort"].values()), default=1)
ours, gemm, torch, ort = sides["ours"], sides["gemm"], sides["torch"], sides["ort"]
for key, second in sides["ours2"].items():   # the mean of the runs before and after the references
    first = ours[key]
    for field in ("images_per_second", "cpu_seconds_per_image"):
        first[field] = (first[field] + second[field]) / 2
print(f"\nOpenBLAS sgemm 4096^2 (core {sgemm['kernel']}), {sgemm['threads']} threads: {sgemm['gflop_per_second']:.1f} GFLOP/s; "
      f"our packed-weight GEMM (the convolutions' kernel, {packed['kernel']} tile) {packed['gflop_per_second']:.1f} GFLOP/s "
      f"({packed['gflop_per_second'] / sgemm['gflop_per_second']:.2f}x)")
print(f"torch {next(iter(torch.values()))['torch']}, {sgemm['threads']} threads, synthetic weights, our GEMM tile "
      f"{next(iter(ours.values()))['gemm_kernel']}; images/s (effective GFLOP/s; % of sgemm); CPU ms/img = processor time "
      f"of a pass per image, all threads (ONNX Runtime's spinning threads included); ours = the mean of a run before and "
      f"one after the references\n")
def versus(a, b):   # one side's images/s against the other's, as a table cell
    return f" {a:.2f} / {b:.2f} ({a / b:.2f}) |"
best_header, best_rule = (f" best of {rounds} alternating: ours / ORT (ratio) |", "---|") if rounds > 1 else ("", "")
one_header, one_rule = (" one thread: ours / ORT (ratio) |", "---|") if sides["ort1"] else ("", "")
# Round trips more than twice the table's shortest are marked: the host had placed the two vCPUs apart for that run.
nearest = min((ns for side in apart.values() for runs in side.values() for ns in runs), default=None)
apart_header, apart_rule = (" cores' round trip before each run, ns: ours / ORT |", "---|") if nearest else ("", "")
def trips(runs):
    return " ".join(f"**{ns:.0f}**" if ns > 2 * nearest else f"{ns:.0f}" for ns in runs) or "—"
print("| model | input | batch | GFLOP/img | ours | ours, no Winograd | torch | ONNX Runtime | ours/torch | ours/ORT | CPU ms/img ours / ORT |"
      + best_header + one_header + apart_header)
print("|---|---|---|---|---|---|---|---|---|---|---|" + best_rule + one_rule + apart_rule)
for key, mine in ours.items():
    gflop = torch[key]["gflop_per_image"]
    def cell(row):
        if row is None:
            return "—"
        rate = row["images_per_second"] * gflop
        return f"{row['images_per_second']:.2f} ({rate:.0f}; {100 * rate / sgemm['gflop_per_second']:.0f}%)"
    def cpu(row, other):
        theirs = f"{1000 * other['cpu_seconds_per_image']:.1f}" if other else "—"
        return f"{1000 * row['cpu_seconds_per_image']:.1f} / {theirs}"
    def ratio(other):
        return f"{mine['images_per_second'] / other['images_per_second']:.2f}" if other else "—"
    best = ""
    if rounds > 1 and speeds["ort"].get(key):
        best = versus(max(speeds["ours"][key]), max(speeds["ort"][key]))
    one = ""
    if one_header:
        a, b = sides["ours1"].get(key), sides["ort1"].get(key)
        one = versus(a["images_per_second"], b["images_per_second"]) if a and b else " — |"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {gflop:.2f} | {cell(mine)} | {cell(gemm.get(key))} | {cell(torch[key])} | "
          f"{cell(ort.get(key))} | **{ratio(torch[key])}** | {ratio(ort.get(key))} | {cpu(mine, ort.get(key))} |" + best + one
          + (f" {trips(apart['apart_ours'].get(key, []))} / {trips(apart['apart_ort'].get(key, []))} |" if apart_header else ""))
if apart_header:
    print(f"\nThe last column: the round trip of a cache line between cores 0 and 1 (`carcinoma bench cores`) just before each "
          f"two-thread run, ours then ORT's in run order; bold where more than twice the table's shortest ({nearest:.0f} ns), "
          "i.e. the two vCPUs did not share a level-3 cache then and both engines' two-thread speed drops (BENCHMARKS.md, session 19).")
if sides["bf16x3"]:
    print(f"\nThe opt-in bfloat16 convolutions on {os.environ.get('BF16_UNIT', 'AMX')} (`--precision`; bf16x3: three bfloat16 products per float32 one, "
          "embeddings within a cosine of 0.9999999 of float32; bf16: one, ~0.9997), images/s, beside float32 and ONNX Runtime "
          "(float32)\n")
    print("| model | input | batch | ours fp32 | ours bf16x3 | ours bf16 | ONNX Runtime | bf16x3/fp32 | bf16/fp32 | bf16x3/ORT | bf16/ORT |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, mine in ours.items():
        x3, b1, theirs = sides["bf16x3"].get(key), sides["bf16"].get(key), ort.get(key)
        def speed(row):
            return f"{row['images_per_second']:.2f}" if row else "—"
        def over(row, base):
            return f"{row['images_per_second'] / base['images_per_second']:.2f}" if row and base else "—"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {speed(mine)} | {speed(x3)} | {speed(b1)} | {speed(theirs)} | "
              f"{over(x3, mine)} | {over(b1, mine)} | {over(x3, theirs)} | {over(b1, theirs)} |")
PY
fi

# --- peak memory: one ResNet-50 pass at 896x896 (native resolution), whole-process maximum RSS ---
if want memory && [ -x /usr/bin/time ]; then
  ours_kb=$(/usr/bin/time -f "%M" "$bin" bench backbone --name resnet50 --size 896 --batch 1 --threads "$threads" --single-pass 2>&1 >/dev/null | tail -1)
  torch_kb=$(/usr/bin/time -f "%M" "$python" "$here/bench_backbones.py" --name resnet50 --size 896 --batch 1 --threads "$threads" --single-pass 2>&1 >/dev/null | tail -1)
  echo
  echo "| peak memory, resnet50 896x896 batch 1 | ours | torch | ours/torch |"
  echo "|---|---|---|---|"
  echo "| maximum resident set (MiB) | $((ours_kb / 1024)) | $((torch_kb / 1024)) | $(awk "BEGIN { printf \"%.2f\", $ours_kb / $torch_kb }") |"
fi

# --- extract: ours vs the PyTorch eager reference of the same pipeline, per backbone and view ---
# First EXTRACT_IMAGES (24) images of ../shared/data/oxml copied to a temp folder, views resize,
# native and tiles (EXTRACT_VIEWS), every backbone (EXTRACT_BACKBONES); Lite0 with its real weights,
# the torchvision backbones with synthetic weights (see scripts/bench_extract_compare.sh). The rows of
# both sides are checked against each other (1e-4 relative L2): a disagreement is marked in the table
# and makes `make bench` exit with status 2 after the heads have run.
# (skipped when the data is absent; scripts/bench_extract.sh times our views alone)
extract_status=0
if want extract; then
  THREADS="$threads" PYTHON="$python" "$here/bench_extract_compare.sh" "$bin" || extract_status=$?
  [ "$extract_status" -eq 0 ] || [ "$extract_status" -eq 2 ] || exit "$extract_status"
fi

# --- heads: fit + predict of every head vs scikit-learn (and XGBoost / LightGBM) on the same 8 folds ---
# breast cancer (569 x 30), digits (1797 x 64, 10 classes: tile-level size; scikit-learn's one-vs-rest GP takes
# more than an hour of CPU there) and an embedding-shaped make_classification (62 x 2048, classes 44/9/9). HEADS_DATASETS
# (comma-separated) runs a subset, e.g. HEADS_DATASETS=breast_cancer,embedding_62x2048 for a quick pass. Each reference
# gets HEADS_REFERENCE_BUDGET wall seconds per data set (default 900; 0 = none); one still running then is stopped and
# its row reads "> N" (seconds used so far) and "< r" (our ratio against that lower bound).
if want heads; then
  OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" "$python" "$here/bench_heads.py" --bin "$bin" --markdown \
    ${HEADS_DATASETS:+--datasets "$HEADS_DATASETS"} ${HEADS_REFERENCE_BUDGET:+--reference-budget "$HEADS_REFERENCE_BUDGET"}
fi
if [ "$extract_status" -ne 0 ]; then echo "make bench: extraction rows DISAGREE with PyTorch (see the extraction table)" >&2; exit "$extract_status"; fi
