// A depthwise convolution at stride 1 or 2 read straight from unpadded input rows, for the bands of an inverted
// bottleneck (NeuralKernels/InvertedBottleneck.swift) on AVX-512F: at stride 1 a tap of 16 outputs is one unaligned
// load, at stride 2 the even or odd floats of 32 consecutive ones (one two-register permute, which Swift's SIMD types
// cannot spell so that it survives inlining: their truncating conversions became scalar shuffles); masked loads read
// zeros wherever the window leaves the row, so no zero-padded (phase) planes are built.
#ifndef CDEPTHWISE_BANDS_H
#define CDEPTHWISE_BANDS_H

/// output[r · outputWidth + ox] = bias + Σ over ky, kx < window, in that order, of kernel[ky · window + kx] ·
/// in(stride · oy - padTop + ky, stride · ox - padLeft + kx), for oy = firstOutputRow + r, r < outputRows,
/// ox < outputWidth: one multiply and one add per tap (never fused), in(iy, ix) = rows[(iy - top) · width + ix] for
/// top ≤ iy < bottom and 0 ≤ ix < width, 0 elsewhere (padding). Nothing outside those rows is read. Only on a CPU whose
/// carcinoma_lanes_vector_unit() is 2 (AVX-512F); stride is 1 or 2, window 3 or 5. clamp 1 applies ReLU to each
/// output, 2 ReLU6, as Swift's Activation.apply does (sums below 0 become 0, then sums above 6 become 6), 0 nothing.
void carcinoma_depthwise_band(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                              long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                              long outputRows, long outputWidth, float *output);

/// carcinoma_depthwise_band on 8-lane AVX2 vectors (bands8.c): the same outputs, bit for bit. Only on a CPU with AVX2.
void carcinoma_depthwise_band8(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                               long stride, long window, const float *kernel, float bias, int clamp, long firstOutputRow,
                               long outputRows, long outputWidth, float *output);

/// An inverted-bottleneck block without expansion on one image, output rows firstOutputRow ..< + outputRows: the
/// depthwise layer above (rows = input's `channels` planes of height x width, top 0, bottom height; `dwKernel` channel
/// after channel, window² each; `clamp` as above), then the 1x1 projection to `outChannels` channels (pwWeight
/// outChannels x channels, row-major) summed as the packed GEMM sums it: from zero, one fused multiply-add per input
/// channel in ascending order (channels ≤ 256: one depth block), then + pwBias. output: the outChannels planes of
/// outputHeight x outputWidth; scratch: 4 · channels · 16 · ⌈outputWidth / 16⌉ floats. Only where carcinoma_lanes_vector_unit() is 2.
void carcinoma_depthwise_pointwise(const float *input, long channels, long height, long width, long padTop, long padLeft,
                                   long stride, long window, const float *dwKernel, const float *dwBias, int clamp,
                                   const float *pwWeight, const float *pwBias, long outChannels, long firstOutputRow,
                                   long outputRows, long outputHeight, long outputWidth, float *output, float *scratch);

#endif
