// The depthwise band kernel of bands.c on 8-lane AVX2 vectors (see include/cdepthwise_bands.h): the same sums in the
// same order, tiles of 8 outputs. AVX2 has no opmask: loads that leave the row use VMASKMOVPS (lanes outside the
// mask are not read and read as zero), a last partial tile is stored through a small buffer. Intel 64 and IA-32
// Architectures Software Developer's Manual, vol. 2: VMASKMOVPS, VSHUFPS, VPERMPD.
#include "cdepthwise_bands.h"

// One multiply and one add per tap, never fused: the planes kernel's and the naive twin's arithmetic.
#pragma clang fp contract(off)

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include <string.h>

#define UNROLL _Pragma("clang loop unroll(full)")

// Lanes i of a load from column `start` (8 floats) that lie in 0 ..< width, as a VMASKMOVPS mask.
__attribute__((target("avx2"), always_inline))
static inline __m256i inside8(long start, long width) {
    const __m256i column = _mm256_add_epi32(_mm256_set1_epi32((int)start), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i atLeastZero = _mm256_cmpgt_epi32(column, _mm256_set1_epi32(-1));
    return _mm256_and_si256(atLeastZero, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)width), column));
}

// 8 floats from column `start` of `row` (NULL: a row of zeros), zero where they leave 0 ..< width.
__attribute__((target("avx2"), always_inline))
static inline __m256 load8(const int full, const float *row, long start, long width) {
    if (full) return _mm256_loadu_ps(row + start);
    if (!row) return _mm256_setzero_ps();
    return _mm256_maskload_ps(row + start, inside8(start, width));
}

// The even (odd) floats of the 16 from column `start`: [l0 l2 h0 h2 | l4 l6 h4 h6] by VSHUFPS, then the 64-bit pairs
// into order by VPERMPD.
__attribute__((target("avx2"), always_inline))
static inline __m256 evens(__m256 low, __m256 high) {
    const __m256 t = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}
__attribute__((target("avx2"), always_inline))
static inline __m256 odds(__m256 low, __m256 high) {
    const __m256 t = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

// One tile of 8 outputs in each of R consecutive output rows, window W, stride S (bands.c's `tile` on 8 lanes): the
// S(R - 1) + W input rows are each loaded once per tap column and every product goes to the output rows whose window
// holds that input row, so that each output adds its taps in (ky, kx) order. row[i] is input row i (NULL: zeros).
__attribute__((target("avx2"), always_inline))
static inline void tile8(const int S, const int W, const int R, const int full, const float *const *row, long start,
                         long width, const float *kernel, float bias, int clamp, float *out, long outputWidth, long count) {
    __m256 sum[4];
    UNROLL for (int j = 0; j < R; j++) sum[j] = _mm256_set1_ps(bias);
    UNROLL for (int i = 0; i < S * (R - 1) + W; i++) {
        if (S == 1) {
            UNROLL for (int kx = 0; kx < W; kx++) {
                const __m256 x = load8(full, row[i], start + kx, width);
                UNROLL for (int j = 0; j < R; j++) {
                    const int ky = i - j;
                    if (ky >= 0 && ky < W) sum[j] = _mm256_add_ps(sum[j], _mm256_mul_ps(_mm256_set1_ps(kernel[ky * W + kx]), x));
                }
            }
            continue;
        }
        UNROLL for (int kx = 0; kx < W; kx += 2) {
            const __m256 low = load8(full, row[i], start + kx, width), high = load8(full, row[i], start + kx + 8, width);
            const __m256 x0 = evens(low, high);
            const __m256 x1 = kx + 1 < W ? odds(low, high) : x0;
            UNROLL for (int j = 0; j < R; j++) {
                const int ky = i - 2 * j;
                if (ky < 0 || ky >= W) continue;
                sum[j] = _mm256_add_ps(sum[j], _mm256_mul_ps(_mm256_set1_ps(kernel[ky * W + kx]), x0));
                if (kx + 1 < W) sum[j] = _mm256_add_ps(sum[j], _mm256_mul_ps(_mm256_set1_ps(kernel[ky * W + kx + 1]), x1));
            }
        }
    }
    UNROLL for (int j = 0; j < R; j++) {
        // Swift's ReLU and ReLU6 (Activation.apply): lanes below 0 become 0, then lanes whose sum was above 6 become 6.
        const __m256 zero = _mm256_setzero_ps();
        if (clamp >= 1) sum[j] = _mm256_blendv_ps(sum[j], zero, _mm256_cmp_ps(sum[j], zero, _CMP_LT_OQ));
        if (clamp == 2) {
            const __m256 six = _mm256_set1_ps(6.0f);
            sum[j] = _mm256_blendv_ps(sum[j], six, _mm256_cmp_ps(sum[j], six, _CMP_GT_OQ));
        }
        float *p = out + j * outputWidth;
        if (count >= 8) {
            _mm256_storeu_ps(p, sum[j]);
        } else {
            float lanes[8];
            _mm256_storeu_ps(lanes, sum[j]);
            memcpy(p, lanes, (size_t)count * sizeof(float));
        }
    }
}

// R output rows from output row oy on, every tile (bands.c's outputRows on 8 lanes).
__attribute__((target("avx2"), always_inline))
static inline void outputRows8(const int S, const int W, const int R, const float *rows, long top, long bottom, long width,
                               long padTop, long padLeft, long tileCount, const float *kernel, float bias, int clamp,
                               long oy, float *out, long outputWidth) {
    const float *row[11];
    int allValid = 1;
    UNROLL for (int i = 0; i < S * (R - 1) + W; i++) {
        const long iy = S * oy - padTop + i;
        const int valid = iy >= top && iy < bottom;
        row[i] = valid ? rows + (iy - top) * width : 0;
        allValid &= valid;
    }
    for (long t = 0; t < tileCount; t++) {
        const long start = 8 * S * t - padLeft;
        // Every load of the tile inside its row: columns start ..< start + 8S + W - 1.
        if (allValid && start >= 0 && start + 8 * S + W - 1 <= width) {
            tile8(S, W, R, 1, row, start, width, kernel, bias, clamp, out + 8 * t, outputWidth, outputWidth - 8 * t);
        } else {
            tile8(S, W, R, 0, row, start, width, kernel, bias, clamp, out + 8 * t, outputWidth, outputWidth - 8 * t);
        }
    }
}

__attribute__((target("avx2"), always_inline))
static inline void band8(const int S, const int W, const float *rows, long top, long bottom, long width, long padTop,
                         long padLeft, const float *kernel, float bias, int clamp, long firstOutputRow, long outputRowCount,
                         long outputWidth, float *output) {
    const long tileCount = (outputWidth + 7) / 8;
    long r = 0;
    for (; r + 4 <= outputRowCount; r += 4) {
        outputRows8(S, W, 4, rows, top, bottom, width, padTop, padLeft, tileCount, kernel, bias, clamp, firstOutputRow + r,
                    output + r * outputWidth, outputWidth);
    }
    for (; r + 2 <= outputRowCount; r += 2) {
        outputRows8(S, W, 2, rows, top, bottom, width, padTop, padLeft, tileCount, kernel, bias, clamp, firstOutputRow + r,
                    output + r * outputWidth, outputWidth);
    }
    if (r < outputRowCount) {
        outputRows8(S, W, 1, rows, top, bottom, width, padTop, padLeft, tileCount, kernel, bias, clamp, firstOutputRow + r,
                    output + r * outputWidth, outputWidth);
    }
}

#define BAND8(S, W) \
    __attribute__((target("avx2"))) \
    static void band8s##S##w##W(const float *rows, long top, long bottom, long width, long padTop, long padLeft, \
                                const float *kernel, float bias, int clamp, long firstOutputRow, long outputRows, \
                                long outputWidth, float *output) { \
        band8(S, W, rows, top, bottom, width, padTop, padLeft, kernel, bias, clamp, firstOutputRow, outputRows, outputWidth, \
              output); \
    }
BAND8(1, 3)
BAND8(1, 5)
BAND8(2, 3)
BAND8(2, 5)

void carcinoma_depthwise_band8(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                               long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                               long outputRows, long outputWidth, float *output) {
    typeof(&band8s1w3) run = stride == 1 ? (window == 3 ? band8s1w3 : band8s1w5) : (window == 3 ? band8s2w3 : band8s2w5);
    run(rows, top, bottom, width, padTop, padLeft, kernel, bias, clamp, firstOutputRow, outputRows, outputWidth, output);
}

#else
void carcinoma_depthwise_band8(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                               long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                               long outputRows, long outputWidth, float *output) {
    (void)clamp; (void)rows; (void)top; (void)bottom; (void)width; (void)padTop; (void)padLeft; (void)stride; (void)window;
    (void)kernel; (void)bias; (void)firstOutputRow; (void)outputRows; (void)outputWidth; (void)output;
    __builtin_trap();   // callers check the CPU's avx2 flag first (NeuralKernels' bandKernelWindow)
}
#endif
