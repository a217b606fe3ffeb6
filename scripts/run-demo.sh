#!/usr/bin/env bash
# The main job on a folder of images: grows with each stage of the pipeline.
set -euo pipefail
bin="$1"; data="$2"; labels="$3"; out="$4"
mkdir -p "$out"
"$bin" --version
