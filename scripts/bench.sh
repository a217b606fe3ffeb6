#!/usr/bin/env bash
# Side-by-side benchmarks against the anchors (PyTorch, scikit-learn); grows with each stage.
set -euo pipefail
bin="$1"
"$bin" --version
