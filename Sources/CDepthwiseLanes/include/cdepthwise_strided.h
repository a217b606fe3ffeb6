// A depthwise convolution at stride 2 (both ways) read straight from unpadded input rows, for the bands of an
// inverted bottleneck (NeuralKernels/InvertedBottleneck.swift) on AVX-512F: the 16 inputs of a tap are the even or
// odd floats of 32 consecutive ones (one two-register permute), so no zero-padded phase planes are built. Swift's
// SIMD types have no such permute that survives inlining (their truncating conversions became scalar shuffles).
#ifndef CDEPTHWISE_STRIDED_H
#define CDEPTHWISE_STRIDED_H

/// output[r · outputWidth + ox] = bias + Σ over ky, kx < window, in that order, of kernel[ky · window + kx] ·
/// in(2 · oy - padTop + ky, 2 · ox - padLeft + kx), for oy = firstOutputRow + r, r < outputRows, ox < outputWidth:
/// one multiply and one add per tap (never fused), in(iy, ix) = rows[(iy - top) · width + ix] for top ≤ iy < bottom
/// and 0 ≤ ix < width, 0 elsewhere (padding). Nothing outside those rows is read. Only on a CPU whose
/// carcinoma_lanes_vector_unit() is 2 (AVX-512F); window is 3 or 5.
void carcinoma_depthwise_stride2(const float *rows, long top, long bottom, long width, long padTop, long padLeft,
                                 long window, const float *kernel, float bias, long firstOutputRow, long outputRows,
                                 long outputWidth, float *output);

#endif
