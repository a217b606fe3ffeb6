// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped convolutions:
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
// (arXiv:1509.09308), section 4.1. Each 2x2 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A
// for the 4x4 input tile d around it, so a tile costs 16 multiplies per (in, out)
// channel pair instead of 36: the 16 element-wise products over channels become 16
// GEMMs, M_k[OC x T] = U_k[OC x IC] · V_k[IC x T] (T = tiles of one image).
//
//   G   = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]        (4 x 3, filter transform)
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   (input transform)
//   A^T = [1 1 1 0; 0 1 -1 -1]                 (2 x 4, output transform)
//
// Its rounding error is a small multiple of direct convolution's (the transforms only
// add, subtract and halve); the tests check it against the naive twin like every kernel.

import Foundation

/// True when conv2d should take the Winograd path: 3x3, stride 1, no dilation, no groups,
/// and enough tiles and channels for the 16 GEMMs to beat one im2col GEMM.
@inline(__always)
func winogradApplies(_ geometry: ConvGeometry, inChannels: Int, outputHeight: Int, outputWidth: Int) -> Bool {
    geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideY == 1 && geometry.strideX == 1
        && geometry.dilationY == 1 && geometry.dilationX == 1 && geometry.groups == 1
        && inChannels >= 16 && ((outputHeight + 1) / 2) * ((outputWidth + 1) / 2) >= 49
}

/// U = G g G^T for every (out, in) pair, stored as 16 matrices U_k[OC x IC].
func winogradFilterTransform(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                             into transformed: UnsafeMutablePointer<Float>, context: KernelContext) {
    let pairs = outChannels * inChannels
    parallelChunks(pairs, context, minimumChunk: 256) { range in
        var t = [Float](repeating: 0, count: 12)
        for pair in range {
            let g = weight + pair * 9
            // t = G g (4 x 3)
            for column in 0..<3 {
                let g0 = g[column], g1 = g[3 + column], g2 = g[6 + column]
                t[column] = g0
                t[3 + column] = 0.5 * (g0 + g1 + g2)
                t[6 + column] = 0.5 * (g0 - g1 + g2)
                t[9 + column] = g2
            }
            // U = t G^T (4 x 4)
            for row in 0..<4 {
                let t0 = t[row * 3], t1 = t[row * 3 + 1], t2 = t[row * 3 + 2]
                let values = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
                transformed[(row * 4 + 0) * pairs + pair] = values.0
                transformed[(row * 4 + 1) * pairs + pair] = values.1
                transformed[(row * 4 + 2) * pairs + pair] = values.2
                transformed[(row * 4 + 3) * pairs + pair] = values.3
            }
        }
    }
}

/// One image: input IC x H x W → output rows (OC of them, each OH x OW, via outputRow),
/// output = activation(conv + bias [+ residual]).
func winogradConvolution(source: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int,
                         filters: UnsafePointer<Float>, outChannels: Int, bias: UnsafePointer<Float>,
                         padTop: Int, padLeft: Int, outputHeight: Int, outputWidth: Int,
                         residual: UnsafePointer<Float>?, activation: Activation,
                         outputRow: (Int) -> UnsafeMutablePointer<Float>,
                         inputTiles: UnsafeMutablePointer<Float>, products: UnsafeMutablePointer<Float>,
                         context: KernelContext) {
    let tilesY = (outputHeight + 1) / 2, tilesX = (outputWidth + 1) / 2, tiles = tilesY * tilesX
    // V_k[IC x T] = (B^T d B)_k for each channel and tile.
    parallelChunks(inChannels, context) { channels in
        var d = [Float](repeating: 0, count: 16), s = [Float](repeating: 0, count: 16)
        for channel in channels {
            let plane = source + channel * height * width
            for ty in 0..<tilesY {
                for tx in 0..<tilesX {
                    let y0 = 2 * ty - padTop, x0 = 2 * tx - padLeft
                    for r in 0..<4 {
                        let y = y0 + r
                        if y < 0 || y >= height { d[r * 4] = 0; d[r * 4 + 1] = 0; d[r * 4 + 2] = 0; d[r * 4 + 3] = 0; continue }
                        let line = plane + y * width
                        for c in 0..<4 {
                            let x = x0 + c
                            d[r * 4 + c] = (x >= 0 && x < width) ? line[x] : 0
                        }
                    }
                    // s = B^T d (rows), then V = s B (columns).
                    for c in 0..<4 {
                        let d0 = d[c], d1 = d[4 + c], d2 = d[8 + c], d3 = d[12 + c]
                        s[c] = d0 - d2; s[4 + c] = d1 + d2; s[8 + c] = d2 - d1; s[12 + c] = d1 - d3
                    }
                    let tile = ty * tilesX + tx
                    let stride = inChannels * tiles, base = channel * tiles + tile
                    for r in 0..<4 {
                        let s0 = s[r * 4], s1 = s[r * 4 + 1], s2 = s[r * 4 + 2], s3 = s[r * 4 + 3]
                        inputTiles[(r * 4 + 0) * stride + base] = s0 - s2
                        inputTiles[(r * 4 + 1) * stride + base] = s1 + s2
                        inputTiles[(r * 4 + 2) * stride + base] = s2 - s1
                        inputTiles[(r * 4 + 3) * stride + base] = s1 - s3
                    }
                }
            }
        }
    }
    // M_k = U_k · V_k, 16 GEMMs of OC x IC x T.
    useBLASThreads(context)
    for k in 0..<16 {
        sgemm(m: outChannels, n: tiles, k: inChannels,
              a: filters + k * outChannels * inChannels, lda: inChannels,
              b: inputTiles + k * inChannels * tiles, ldb: tiles,
              c: products + k * outChannels * tiles, ldc: tiles)
    }
    // Y = A^T M A per tile, cropped at the bottom/right edge, then bias, residual, activation.
    let plane = outputHeight * outputWidth
    parallelChunks(outChannels, context) { channels in
        var t = [Float](repeating: 0, count: 8)
        for channel in channels {
            let output = outputRow(channel)
            let base = products + channel * tiles
            let stride = outChannels * tiles
            for ty in 0..<tilesY {
                for tx in 0..<tilesX {
                    let tile = ty * tilesX + tx
                    // t = A^T M (2 x 4): row 0 in t[0..<4], row 1 in t[4..<8].
                    for c in 0..<4 {
                        let m0 = base[(0 * 4 + c) * stride + tile], m1 = base[(1 * 4 + c) * stride + tile]
                        let m2 = base[(2 * 4 + c) * stride + tile], m3 = base[(3 * 4 + c) * stride + tile]
                        t[c] = m0 + m1 + m2
                        t[4 + c] = m1 - m2 - m3
                    }
                    // Y = t A (2 x 2)
                    let y00 = t[0] + t[1] + t[2], y01 = t[1] - t[2] - t[3]
                    let y10 = t[4] + t[5] + t[6], y11 = t[5] - t[6] - t[7]
                    let oy = 2 * ty, ox = 2 * tx
                    output[oy * outputWidth + ox] = y00
                    if ox + 1 < outputWidth { output[oy * outputWidth + ox + 1] = y01 }
                    if oy + 1 < outputHeight {
                        output[(oy + 1) * outputWidth + ox] = y10
                        if ox + 1 < outputWidth { output[(oy + 1) * outputWidth + ox + 1] = y11 }
                    }
                }
            }
            finishRow(output, count: plane, bias: bias[channel], residual: residual.map { $0 + channel * plane }, activation: activation)
        }
    }
}
