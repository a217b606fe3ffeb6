// Partition of the trees' presorted rank lists (Heads/PresortedSplitSearch.swift, fits of at most 64 rows). Swift has no
// spelling for AVX-512's byte compress (VPCOMPRESSB, AVX512-VBMI2) or bit shuffle (VPSHUFBITQMB, AVX512-BITALG), so
// the partition lives here: each feature's list (at most 64 one-byte row ids, in rank order) is split into the rows of
// the left child and the others with one bit lookup and two compresses. Machines without those units take the plain
// loop below it (the same output, byte for byte).
#ifndef CRANK_LISTS_H
#define CRANK_LISTS_H

#include <stdint.h>

/// 1 when this CPU and OS run the byte-compress path (AVX512-F/BW/VBMI2/BITALG with the zmm state enabled), else 0.
int carcinoma_rank_lists_have_compress(void);

/// For features [firstFeature, endFeature): feature f's list, the `count` row ids (each < 64) at parent + f * parentStride,
/// is split into the ids whose bit is set in leftMask, in their order, at left + f * leftStride, and the others, in
/// their order, at right + f * rightStride. useCompress 1 takes the AVX-512 path when the CPU has it (0: the plain loop).
/// The plain loop writes one byte past the end of each output list: give each list a stride of at least its length + 1.
/// Threads may partition disjoint feature ranges into the same outputs at once. count <= 64.
void carcinoma_partition_rank_lists(const uint8_t *parent, long parentStride, long count, long firstFeature, long endFeature,
                                    uint64_t leftMask, uint8_t *left, long leftStride, uint8_t *right, long rightStride,
                                    int useCompress);

#endif
