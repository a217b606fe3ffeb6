// Window pools with a horizontal stride of 2 (NeuralKernels/Pooling.swift, separablePool): the max pools that halve
// GoogLeNet's, ResNet's and Inception's planes. Swift's SIMD types have no spelling for a masked load (a load whose
// lanes outside a row read nothing) and their even/odd lane shuffles compiled to lane-by-lane inserts where the
// loads overlapped, so the row pass lives here: AVX-512F for 16 lanes, AVX2 for 8, chosen at run time from the
// CPU's features (Pooling.swift, from NeuralKernels' CPUFeatures). Both compute every output with the same operations in the same order
// as Pooling.swift's separablePlanes (the pool of a machine with neither unit): the same bits on every path.
#ifndef CPOOLING_H
#define CPOOLING_H

/// `planes` consecutive planes of height x width in `input` → outputHeight x outputWidth each in `output`, a window of
/// kernelHeight x kernelWidth at strides (strideY, 2), padding (padY, padX) (a ceil-mode window may hang past the
/// bottom or right edge), separably, as separablePlanes does:
///   rows[y][ox] = fill ⊕ input[y][2·ox - padX + 0] ⊕ … ⊕ input[y][2·ox - padX + kernelWidth - 1]   (fill outside the row)
///   output[oy][ox] = fill ⊕ rows[oy·strideY - padY + ky][ox] for the ky whose row lies inside the plane, in order,
/// then divided by divisors[oy · outputWidth + ox] when `divisors` is not null.
/// `sum` 0: ⊕ is the maximum that keeps the running value unless the new one is greater (fill -inf); 1: addition (fill 0).
/// `rows` is scratch of at least min(height, (outputHeight - 1)·strideY - padY + kernelHeight) · rowLength floats,
/// rowLength = outputWidth rounded up to the unit's lanes (16 for unit 2, 8 for unit 1). `unit` is 1 or 2, and the CPU
/// must run AVX2 (1) or AVX-512F (2).
void carcinoma_pool_stride2(const float *input, float *output, long planes, long height, long width,
                            long kernelHeight, long kernelWidth, long strideY, long padY, long padX,
                            long outputHeight, long outputWidth, int sum, const float *divisors, float *rows, int unit);

#endif
