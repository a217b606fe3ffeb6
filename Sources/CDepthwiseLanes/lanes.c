// Transposes between channel planes and channel lanes (see include/cdepthwise_lanes.h). Intel 64 and IA-32
// Architectures Software Developer's Manual, vol. 2: VUNPCKLPS/VUNPCKHPS, VSHUFPS, VSHUFF32X4, VPERM2F128, masked
// loads and stores (VMOVUPS with an opmask, VMASKMOVPS: lanes outside the mask are neither read nor written, so a
// partial block never touches memory past a row); CPUID leaves 1 and 7 and XGETBV for the units' presence.
#include "cdepthwise_lanes.h"

// The plain loops (any lane count, any machine).
static void gather_plain(long lanes, const float *const *rows, long rowCount, long count, long width, long columns,
                         long destinationRowStride, float *destination) {
    for (long p = 0, row = 0, column = 0; p < count; p++) {
        if (column < columns) {
            float *to = destination + (row * destinationRowStride + column) * lanes;
            for (long l = 0; l < lanes; l++) to[l] = l < rowCount ? rows[l][p] : 0.0f;
        }
        if (++column == width) { column = 0; row++; }
    }
}

static void scatter_plain(long lanes, const float *source, long count, float *const *rows, long rowCount) {
    for (long l = 0; l < rowCount; l++) {
        for (long p = 0; p < count; p++) rows[l][p] = source[p * lanes + l];
    }
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>

// Every loop over a block's registers unrolls completely: an index known only at run time would keep the block in
// memory (on the stack) rather than in registers.
#define UNROLL _Pragma("clang loop unroll(full)")

int carcinoma_lanes_vector_unit(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) || !(c & (1u << 28))) return 0;   // OSXSAVE, AVX
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0;                        // XMM and YMM state enabled by the OS
    if ((lo & 0xE6) != 0xE6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 1;   // opmask, ZMM_Hi256, Hi16_ZMM
    return (b >> 16) & 1 ? 2 : 1;                            // AVX512F
}

// r[i] = row i (16 columns) → r[c] = column c (16 rows): 4x4 blocks inside 128-bit lanes (unpack, shuffle), then the
// 128-bit lanes across registers (two rounds of VSHUFF32X4).
__attribute__((target("avx512f")))
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    UNROLL for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    UNROLL for (int i = 0; i < 4; i++) {   // r[4i + j], 128-bit lane k: column 4k + j of rows 4i ... 4i + 3
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    UNROLL for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    }
    UNROLL for (int j = 0; j < 4; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

__attribute__((target("avx512f")))
static void gather16(const float *const *rows, long rowCount, long count, long width, long columns,
                     long destinationRowStride, float *destination) {
    long row = 0, column = 0;
    for (long p = 0; p < count; p += 16) {
        long n = count - p < 16 ? count - p : 16;
        __mmask16 mask = (__mmask16)((1u << n) - 1);
        __m512 r[16];
        if (n == 16) {   // whole blocks load plainly: a masked load costs more on AMD Zen 4 even with every lane set
            UNROLL for (int l = 0; l < 16; l++) r[l] = l < rowCount ? _mm512_loadu_ps(rows[l] + p) : _mm512_setzero_ps();
        } else {
            UNROLL for (int l = 0; l < 16; l++) r[l] = l < rowCount ? _mm512_maskz_loadu_ps(mask, rows[l] + p) : _mm512_setzero_ps();
        }
        transpose16(r);
        UNROLL for (int c = 0; c < 16; c++) {
            if (c < n) {
                if (column < columns) _mm512_storeu_ps(destination + (row * destinationRowStride + column) * 16, r[c]);
                if (++column == width) { column = 0; row++; }
            }
        }
    }
}

__attribute__((target("avx512f")))
static void scatter16(const float *source, long count, float *const *rows, long rowCount) {
    for (long p = 0; p < count; p += 16) {
        long n = count - p < 16 ? count - p : 16;
        __mmask16 mask = (__mmask16)((1u << n) - 1);
        __m512 r[16];
        UNROLL for (int c = 0; c < 16; c++) r[c] = c < n ? _mm512_loadu_ps(source + (p + c) * 16) : _mm512_setzero_ps();
        transpose16(r);
        if (n == 16) {
            UNROLL for (int l = 0; l < 16; l++) if (l < rowCount) _mm512_storeu_ps(rows[l] + p, r[l]);
        } else {
            UNROLL for (int l = 0; l < 16; l++) if (l < rowCount) _mm512_mask_storeu_ps(rows[l] + p, mask, r[l]);
        }
    }
}

// The same for 8 lanes: 4x4 blocks inside 128-bit lanes, then VPERM2F128.
__attribute__((target("avx")))
static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    UNROLL for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    UNROLL for (int i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    UNROLL for (int j = 0; j < 4; j++) {
        t[j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x20);
        t[4 + j] = _mm256_permute2f128_ps(r[j], r[4 + j], 0x31);
    }
    UNROLL for (int i = 0; i < 8; i++) r[i] = t[i];
}

// Lanes 0 ..< n set (n ≤ 8), for VMASKMOVPS: eight -1s then eight 0s, read from 8 - n.
static const int prefixTable[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };

__attribute__((target("avx")))
static void gather8(const float *const *rows, long rowCount, long count, long width, long columns,
                    long destinationRowStride, float *destination) {
    long row = 0, column = 0;
    for (long p = 0; p < count; p += 8) {
        long n = count - p < 8 ? count - p : 8;
        __m256i mask = _mm256_loadu_si256((const __m256i *)(prefixTable + 8 - n));
        __m256 r[8];
        UNROLL for (int l = 0; l < 8; l++) r[l] = l < rowCount ? _mm256_maskload_ps(rows[l] + p, mask) : _mm256_setzero_ps();
        transpose8(r);
        UNROLL for (int c = 0; c < 8; c++) {
            if (c < n) {
                if (column < columns) _mm256_storeu_ps(destination + (row * destinationRowStride + column) * 8, r[c]);
                if (++column == width) { column = 0; row++; }
            }
        }
    }
}

__attribute__((target("avx")))
static void scatter8(const float *source, long count, float *const *rows, long rowCount) {
    for (long p = 0; p < count; p += 8) {
        long n = count - p < 8 ? count - p : 8;
        __m256i mask = _mm256_loadu_si256((const __m256i *)(prefixTable + 8 - n));
        __m256 r[8];
        UNROLL for (int c = 0; c < 8; c++) r[c] = c < n ? _mm256_loadu_ps(source + (p + c) * 8) : _mm256_setzero_ps();
        transpose8(r);
        UNROLL for (int l = 0; l < 8; l++) if (l < rowCount) _mm256_maskstore_ps(rows[l] + p, mask, r[l]);
    }
}

void carcinoma_lanes_gather(long lanes, const float *const *rows, long rowCount, long count, long width, long columns,
                            long destinationRowStride, float *destination, int unit) {
    if (lanes == 16 && unit >= 2) gather16(rows, rowCount, count, width, columns, destinationRowStride, destination);
    else if (lanes == 8 && unit >= 1) gather8(rows, rowCount, count, width, columns, destinationRowStride, destination);
    else gather_plain(lanes, rows, rowCount, count, width, columns, destinationRowStride, destination);
}

void carcinoma_lanes_scatter(long lanes, const float *source, long count, float *const *rows, long rowCount, int unit) {
    if (lanes == 16 && unit >= 2) scatter16(source, count, rows, rowCount);
    else if (lanes == 8 && unit >= 1) scatter8(source, count, rows, rowCount);
    else scatter_plain(lanes, source, count, rows, rowCount);
}

#else
int carcinoma_lanes_vector_unit(void) { return 0; }

void carcinoma_lanes_gather(long lanes, const float *const *rows, long rowCount, long count, long width, long columns,
                            long destinationRowStride, float *destination, int unit) {
    (void)unit;
    gather_plain(lanes, rows, rowCount, count, width, columns, destinationRowStride, destination);
}

void carcinoma_lanes_scatter(long lanes, const float *source, long count, float *const *rows, long rowCount, int unit) {
    (void)unit;
    scatter_plain(lanes, source, count, rows, rowCount);
}
#endif
