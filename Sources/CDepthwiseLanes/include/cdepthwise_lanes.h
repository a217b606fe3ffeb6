// Transposes between channel planes and channel lanes for the depthwise kernel with channels in the vector lanes
// (NeuralKernels/DepthwiseChannelLanes.swift). Swift's SIMD types have no shuffle that compiles to the in-register
// 16x16 / 8x8 transposes (element-wise lane moves became scalar inserts), so they live here: AVX-512F for 16 lanes,
// AVX for 8, chosen at run time from the CPU's features (carcinoma_lanes_vector_unit), and a plain loop beside them
// for any other lane count or machine. Every path moves the same floats: the result does not depend on the path.
#ifndef CDEPTHWISE_LANES_H
#define CDEPTHWISE_LANES_H

/// 2 when this CPU and OS run AVX-512F (zmm state enabled), 1 for AVX (ymm state enabled), else 0.
int carcinoma_lanes_vector_unit(void);

/// Planes into lanes: destination[(p / width · destinationRowStride + p % width) · lanes + l] = rows[l][p] for every
/// pixel p < count whose column p % width is below `columns` (the others are not written), and every lane l < lanes:
/// rows[l] for l < rowCount, 0 for the lanes past it. `unit` is carcinoma_lanes_vector_unit's answer.
void carcinoma_lanes_gather(long lanes, const float *const *rows, long rowCount, long count, long width, long columns,
                            long destinationRowStride, float *destination, int unit);

/// Lanes into planes: rows[l][p] = source[p · lanes + l] for p < count and l < rowCount (nothing else is written).
void carcinoma_lanes_scatter(long lanes, const float *source, long count, float *const *rows, long rowCount, int unit);

// The module's other header, named here too: a build directory whose module cache predates it then rebuilds the module
// (clang tracks the headers a module read, not new files in its umbrella directory).
#include "cdepthwise_bands.h"

#endif
