#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer under AddressSanitizer: builds the separate package Fuzz/
# (swift build -c release -Xswiftc -sanitize=fuzzer,address), seeds a corpus per target from the
# repository's fixtures and ../shared (kather-mini tiles and labels only; never OxML images), then
# runs each target for FUZZ_SECONDS. Corpora, crash artifacts and logs go to fuzz-work/ (git-ignored);
# corpora are kept between runs, so later and longer runs start where earlier ones stopped.
#
#   scripts/fuzz.sh                      every target, 30 s each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh pickle safetensors     a long run of two targets
#   FUZZ_TIMEOUT=120 nice -n 19 scripts/fuzz.sh    on a busy machine: the per-input timeout is wall
#                                                  time, and a niced process can wait many seconds
#                                                  for a core (default 10 s)
#
# Exit status 1 when any target found a crash, leak, timeout or out-of-memory input; its
# reproducer is fuzz-work/artifacts/<target>/ (replay: Fuzz/.build/release/fuzz-<target> FILE).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}
timeout=${FUZZ_TIMEOUT:-10}
work=${FUZZ_WORK:-$root/fuzz-work}
shared=${SHARED:-$root/../shared}
swift=${SWIFT:-swift}
all_targets="png jpeg safetensors pth pickle npy manifest labels views"
targets=${*:-$all_targets}
flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address)

for target in $targets; do
    echo "building fuzz-$target with libFuzzer + AddressSanitizer"
    (cd "$root/Fuzz" && "$swift" build "${flags[@]}" --product "fuzz-$target" 2>&1 | grep -v "Cannot export local symbol" | tail -3)
    [ -x "$(cd "$root/Fuzz" && "$swift" build "${flags[@]}" --show-bin-path)/fuzz-$target" ] || { echo "fuzz-$target did not build" >&2; exit 2; }
done
bin=$(cd "$root/Fuzz" && "$swift" build "${flags[@]}" --show-bin-path)

# seed TARGET FILE...: copies existing, non-empty files (up to 256 KB) into the target's seed folder.
seed() {
    local target=$1; shift
    mkdir -p "$work/seeds/$target"
    for file in "$@"; do
        [ -f "$file" ] && [ -s "$file" ] && [ "$(stat -c %s "$file")" -le 262144 ] && cp "$file" "$work/seeds/$target/" || true
    done
}

fixtures=$root/Tests/RobustnessTests/Fixtures
rm -rf "$work/seeds"
shopt -s nullglob
seed png "$root"/Tests/ImagingTests/Fixtures/{decode,corrupt}/*.png "$fixtures"/images/*.png \
    $(ls "$shared"/data/kather-mini/images/*.png 2>/dev/null | head -4)
seed jpeg "$root"/Tests/ImagingTests/Fixtures/{decode,corrupt}/*.jpg "$fixtures"/images/*.jpg
seed safetensors "$fixtures"/checkpoints/*.safetensors "$root"/Tests/WeightsTests/Fixtures/*.safetensors
seed pth "$fixtures"/checkpoints/*.pth "$root"/Tests/WeightsTests/Fixtures/*.pth
seed pickle "$fixtures"/checkpoints/pickles/*.pkl
seed npy "$root"/Tests/FeatureStoreTests/Fixtures/*.npy "$fixtures"/tables/*.npy
seed manifest "$fixtures"/tables/*.json "$root"/Tests/FeatureStoreTests/Fixtures/*.json
# views: an image header, then the view byte and the stride byte (see Fuzz/Sources/fuzz-views).
mkdir -p "$work/seeds/views"
for file in "$fixtures"/images/views/*.png "$fixtures"/images/progressive.jpg "$fixtures"/images/cmyk.jpg; do
    [ -f "$file" ] || continue
    for view in 0 1 2 3; do
        { head -c 4096 "$file"; printf "\\$(printf %03o $view)\\000"; } > "$work/seeds/views/$(basename "$file")-$view"
    done
done
seed labels "$fixtures"/tables/*.csv "$root"/demo/kather-mini/labels.csv "$shared"/data/kather-mini/labels.csv

max_len() {
    case $1 in
        png) echo 65536 ;; jpeg) echo 16384 ;; manifest|labels) echo 8192 ;; *) echo 4096 ;;
    esac
}

# Known leak outside this repository (listed in the file), so that LeakSanitizer reports ours only.
export LSAN_OPTIONS="suppressions=$root/Fuzz/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# Extra libFuzzer flags per target. pth: ZIPFoundation leaks ~60 bytes per zip opened (suppressed
# above), and libFuzzer runs a full leak scan after every input that leaks, which slows the zip
# target from ~1000 to ~40 executions per second; the other Weights targets keep leak detection.
extra_flags() {
    case $1 in
        pth) echo "-detect_leaks=0 -dict=$root/Fuzz/dictionaries/pth.dict" ;; *) echo "" ;;
    esac
}

# Scratch files of the targets that parse paths (FuzzSupport.ScratchFile) go to a folder of this
# run, removed on exit however the script ends (a crash of a target, Ctrl-C, kill): the targets
# themselves cannot clean up after an ASan abort. A running target is stopped first.
shm=/dev/shm; [ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$shm/carcinoma-fuzz-run.XXXXXX")
export CARCINOMA_FUZZ_SCRATCH=$scratch
fuzzer_pid=
cleanup() {
    if [ -n "$fuzzer_pid" ]; then kill "$fuzzer_pid" 2>/dev/null || true; wait "$fuzzer_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$work/logs"
summary="$work/summary.txt"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') FUZZ_SECONDS=$seconds FUZZ_TIMEOUT=$timeout; seconds = wall time the target ran" > "$summary"
printf "%-12s %8s %12s %10s %8s  %s\n" target seconds executions "exec/s" corpus result >> "$summary"
failed=0
for target in $targets; do
    corpus="$work/corpus/$target"
    artifacts="$work/artifacts/$target/"
    log="$work/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$work/seeds/$target"
    echo "fuzzing $target for $seconds s"
    status=0
    started=$(date +%s)
    # In the background and waited for, so that an INT/TERM to this script runs the trap at once.
    "$bin/fuzz-$target" "$corpus" "$work/seeds/$target" -max_total_time="$seconds" -timeout="$timeout" \
        -rss_limit_mb=2048 -max_len="$(max_len "$target")" -print_final_stats=1 $(extra_flags "$target") \
        -artifact_prefix="$artifacts" > "$log" 2>&1 &
    fuzzer_pid=$!
    wait "$fuzzer_pid" || status=$?
    fuzzer_pid=
    ran=$(( $(date +%s) - started ))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    files=$(ls "$corpus" | wc -l)
    if [ "$status" -eq 0 ]; then result=clean; else result="FAILED (exit $status, see $log)"; failed=1; fi
    printf "%-12s %8s %12s %10s %8s  %s\n" "$target" "$ran" "${executions:-?}" "${rate:-?}" "$files" "$result" | tee -a "$summary"
done
echo
cat "$summary"
exit $failed
