// The depthwise band kernel on unpadded rows (see include/cdepthwise_bands.h). Intel 64 and IA-32 Architectures
// Software Developer's Manual, vol. 2: VPERMT2PS (two-register permute: the even or odd floats of 32), VMOVUPS with an
// opmask (lanes outside the mask are neither read nor written, and read as zero: the padding columns).
#include "cdepthwise_bands.h"

// One multiply and one add per tap, never fused: the planes kernel's and the naive twin's arithmetic.
#pragma clang fp contract(off)

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>
#include <stdlib.h>

#define UNROLL _Pragma("clang loop unroll(full)")

// Bit i set where column start + i lies in 0 ..< width.
static inline __mmask16 inside(long start, long width) {
    long low = start < 0 ? -start : 0, high = width - start < 16 ? width - start : 16;
    if (high <= low) return 0;
    return (__mmask16)(((1u << high) - 1u) & ~((1u << low) - 1u));
}

// Lanes 0 ..< count (≥ 1) of v to p. Masked stores are slow on AMD Zen 4 even with every lane set (Lite0's first block
// took 0.35 ms with all its stores masked, 0.30 with plain ones): whole vectors and halves go out unmasked.
__attribute__((target("avx512f"), always_inline))
static inline void storePrefix(float *p, __m512 v, long count) {
    if (count >= 16) { _mm512_storeu_ps(p, v); return; }
    if (count >= 8) {
        _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
        if (count > 8) _mm512_mask_storeu_ps(p + 8, (__mmask16)((1u << (count - 8)) - 1u), _mm512_shuffle_f32x4(v, v, 0x4E));
        return;
    }
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << count) - 1u), v);
}

// Whether a tile whose loads start at column `start` reads inside a row of `width` floats only.
static inline int interior(const int S, const int W, long start, long width) {
    return start >= 0 && start + (S == 2 ? 32 : 16) + W - 1 <= width;
}

// One tile of 16 outputs in each of R consecutive output rows, window W (both compile-time constants once inlined):
// the 2R + W - 2 input rows they read are each loaded and split once, and every product goes to the output rows whose
// window holds that input row, so that each output still adds its taps in (ky, kx) order. row[i] is input row i,
// masks[i][kx / 2 · 2 + h] the load mask of half h (floats 16h ..< 16h + 16) of the 32 floats from column start + kx
// (zero for a row of zeros): tap kx's sixteen inputs are the even (kx even) or odd floats of the 32 from column
// start + kx - kx % 2. `full` (a constant at each call): every row is inside the image and every load inside its row,
// so the loads need no mask.
__attribute__((target("avx512f"), always_inline))
static inline void tile(const int S, const int W, const int R, const int full, const float *const *row,
                        const __mmask16 *const *masks, long start, const float *kernel, float bias, int clamp, float *out,
                        long outputWidth, long count) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 sum[4];
    UNROLL for (int j = 0; j < R; j++) sum[j] = _mm512_set1_ps(bias);
    UNROLL for (int i = 0; i < S * (R - 1) + W; i++) {
        if (S == 1) {
            UNROLL for (int kx = 0; kx < W; kx++) {
                const float *p = row[i] + start + kx;
                const __m512 x = full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(masks[i][kx], p);
                UNROLL for (int j = 0; j < R; j++) {
                    const int ky = i - j;
                    if (ky >= 0 && ky < W) sum[j] = _mm512_add_ps(sum[j], _mm512_mul_ps(_mm512_set1_ps(kernel[ky * W + kx]), x));
                }
            }
            continue;
        }
        UNROLL for (int kx = 0; kx < W; kx += 2) {
            const float *p = row[i] + start + kx;
            const __mmask16 *m = masks[i] + kx;
            const __m512 low = full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m[0], p);
            const __m512 high = full ? _mm512_loadu_ps(p + 16) : _mm512_maskz_loadu_ps(m[1], p + 16);
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
        // Swift's ReLU and ReLU6 (Activation.apply): lanes below 0 become 0, then lanes whose sum was above 6 become 6.
        if (clamp >= 1) sum[j] = _mm512_mask_mov_ps(sum[j], _mm512_cmp_ps_mask(sum[j], _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
        if (clamp == 2) {
            const __m512 six = _mm512_set1_ps(6.0f);
            sum[j] = _mm512_mask_mov_ps(sum[j], _mm512_cmp_ps_mask(sum[j], six, _CMP_GT_OQ), six);
        }
        storePrefix(out + j * outputWidth, sum[j], count);
    }
}

// R output rows from output row oy on, every tile: outputWidth floats of each (a last tile's lanes past them are not
// stored), the rows `stride` floats apart from `out`.
__attribute__((target("avx512f"), always_inline))
static inline void outputRows(const int S, const int W, const int R, const float *rows, long top, long bottom, long width, long padTop,
                              long padLeft, const __mmask16 *masks, const __mmask16 *zeros, long tileCount,
                              const float *kernel, float bias, int clamp, long oy, float *out, long stride, long outputWidth) {
    const float *row[11];
    const __mmask16 *rowMasks[11];
    int allValid = 1;
    UNROLL for (int i = 0; i < S * (R - 1) + W; i++) {
        const long iy = S * oy - padTop + i;
        const int valid = iy >= top && iy < bottom;
        row[i] = rows + (valid ? (iy - top) * width : 0);
        rowMasks[i] = valid ? masks : zeros;
        allValid &= valid;
    }
    for (long t = 0; t < tileCount; t++) {
        const __mmask16 *m[11];
        UNROLL for (int i = 0; i < S * (R - 1) + W; i++) m[i] = rowMasks[i] + t * 6;
        const long start = 16 * S * t - padLeft;
        if (allValid && interior(S, W, start, width)) {
            tile(S, W, R, 1, row, m, start, kernel, bias, clamp, out + 16 * t, stride, outputWidth - 16 * t);
        } else {
            tile(S, W, R, 0, row, m, start, kernel, bias, clamp, out + 16 * t, stride, outputWidth - 16 * t);
        }
    }
}

// The load masks of every tile (6 each: columns inside the row).
static void loadMasks(const int S, long tileCount, long padLeft, long width, __mmask16 *masks) {
    for (long t = 0; t < tileCount; t++) {
        for (long pair = 0; pair < 3; pair++) {
            for (long h = 0; h < 2; h++) {
                // Stride 2: half h of the 32 floats from column 2 · pair; stride 1: the 16 floats from column kx.
                const long column = S == 2 ? 32 * t + 2 * pair + 16 * h : 16 * t + 2 * pair + h;
                masks[t * 6 + 2 * pair + h] = inside(column - padLeft, width);
            }
        }
    }
}

// The load masks of the last row geometry each thread asked for, and as many masks of zeros (rows above or below the
// image): every channel and band of a layer has the same ones, and making them for each call cost ~0.4% of
// EfficientNet-Lite0's pass (its first expanded block: 96 channels in bands of a few rows). The buffers grow to the
// widest row a thread has seen and are kept (12 bytes per 16 output columns; not freed when a thread exits, which the
// worker pool's threads never do).
static _Thread_local struct { int S; long padLeft, width, tileCount, capacity; __mmask16 *masks, *zeros; } maskCache = {
    0, 0, 0, -1, 0, 0, 0 };

static void rowMasks(const int S, long tileCount, long padLeft, long width, const __mmask16 **masks, const __mmask16 **zeros) {
    if (maskCache.S != S || maskCache.padLeft != padLeft || maskCache.width != width || maskCache.tileCount != tileCount) {
        if (tileCount * 6 > maskCache.capacity) {
            free(maskCache.masks);
            free(maskCache.zeros);
            maskCache.capacity = tileCount * 6;
            maskCache.masks = malloc((size_t)maskCache.capacity * sizeof(__mmask16));
            maskCache.zeros = calloc((size_t)maskCache.capacity, sizeof(__mmask16));
            if (!maskCache.masks || !maskCache.zeros) abort();
        }
        loadMasks(S, tileCount, padLeft, width, maskCache.masks);
        maskCache.S = S; maskCache.padLeft = padLeft; maskCache.width = width; maskCache.tileCount = tileCount;
    }
    *masks = maskCache.masks;
    *zeros = maskCache.zeros;
}

__attribute__((target("avx512f"), always_inline))
static inline void band16(const int S, const int W, const float *rows, long top, long bottom, long width, long padTop,
                          long padLeft, const float *kernel, float bias, int clamp, long firstOutputRow, long outputRowCount,
                          long outputWidth, float *output) {
    const long tileCount = (outputWidth + 15) / 16;
    const __mmask16 *masks, *zeros;
    rowMasks(S, tileCount, padLeft, width, &masks, &zeros);
    long r = 0;
    for (; r + 4 <= outputRowCount; r += 4) {
        outputRows(S, W, 4, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias, clamp,
                   firstOutputRow + r, output + r * outputWidth, outputWidth, outputWidth);
    }
    for (; r + 2 <= outputRowCount; r += 2) {
        outputRows(S, W, 2, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias, clamp,
                   firstOutputRow + r, output + r * outputWidth, outputWidth, outputWidth);
    }
    if (r < outputRowCount) {
        outputRows(S, W, 1, rows, top, bottom, width, padTop, padLeft, masks, zeros, tileCount, kernel, bias, clamp,
                   firstOutputRow + r, output + r * outputWidth, outputWidth, outputWidth);
    }
}

// A block without expansion: the depthwise layer (as band16 computes it) for R output rows, channel after channel,
// into scratch (R x channels x the row's tiles), then the 1x1 projection of each output column's channels, as the
// packed GEMM sums it (from zero, one fused multiply-add per input channel in ascending order, then the bias), up to
// 16 output channels at a time in registers.
__attribute__((target("avx512f"), always_inline))
static inline void fused16(const int S, const int W, const float *input, long channels, long height, long width,
                           long padTop, long padLeft, const float *dwKernel, const float *dwBias, int clamp,
                           const float *pwWeight, const float *pwBias, long outChannels, long firstOutputRow,
                           long outputRowCount, long outputHeight, long outputWidth, float *output, float *scratch) {
    const long tileCount = (outputWidth + 15) / 16, plane = height * width, outputPlane = outputHeight * outputWidth;
    const __mmask16 *masks, *zeros;
    rowMasks(S, tileCount, padLeft, width, &masks, &zeros);
    for (long r = 0; r < outputRowCount;) {
        const long oy = firstOutputRow + r, left = outputRowCount - r, R = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        // Channel by channel, every tile of the R rows (each input row read as one stream), into scratch[j][c][x]: rows
        // of whole tiles, `padded` floats, channels · padded apart.
        const long padded = tileCount * 16;
        for (long c = 0; c < channels; c++) {
            const float *rows = input + c * plane, *kernel = dwKernel + c * W * W;
            float *to = scratch + c * padded;
            if (R == 4) {
                outputRows(S, W, 4, rows, 0, height, width, padTop, padLeft, masks, zeros, tileCount, kernel, dwBias[c], clamp,
                           oy, to, channels * padded, padded);
            } else if (R == 2) {
                outputRows(S, W, 2, rows, 0, height, width, padTop, padLeft, masks, zeros, tileCount, kernel, dwBias[c], clamp,
                           oy, to, channels * padded, padded);
            } else {
                outputRows(S, W, 1, rows, 0, height, width, padTop, padLeft, masks, zeros, tileCount, kernel, dwBias[c], clamp,
                           oy, to, channels * padded, padded);
            }
        }
        for (long j = 0; j < R; j++) {
            for (long t = 0; t < tileCount; t++) {
                const long count = outputWidth - 16 * t;
                const float *x = scratch + j * channels * padded + 16 * t;
                float *out = output + (oy + j) * outputWidth + 16 * t;
                for (long o0 = 0; o0 < outChannels; o0 += 16) {
                    const long n = outChannels - o0 < 16 ? outChannels - o0 : 16;
                    __m512 sum[16];
                    UNROLL for (int o = 0; o < 16; o++) sum[o] = _mm512_setzero_ps();
                    const float *w = pwWeight + o0 * channels;
                    if (n == 16) {
                        for (long c = 0; c < channels; c++) {
                            const __m512 v = _mm512_loadu_ps(x + c * padded);
                            UNROLL for (int o = 0; o < 16; o++) sum[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o * channels + c]), v, sum[o]);
                        }
                    } else {
                        for (long c = 0; c < channels; c++) {
                            const __m512 v = _mm512_loadu_ps(x + c * padded);
                            for (long o = 0; o < n; o++) sum[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o * channels + c]), v, sum[o]);
                        }
                    }
                    for (long o = 0; o < n; o++) {
                        const __m512 value = _mm512_add_ps(sum[o], _mm512_set1_ps(pwBias[o0 + o]));
                        storePrefix(out + (o0 + o) * outputPlane, value, count);
                    }
                }
            }
        }
        r += R;
    }
}

#define FUSED(S, W) \
    __attribute__((target("avx512f"))) \
    static void fused16s##S##w##W(const float *input, long channels, long height, long width, long padTop, long padLeft, \
                                  const float *dwKernel, const float *dwBias, int clamp, const float *pwWeight, \
                                  const float *pwBias, long outChannels, long firstOutputRow, long outputRows, \
                                  long outputHeight, long outputWidth, float *output, float *scratch) { \
        fused16(S, W, input, channels, height, width, padTop, padLeft, dwKernel, dwBias, clamp, pwWeight, pwBias, \
                outChannels, firstOutputRow, outputRows, outputHeight, outputWidth, output, scratch); \
    }
FUSED(1, 3)
FUSED(1, 5)
FUSED(2, 3)
FUSED(2, 5)

void carcinoma_depthwise_pointwise(const float *input, long channels, long height, long width, long padTop, long padLeft,
                                   long stride, long window, const float *dwKernel, const float *dwBias, int clamp,
                                   const float *pwWeight, const float *pwBias, long outChannels, long firstOutputRow,
                                   long outputRows, long outputHeight, long outputWidth, float *output, float *scratch) {
    typeof(&fused16s1w3) run = stride == 1 ? (window == 3 ? fused16s1w3 : fused16s1w5) : (window == 3 ? fused16s2w3 : fused16s2w5);
    run(input, channels, height, width, padTop, padLeft, dwKernel, dwBias, clamp, pwWeight, pwBias, outChannels,
        firstOutputRow, outputRows, outputHeight, outputWidth, output, scratch);
}

#define BAND(S, W) \
    __attribute__((target("avx512f"))) \
    static void band16s##S##w##W(const float *rows, long top, long bottom, long width, long padTop, long padLeft, \
                                 const float *kernel, float bias, int clamp, long firstOutputRow, long outputRows, \
                                 long outputWidth, float *output) { \
        band16(S, W, rows, top, bottom, width, padTop, padLeft, kernel, bias, clamp, firstOutputRow, outputRows, outputWidth, \
               output); \
    }
BAND(1, 3)
BAND(1, 5)
BAND(2, 3)
BAND(2, 5)

void carcinoma_depthwise_band(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                              long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                              long outputRows, long outputWidth, float *output) {
    typeof(&band16s1w3) run = stride == 1 ? (window == 3 ? band16s1w3 : band16s1w5) : (window == 3 ? band16s2w3 : band16s2w5);
    run(rows, top, bottom, width, padTop, padLeft, kernel, bias, clamp, firstOutputRow, outputRows, outputWidth, output);
}

#else
void carcinoma_depthwise_band(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                              long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                              long outputRows, long outputWidth, float *output) {
    (void)clamp; (void)rows; (void)top; (void)bottom; (void)width; (void)padTop; (void)padLeft; (void)stride; (void)window; (void)kernel;
    (void)bias; (void)firstOutputRow; (void)outputRows; (void)outputWidth; (void)output;
    __builtin_trap();   // callers check carcinoma_lanes_vector_unit() == 2 first
}

void carcinoma_depthwise_pointwise(const float *input, long channels, long height, long width, long padTop, long padLeft,
                                   long stride, long window, const float *dwKernel, const float *dwBias, int clamp,
                                   const float *pwWeight, const float *pwBias, long outChannels, long firstOutputRow,
                                   long outputRows, long outputHeight, long outputWidth, float *output, float *scratch) {
    (void)input; (void)channels; (void)height; (void)width; (void)padTop; (void)padLeft; (void)stride; (void)window;
    (void)dwKernel; (void)dwBias; (void)clamp; (void)pwWeight; (void)pwBias; (void)outChannels; (void)firstOutputRow;
    (void)outputRows; (void)outputHeight; (void)outputWidth; (void)output; (void)scratch;
    __builtin_trap();   // callers check carcinoma_lanes_vector_unit() == 2 first
}
#endif
