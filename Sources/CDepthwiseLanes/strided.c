// The stride-2 depthwise kernel on unpadded rows (see include/cdepthwise_strided.h). Intel 64 and IA-32 Architectures
// Software Developer's Manual, vol. 2: VPERMT2PS (two-register permute: the even or odd floats of 32), VMOVUPS with an
// opmask (lanes outside the mask are neither read nor written, and read as zero: the padding columns).
#include "cdepthwise_strided.h"

// One multiply and one add per tap, never fused: the planes kernel's and the naive twin's arithmetic.
#pragma clang fp contract(off)

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

#define UNROLL _Pragma("clang loop unroll(full)")

// Bit i set where column start + i lies in 0 ..< width.
static inline __mmask16 inside(long start, long width) {
    long low = start < 0 ? -start : 0, high = width - start < 16 ? width - start : 16;
    if (high <= low) return 0;
    return (__mmask16)(((1u << high) - 1u) & ~((1u << low) - 1u));
}

// One tile of 16 outputs in each of R consecutive output rows, window W (both compile-time constants once inlined):
// the 2R + W - 2 input rows they read are each loaded and split once, and every product goes to the output rows whose
// window holds that input row, so that each output still adds its taps in (ky, kx) order. row[i] is input row i,
// masks[i][kx / 2 · 2 + h] the load mask of half h (floats 16h ..< 16h + 16) of the 32 floats from column start + kx
// (zero for a row of zeros): tap kx's sixteen inputs are the even (kx even) or odd floats of the 32 from column
// start + kx - kx % 2.
__attribute__((target("avx512f"), always_inline))
static inline void tile(const int W, const int R, const float *const *row, const __mmask16 *const *masks, long start,
                        const float *kernel, float bias, float *out, long outputWidth, long count) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 sum[4];
    UNROLL for (int j = 0; j < R; j++) sum[j] = _mm512_set1_ps(bias);
    UNROLL for (int i = 0; i < 2 * R + W - 2; i++) {
        UNROLL for (int kx = 0; kx < W; kx += 2) {
            const float *p = row[i] + start + kx;
            const __mmask16 *m = masks[i] + kx;
            const __m512 low = _mm512_maskz_loadu_ps(m[0], p), high = _mm512_maskz_loadu_ps(m[1], p + 16);
            const __m512 x0 = _mm512_permutex2var_ps(low, even, high);
            const __m512 x1 = kx + 1 < W ? _mm512_permutex2var_ps(low, odd, high) : x0;
            UNROLL for (int j = 0; j < R; j++) {
                const int ky = i - 2 * j;
                if (ky < 0 || ky >= W) continue;
                sum[j] = _mm512_add_ps(sum[j], _mm512_mul_ps(_mm512_set1_ps(kernel[ky * W + kx]), x0));
                if (kx + 1 < W) sum[j] = _mm512_add_ps(sum[j], _mm512_mul_ps(_mm512_set1_ps(kernel[ky * W + kx + 1]), x1));
            }
        }
    }
    UNROLL for (int j = 0; j < R; j++) {
        if (count >= 16) _mm512_storeu_ps(out + j * outputWidth, sum[j]);
        else _mm512_mask_storeu_ps(out + j * outputWidth, (__mmask16)((1u << count) - 1u), sum[j]);
    }
}

// R output rows from output row r (of the call) on, every tile.
__attribute__((target("avx512f"), always_inline))
static inline void outputRows(const int W, const int R, const float *rows, long top, long bottom, long width, long padTop,
                              long padLeft, const __mmask16 *masks, const __mmask16 *zeros, long tileCount,
                              const float *kernel, float bias, long oy, float *out, long outputWidth) {
    const float *row[11];
    const __mmask16 *rowMasks[11];
    UNROLL for (int i = 0; i < 2 * R + W - 2; i++) {
        const long iy = 2 * oy - padTop + i;
        const int valid = iy >= top && iy < bottom;
        row[i] = rows + (valid ? (iy - top) * width : 0);
        rowMasks[i] = valid ? masks : zeros;
    }
    for (long t = 0; t < tileCount; t++) {
        const __mmask16 *m[11];
        UNROLL for (int i = 0; i < 2 * R + W - 2; i++) m[i] = rowMasks[i] + t * 6;
        tile(W, R, row, m, 32 * t - padLeft, kernel, bias, out + 16 * t, outputWidth, outputWidth - 16 * t);
    }
}

__attribute__((target("avx512f"), always_inline))
static inline void strided16(const int W, const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                             const float *kernel, float bias, long firstOutputRow, long outputRowCount, long outputWidth,
                             float *output) {
    const long tileCount = (outputWidth + 15) / 16;
    // Load masks per tile (columns inside the row), and zeros for rows above or below the image.
    __mmask16 masks[tileCount * 6], zeros[tileCount * 6];
    for (long t = 0; t < tileCount; t++) {
        for (long pair = 0; pair < 3; pair++) {
            for (long h = 0; h < 2; h++) {
                masks[t * 6 + 2 * pair + h] = inside(32 * t - padLeft + 2 * pair + 16 * h, width);
                zeros[t * 6 + 2 * pair + h] = 0;
            }
        }
    }
    long r = 0;
    for (; r + 4 <= outputRowCount; r += 4) {
        outputRows(W, 4, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias,
                   firstOutputRow + r, output + r * outputWidth, outputWidth);
    }
    for (; r + 2 <= outputRowCount; r += 2) {
        outputRows(W, 2, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias,
                   firstOutputRow + r, output + r * outputWidth, outputWidth);
    }
    if (r < outputRowCount) {
        outputRows(W, 1, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias,
                   firstOutputRow + r, output + r * outputWidth, outputWidth);
    }
}

__attribute__((target("avx512f")))
static void strided16x3(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                        const float *kernel, float bias, long firstOutputRow, long outputRows, long outputWidth, float *output) {
    strided16(3, rows, top, bottom, width, padTop, padLeft, kernel, bias, firstOutputRow, outputRows, outputWidth, output);
}

__attribute__((target("avx512f")))
static void strided16x5(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                        const float *kernel, float bias, long firstOutputRow, long outputRows, long outputWidth, float *output) {
    strided16(5, rows, top, bottom, width, padTop, padLeft, kernel, bias, firstOutputRow, outputRows, outputWidth, output);
}

void carcinoma_depthwise_stride2(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                                 long window, const float *kernel, float bias, long firstOutputRow, long outputRows,
                                 long outputWidth, float *output) {
    if (window == 3) strided16x3(rows, top, bottom, width, padTop, padLeft, kernel, bias, firstOutputRow, outputRows, outputWidth, output);
    else strided16x5(rows, top, bottom, width, padTop, padLeft, kernel, bias, firstOutputRow, outputRows, outputWidth, output);
}

#else
void carcinoma_depthwise_stride2(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                                 long window, const float *kernel, float bias, long firstOutputRow, long outputRows,
                                 long outputWidth, float *output) {
    (void)rows; (void)top; (void)bottom; (void)width; (void)padTop; (void)padLeft; (void)window; (void)kernel;
    (void)bias; (void)firstOutputRow; (void)outputRows; (void)outputWidth; (void)output;
    __builtin_trap();   // callers check carcinoma_lanes_vector_unit() == 2 first
}
#endif
