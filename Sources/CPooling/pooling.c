// Window pools with a horizontal stride of 2 (see include/cpooling.h). Intel 64 and IA-32 Architectures Software
// Developer's Manual, vol. 2: VMAXPS (the first source when it is greater, else the second: max(tap, value) keeps
// the running value on ties and NaNs, as Pooling.swift's MaximumLanes does), VPERMT2PS (even and odd lanes of two
// registers), VSHUFPS + VPERMPD (the same on 8 lanes), masked loads and stores (VMOVUPS with an opmask, VMASKMOVPS:
// lanes outside the mask are neither read nor written, and their faults are suppressed, so a tile at a row's end
// reads nothing past it).
#include "cpooling.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define INLINE static inline __attribute__((always_inline))
#define TARGET512 __attribute__((target("avx512f")))
#define TARGET2 __attribute__((target("avx2")))

/// How far ahead of the row being pooled the row pass prefetches its input, in bytes: the planes arrive from the
/// previous layer mostly outside the second-level cache (GoogLeNet's 64 x 112 x 112 is 3.2 MB). 8 KB measured 5-15%
/// faster than none on the backbones' pools (4 KB slightly less, 2 KB no better than none), on Emerald Rapids.
#define PREFETCH_AHEAD 8192

/// row + column as an address, without C's pointer arithmetic (column may lie before the row: a masked load reads
/// none of those lanes).
INLINE const float *at(const float *row, long column) { return (const float *)((uintptr_t)row + (uintptr_t)(column * 4)); }

/// The input rows some window reads (a floor-mode pool may leave the last ones out).
INLINE long used_rows(long height, long kernelHeight, long strideY, long padY, long outputHeight) {
    long used = (outputHeight - 1) * strideY - padY + kernelHeight;
    return used < height ? used : height;
}

// ---- AVX-512F, 16 lanes ----

/// The lanes l of a 16-column load from `column` with 0 <= column + l < width.
INLINE unsigned inside16(long column, long width) {
    long low = column < 0 ? -column : 0, high = width - column < 16 ? width - column : 16;
    return high > low ? ((1u << high) - 1) & ~((1u << low) - 1) : 0;
}

/// value ⊕ tap in the lanes of `mask`, value elsewhere: combining the fill instead would leave value as it is (the
/// maximum keeps it; value + 0 is value, as no sum started at +0 is ever -0).
TARGET512 INLINE __m512 combine16(__m512 value, __mmask16 mask, __m512 tap, int sum) {
    return sum ? _mm512_mask_add_ps(value, mask, value, tap) : _mm512_mask_max_ps(value, mask, tap, value);
}

/// Tile t (16 window columns) of the plane's rows [begin, end): tap kx of output lane l is column 32t + 2l - padX + kx,
/// lane l of the even (kx even) or odd (kx odd) half of the 32 columns from 32t - padX + (kx rounded down to even).
/// Those are two loads that read only the columns inside the row (`loads`: per tap pair, two masks); a tap is combined
/// only in the lanes whose column lies inside the row (`taps`: kernelWidth masks). The masks are the same on every
/// row: loaded once for all the rows. Zero-masked loads and merge-masked combines cost no more than plain ones: three
/// shuffles and kernelWidth combines per tile and row.
TARGET512 INLINE void tileRows16(const float *plane, long width, long begin, long end, long padX, long kernelWidth, long t,
                                 const __mmask16 *loads, const __mmask16 *taps, float *rows, long rowLength, __m512 fill, int sum) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const long first = 32 * t - padX;
    for (long y = begin; y < end; y++) {
        const float *input = plane + y * width;
        __m512 value = fill;
        for (long kx = 0; kx < kernelWidth; kx += 2) {
            const __m512 a = _mm512_maskz_loadu_ps(loads[kx], at(input, first + kx));
            const __m512 b = _mm512_maskz_loadu_ps(loads[kx + 1], at(input, first + kx + 16));
            value = combine16(value, taps[kx], _mm512_permutex2var_ps(a, even, b), sum);
            if (kx + 1 < kernelWidth) value = combine16(value, taps[kx + 1], _mm512_permutex2var_ps(a, odd, b), sum);
        }
        _mm512_storeu_ps(rows + y * rowLength + 16 * t, value);
    }
}

/// Output tile from the `count` rows' tiles at top, top + rowLength, … (the window's rows inside the plane), in order,
/// divided by the divisors when there are any; the first `valid` lanes stored.
TARGET512 INLINE void column16(const float *top, long rowLength, long count, long valid, float *out, const float *divisors, int sum) {
    __m512 value = _mm512_loadu_ps(top);
    for (long ky = 1; ky < count; ky++) value = combine16(value, 0xFFFF, _mm512_loadu_ps(top + ky * rowLength), sum);
    const __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    if (divisors) value = _mm512_div_ps(value, _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), mask, divisors));
    _mm512_mask_storeu_ps(out, mask, value);
}

/// The planes: each one's row pass over every input row a window reads, then its column pass. The row pass goes by
/// blocks of 8 rows (a plane one tile wide: all its rows at once), each block tile by tile so that a tile's masks are
/// loaded once per block, with the input PREFETCH_AHEAD bytes on prefetched: 1.2-1.7x faster than row by row on
/// planes two to five tiles wide (GoogLeNet's 56 x 56, Inception's 71 x 71 and 35 x 35), the same on wider ones. The
/// column pass starts from the window's first row inside the plane rather than the fill: a row's value is never NaN
/// (the row pass starts from the fill, and the maximum keeps the running value against a NaN) nor -0 (a sum started
/// at +0), so fill ⊕ row is the row.
TARGET512 INLINE void planes16(const float *input, float *output, long planes, long height, long width,
                               long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                               long outputHeight, long outputWidth, int sum, const float *divisors, float *rows) {
    const long tiles = (outputWidth + 15) / 16, rowLength = 16 * tiles;
    const long used = used_rows(height, kernelHeight, strideY, padY, outputHeight), block = tiles == 1 ? used : 8;
    const __m512 fill = _mm512_set1_ps(sum ? 0.0f : -INFINITY);
    const long pairs = (kernelWidth + 1) / 2;
    __mmask16 loads[2 * pairs * tiles], taps[kernelWidth * tiles];
    for (long t = 0; t < tiles; t++) {
        for (long k = 0; k < 2 * pairs; k++) loads[2 * pairs * t + k] = (__mmask16)inside16(32 * t - padX + 2 * (k / 2) + 16 * (k % 2), width);
        for (long kx = 0; kx < kernelWidth; kx++) {
            unsigned mask = 0;
            for (long l = 0; l < 16; l++) {
                const long column = 32 * t - padX + 2 * l + kx;
                if (column >= 0 && column < width) mask |= 1u << l;
            }
            taps[kernelWidth * t + kx] = (__mmask16)mask;
        }
    }
    for (long p = 0; p < planes; p++) {
        const float *plane = input + p * height * width;
        float *out = output + p * outputHeight * outputWidth;
        for (long begin = 0; begin < used; begin += block) {
            const long end = begin + block < used ? begin + block : used;
            const char *next = (const char *)(plane + begin * width) + PREFETCH_AHEAD;
            for (long c = 0; c < (end - begin) * width * 4; c += 64) _mm_prefetch(next + c, _MM_HINT_T0);   // never faults
            for (long t = 0; t < tiles; t++) {
                const __mmask16 *load = loads + 2 * pairs * t, *tap = taps + kernelWidth * t;
                if (kernelWidth == 3) {   // the backbones' pools: the tap loop unrolled
                    tileRows16(plane, width, begin, end, padX, 3, t, load, tap, rows, rowLength, fill, sum);
                } else {
                    tileRows16(plane, width, begin, end, padX, kernelWidth, t, load, tap, rows, rowLength, fill, sum);
                }
            }
        }
        for (long oy = 0; oy < outputHeight; oy++) {
            const long firstRow = oy * strideY - padY;
            const long begin = firstRow < 0 ? -firstRow : 0, end = height - firstRow < kernelHeight ? height - firstRow : kernelHeight;
            const float *top = rows + (firstRow + begin) * rowLength;
            float *outRow = out + oy * outputWidth;
            const float *divisorRow = divisors ? divisors + oy * outputWidth : 0;
            for (long t = 0; t < tiles; t++) {
                const float *divisorTile = divisorRow ? divisorRow + 16 * t : 0;
                if (end - begin == 3) {   // a whole 3-row window (the backbones' pools away from the edges): unrolled
                    column16(top + 16 * t, rowLength, 3, outputWidth - 16 * t, outRow + 16 * t, divisorTile, sum);
                } else {
                    column16(top + 16 * t, rowLength, end - begin, outputWidth - 16 * t, outRow + 16 * t, divisorTile, sum);
                }
            }
        }
    }
}

TARGET512 static void pool16(const float *input, float *output, long planes, long height, long width,
                             long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                             long outputHeight, long outputWidth, int sum, const float *divisors, float *rows) {
    if (sum) {
        planes16(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
                 outputHeight, outputWidth, 1, divisors, rows);
    } else {
        planes16(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
                 outputHeight, outputWidth, 0, divisors, rows);
    }
}

// ---- AVX2, 8 lanes: the same loops (see the AVX-512F ones), masks as vectors of all-ones lanes ----

/// The lanes l of an 8-column load from `column` with 0 <= column + l < width, as a VMASKMOVPS mask.
TARGET2 INLINE __m256i inside8(long column, long width) {
    const __m256i index = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)column));
    return _mm256_and_si256(_mm256_cmpgt_epi32(index, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), index));
}

/// row[column + l] under `mask`, the fill elsewhere (VMASKMOVPS reads zeros there).
TARGET2 INLINE __m256 load8(const float *row, long column, __m256i mask, __m256 fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(at(row, column), mask), _mm256_castsi256_ps(mask));
}

/// Lanes in order: imm 0x88 the even lanes of a then b (within each 128-bit half), 0xDD the odd ones; VPERMPD 0xD8
/// puts the halves' pairs in order.
#define HALF8(a, b, imm) _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, imm)), 0xD8))

TARGET2 INLINE __m256 combine8(__m256 value, __m256 tap, int sum) {
    return sum ? _mm256_add_ps(value, tap) : _mm256_max_ps(tap, value);
}

/// row16 on 8 lanes; a tile whose loads all lie inside the row (`whole`) loads them plainly (VMASKMOVPS and the blend
/// cost more than the load on AVX2 machines).
TARGET2 INLINE void row8(const float *input, long padX, long kernelWidth, long tiles, const __m256i *masks,
                         const unsigned char *whole, float *row, __m256 fill, int sum) {
    const long pairs = (kernelWidth + 1) / 2;
    for (long t = 0; t < tiles; t++) {
        const long first = 16 * t - padX;
        const __m256i *mask = masks + 2 * pairs * t;
        __m256 value = fill;
        if (whole[t]) {
            for (long kx = 0; kx < kernelWidth; kx += 2) {
                const __m256 a = _mm256_loadu_ps(input + first + kx), b = _mm256_loadu_ps(input + first + kx + 8);
                value = combine8(value, HALF8(a, b, 0x88), sum);
                if (kx + 1 < kernelWidth) value = combine8(value, HALF8(a, b, 0xDD), sum);
            }
        } else {
            for (long kx = 0; kx < kernelWidth; kx += 2) {
                const __m256 a = load8(input, first + kx, mask[kx], fill), b = load8(input, first + kx + 8, mask[kx + 1], fill);
                value = combine8(value, HALF8(a, b, 0x88), sum);
                if (kx + 1 < kernelWidth) value = combine8(value, HALF8(a, b, 0xDD), sum);
            }
        }
        _mm256_storeu_ps(row + 8 * t, value);
    }
}

TARGET2 INLINE void planes8(const float *input, float *output, long planes, long height, long width,
                            long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                            long outputHeight, long outputWidth, int sum, const float *divisors, float *rows) {
    const long tiles = (outputWidth + 7) / 8, rowLength = 8 * tiles;
    const long used = used_rows(height, kernelHeight, strideY, padY, outputHeight);
    const __m256 fill = _mm256_set1_ps(sum ? 0.0f : -INFINITY);
    const long pairs = (kernelWidth + 1) / 2;
    __m256i masks[2 * pairs * tiles];
    unsigned char whole[tiles];
    for (long t = 0; t < tiles; t++) {
        whole[t] = 1;
        for (long k = 0; k < 2 * pairs; k++) {
            masks[2 * pairs * t + k] = inside8(16 * t - padX + 2 * (k / 2) + 8 * (k % 2), width);
            whole[t] &= _mm256_movemask_ps(_mm256_castsi256_ps(masks[2 * pairs * t + k])) == 0xFF;
        }
    }
    for (long p = 0; p < planes; p++) {
        const float *plane = input + p * height * width;
        float *out = output + p * outputHeight * outputWidth;
        for (long y = 0; y < used; y++) {
            const char *next = (const char *)(plane + y * width) + PREFETCH_AHEAD;
            for (long c = 0; c < width * 4; c += 64) _mm_prefetch(next + c, _MM_HINT_T0);
            if (kernelWidth == 3) {
                row8(plane + y * width, padX, 3, tiles, masks, whole, rows + y * rowLength, fill, sum);
            } else {
                row8(plane + y * width, padX, kernelWidth, tiles, masks, whole, rows + y * rowLength, fill, sum);
            }
        }
        for (long oy = 0; oy < outputHeight; oy++) {
            const long firstRow = oy * strideY - padY;
            const long begin = firstRow < 0 ? -firstRow : 0, end = height - firstRow < kernelHeight ? height - firstRow : kernelHeight;
            float *outRow = out + oy * outputWidth;
            for (long t = 0; t < tiles; t++) {
                __m256 value = fill;
                for (long ky = begin; ky < end; ky++) value = combine8(value, _mm256_loadu_ps(rows + (firstRow + ky) * rowLength + 8 * t), sum);
                const long valid = outputWidth - 8 * t;
                const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(valid < 8 ? valid : 8)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                if (divisors) value = _mm256_div_ps(value, _mm256_maskload_ps(divisors + oy * outputWidth + 8 * t, mask));
                _mm256_maskstore_ps(outRow + 8 * t, mask, value);
            }
        }
    }
}

TARGET2 static void pool8(const float *input, float *output, long planes, long height, long width,
                          long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                          long outputHeight, long outputWidth, int sum, const float *divisors, float *rows) {
    if (sum) {
        planes8(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
                outputHeight, outputWidth, 1, divisors, rows);
    } else {
        planes8(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
                outputHeight, outputWidth, 0, divisors, rows);
    }
}

void carcinoma_pool_stride2(const float *input, float *output, long planes, long height, long width,
                            long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                            long outputHeight, long outputWidth, int sum, const float *divisors, float *rows, int unit) {
    if (unit == 2) {
        pool16(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
               outputHeight, outputWidth, sum, divisors, rows);
    } else if (unit == 1) {
        pool8(input, output, planes, height, width, kernelHeight, kernelWidth, strideY, padY, padX,
              outputHeight, outputWidth, sum, divisors, rows);
    }
}

#else

void carcinoma_pool_stride2(const float *input, float *output, long planes, long height, long width,
                            long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                            long outputHeight, long outputWidth, int sum, const float *divisors, float *rows, int unit) {
    (void)input; (void)output; (void)planes; (void)height; (void)width; (void)kernelHeight; (void)kernelWidth;
    (void)strideY; (void)padY; (void)padX; (void)outputHeight; (void)outputWidth; (void)sum; (void)divisors; (void)rows;
    (void)unit;   // never called: the unit is 0 here
}

#endif
