// Partition of presorted rank lists (see include/crank_lists.h). Intel 64 and IA-32 Architectures Software Developer's
// Manual, vol. 2: VPCOMPRESSB (AVX512_VBMI2), VPSHUFBITQMB (AVX512_BITALG); CPUID leaf 7 and XGETBV for their presence.
// The partition of sorted lists into a node's children is LightGBM's DataPartition (Ke et al. 2017) on each feature's
// presorted rows, as the exact greedy splitters of XGBoost and scikit-learn keep them.
#include "crank_lists.h"

// The plain loop: every id is written to both outputs and only its own side's position advances (no branch).
static void partition_plain(const uint8_t *parent, long parentStride, long count, long firstFeature, long endFeature,
                            uint64_t leftMask, uint8_t *left, long leftStride, uint8_t *right, long rightStride) {
    for (long f = firstFeature; f < endFeature; f++) {
        const uint8_t *source = parent + f * parentStride;
        uint8_t *l = left + f * leftStride, *r = right + f * rightStride;
        long nl = 0, nr = 0;
        for (long k = 0; k < count; k++) {
            uint8_t id = source[k];
            long bit = (long)((leftMask >> (id & 63)) & 1);
            l[nl] = id;
            r[nr] = id;
            nl += bit;
            nr += 1 - bit;
        }
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

#define COMPRESS_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi2,avx512bitalg")))

int carcinoma_rank_lists_have_compress(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;   // OSXSAVE
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6) != 0xE6) return 0;   // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int f = (b >> 16) & 1, bw = (b >> 30) & 1, vbmi2 = (c >> 6) & 1, bitalg = (c >> 12) & 1;
    return f && bw && vbmi2 && bitalg;
}

COMPRESS_TARGET
static void partition_compress(const uint8_t *parent, long parentStride, long count, long firstFeature, long endFeature,
                               uint64_t leftMask, uint8_t *left, long leftStride, uint8_t *right, long rightStride) {
    const __mmask64 valid = count >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << count) - 1);
    const __m512i members = _mm512_set1_epi64((long long)leftMask);
    for (long f = firstFeature; f < endFeature; f++) {
        __m512i ids = _mm512_maskz_loadu_epi8(valid, parent + f * parentStride);
        // Bit (id & 63) of leftMask for every byte (each qword of `members` is the mask).
        __mmask64 goesLeft = _mm512_bitshuffle_epi64_mask(members, ids) & valid;
        __mmask64 goesRight = valid & ~goesLeft;
        int leftCount = __builtin_popcountll(goesLeft), rightCount = __builtin_popcountll(goesRight);
        __mmask64 leftBytes = leftCount >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << leftCount) - 1);
        __mmask64 rightBytes = rightCount >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rightCount) - 1);
        _mm512_mask_storeu_epi8(left + f * leftStride, leftBytes, _mm512_maskz_compress_epi8(goesLeft, ids));
        _mm512_mask_storeu_epi8(right + f * rightStride, rightBytes, _mm512_maskz_compress_epi8(goesRight, ids));
    }
}

void carcinoma_partition_rank_lists(const uint8_t *parent, long parentStride, long count, long firstFeature, long endFeature,
                                    uint64_t leftMask, uint8_t *left, long leftStride, uint8_t *right, long rightStride,
                                    int useCompress) {
    static int haveCompress = -1;
    if (haveCompress < 0) haveCompress = carcinoma_rank_lists_have_compress();   // idempotent: a race writes the same value
    if (useCompress && haveCompress && count <= 64) {
        partition_compress(parent, parentStride, count, firstFeature, endFeature, leftMask, left, leftStride, right, rightStride);
    } else {
        partition_plain(parent, parentStride, count, firstFeature, endFeature, leftMask, left, leftStride, right, rightStride);
    }
}

#else

int carcinoma_rank_lists_have_compress(void) { return 0; }

void carcinoma_partition_rank_lists(const uint8_t *parent, long parentStride, long count, long firstFeature, long endFeature,
                                    uint64_t leftMask, uint8_t *left, long leftStride, uint8_t *right, long rightStride,
                                    int useCompress) {
    (void)useCompress;
    partition_plain(parent, parentStride, count, firstFeature, endFeature, leftMask, left, leftStride, right, rightStride);
}

#endif
