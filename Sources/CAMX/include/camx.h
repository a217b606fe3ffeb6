// Intel AMX (Advanced Matrix Extensions) for the opt-in reduced-precision GEMM (NeuralKernels/AMXGemm.swift).
// Swift has no spelling for the tile instructions, so they live here, each function compiled for the AMX and
// AVX-512 instruction sets through a target attribute (the rest of the build stays generic). Call them only on
// a CPU that reports amx_tile, amx_bf16 and avx512f/bw, after carcinoma_amx_request_permission succeeded.
#ifndef CAMX_H
#define CAMX_H

#include <stdint.h>

/// Asks Linux for the AMX tile-data state for this process (arch_prctl ARCH_REQ_XCOMP_PERM, Linux ≥ 5.16);
/// 0 when granted, -1 otherwise (another OS, an older kernel, a hypervisor that hides the state, no x86-64).
int carcinoma_amx_request_permission(void);

/// Packs rows x depth of A (row-major, leading dimension lda) for carcinoma_amx_gemm: panels of 32 rows, each
/// a run of chunks of 32 values along the expanded depth (32 rows x 32 bfloat16 per chunk, row-major); rows past
/// `rows` and the chunk padding are zero. `terms` is 1 (a ≈ bf16(a)) or 3 (depth k expands to 3k, 3k+1, 3k+2 =
/// hi(a), lo(a), hi(a), with hi = bf16(a), lo = bf16(a - hi)). `out` holds ceil(rows/32) * chunks * 1024 values,
/// chunks = ceil(terms * depth / 32).
void carcinoma_amx_pack_a(const float *a, long lda, long rows, long depth, int terms, uint16_t *out);

/// Rows k0 and k0 + 1 of B (k0 even; row1 NULL past the last row), `columns` floats each, into `out`: B[depth x
/// columns] is packed row pair by row pair (as im2col makes them) for carcinoma_amx_gemm in panels of 32 columns,
/// each a run of `chunks` chunks; a chunk is 16 rows of pairs (expanded depth 2i, 2i+1) for 32 columns, 128 bytes a
/// row: columns 0-15 then 16-31, each column's pair adjacent (the VNNI layout TDPBF16PS reads). terms 3 expands depth
/// k to hi(b), hi(b), lo(b), so that the dot product over the expanded depth is hi·hi + lo(a)·hi(b) + hi(a)·lo(b).
/// `out` holds ceil(columns/32) * chunks * 1024 values; columns past `columns` are zero.
void carcinoma_amx_pack_b_rows(const float *row0, const float *row1, long k0, long columns, int terms, long chunks, uint16_t *out);

/// Zeroes the last chunk of every column panel (its padding past the expanded depth; rows then overwrite the rest).
void carcinoma_amx_clear_last_chunks(long columns, long chunks, uint16_t *out);

/// C[32·rowPanels x 32·columnPanels] (+)= A · B over chunks [firstChunk, firstChunk + chunkCount) of the packed
/// operands (a: the first row panel, panelChunks chunks per panel; b: the first column panel, panelChunks chunks
/// per panel). c is float, row-major with leading dimension ldc (a multiple of 16 floats is not required).
/// accumulate 0: C is overwritten. Every product of bfloat16 pairs is summed in float32 by TDPBF16PS.
void carcinoma_amx_gemm(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels, long panelChunks,
                        long firstChunk, long chunkCount, float *c, long ldc, int accumulate);

/// carcinoma_amx_gemm's product on AVX512-BF16 instead of AMX tiles (VDPBF16PS, same packed operands, float32 sums),
/// for the first `rows` rows (from the first row panel) and `columns` columns (from the first column panel): the
/// row groups (of 12, 8 or 4) and 16-column halves wholly past them are not computed (their values in C are to be
/// ignored anyway).
/// Call it only on a CPU that reports avx512f, avx512bw and avx512_bf16.
void carcinoma_bf16_gemm_avx512(const uint16_t *a, long rowPanels, const uint16_t *b, long columnPanels, long panelChunks,
                                long firstChunk, long chunkCount, float *c, long ldc, int accumulate, long rows, long columns);

#endif
