#!/usr/bin/env bash
# Counts the vector-register spills (zmm/ymm loads and stores on the stack) in the packed GEMM's register tiles of a
# built binary: GemmTile, FinishingTile and GemmRowTile (AVX-512), IndirectTile.run (the stems), avx2MicroKernel and
# avx2NarrowKernel (AVX2). Their accumulators are meant to live in registers for the whole k loop; a spill there
# puts a store and a load on every multiply-add's dependency chain (it cost 3-8% of a pass before 4-way unrolling
# was taken out of GemmTile.products). GemmColumnTile (a plane's last few columns, more accumulators and broadcasts
# than registers by design) and the tiles' out-of-line partial stores (which take the sums through memory) are not
# counted.
# Usage: scripts/check_spills.sh [binary]   (default .build/release/carcinoma); exit status 1 when a tile spills.
set -euo pipefail
bin="${1:-.build/release/carcinoma}"
command -v objdump > /dev/null || { echo "check_spills: objdump not found (binutils)"; exit 2; }
listing=$(mktemp)
trap 'rm -f "$listing"' EXIT
objdump -d --no-show-raw-insn "$bin" > "$listing"
# A build for AVX2 only (its GemmTile has no zmm) runs the AVX2 kernels; its AVX-512 tiles are compiled, never called.
awk '
  FNR == NR { if (/^[0-9a-f]+ <.*>:$/) inTile = $2 ~ /GemmTileO8multiply/; else if (inTile && /zmm/) avx512 = 1; next }
  FNR == 1 { tiles = avx512 ? "(GemmTile|FinishingTile|GemmRowTile)O8multiply|IndirectTileO3run|avx2MicroKernel|avx2NarrowKernel" \
                            : "avx2MicroKernel|avx2NarrowKernel" }
  /^[0-9a-f]+ <.*>:$/ { name = $2; tile = name ~ tiles; if (tile) count++ }
  tile && /[xyz]mm[0-9]+/ && /\(%rsp\)/ { spills[name]++; total++ }
  END {
    for (n in spills) print "  " spills[n] " stack accesses in " n
    printf "GEMM register tiles (%s): %d functions, %d vector stack accesses\n", avx512 ? "AVX-512 and AVX2" : "AVX2", count, total
    exit total > 0 }' "$listing" "$listing"
