// Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped convolutions:
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
// (arXiv:1509.09308), section 4.1. Each 2x2 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A
// for the 4x4 input tile d around it, so a tile costs 16 multiplies per (in, out)
// channel pair instead of 36: the 16 element-wise products over channels become 16
// GEMMs, M_k[OC x T] = U_k[OC x IC] · V_k[IC x T]. T is a block of whole tile rows
// of one image, sized so V and M stay in cache: each worker transforms its block's input,
// runs the 16 GEMMs and transforms the products back before moving on (no image-sized
// buffers, no second pass over memory). The filters U are transformed once per layer.
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
func winogradApplies(_ geometry: ConvGeometry, inChannels: Int, outChannels: Int, outputHeight: Int, outputWidth: Int) -> Bool {
    geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideY == 1 && geometry.strideX == 1
        && geometry.dilationY == 1 && geometry.dilationX == 1 && geometry.groups == 1
        && inChannels >= 16 && outChannels >= 16 && ((outputHeight + 1) / 2) * ((outputWidth + 1) / 2) >= 49
}

/// U = G g G^T for every (out, in) pair, as 16 matrices U_k[OC x IC] (16 · OC · IC floats).
func winogradFilterTransform(_ weight: [Float], outChannels: Int, inChannels: Int) -> [Float] {
    let pairs = outChannels * inChannels
    precondition(weight.count == pairs * 9, "Winograd needs 3x3 filters")
    var transformed = uninitialisedFloats(16 * pairs)
    weight.withUnsafeBufferPointer { weightBuffer in
    transformed.withUnsafeMutableBufferPointer { buffer in
        let out = buffer.baseAddress!
        for pair in 0..<pairs {
            let g = weightBuffer.baseAddress! + pair * 9
            // t = G g (4 x 3), one SIMD4 per column of g.
            let g0 = SIMD4<Float>(g[0], g[1], g[2], 0), g1 = SIMD4<Float>(g[3], g[4], g[5], 0), g2 = SIMD4<Float>(g[6], g[7], g[8], 0)
            let rows = [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
            // U = t G^T (4 x 4)
            for row in 0..<4 {
                let t0 = rows[row][0], t1 = rows[row][1], t2 = rows[row][2]
                out[(row * 4 + 0) * pairs + pair] = t0
                out[(row * 4 + 1) * pairs + pair] = 0.5 * (t0 + t1 + t2)
                out[(row * 4 + 2) * pairs + pair] = 0.5 * (t0 - t1 + t2)
                out[(row * 4 + 3) * pairs + pair] = t2
            }
        }
    } }
    return transformed
}

/// The whole convolution: pieces of tile rows of every image, spread over the workers.
/// output = activation(conv + bias [+ residual]); filters are U from winogradFilterTransform.
func winogradConvolution(_ problem: ConvolutionProblem, filters: UnsafePointer<Float>) {
    useSingleThreadedBLAS()
    let inChannels = problem.inChannels, outChannels = problem.outChannels
    let tilesY = (problem.outputHeight + 1) / 2, tilesX = (problem.outputWidth + 1) / 2
    // A block of V (16 x IC x T) and M (16 x OC x T) in about 768 KiB, but at least 64 tiles for the GEMMs;
    // an even number of blocks per image when there is more than one. Blocks depend on the shape only.
    let targetTiles = max(64, min(512, 12_288 / (inChannels + outChannels)))
    var pieces = max(1, (tilesY * tilesX + targetTiles / 2) / targetTiles)
    if pieces > 1 { pieces += pieces % 2 }
    let rowsPerPiece = (tilesY + pieces - 1) / pieces
    pieces = (tilesY + rowsPerPiece - 1) / rowsPerPiece
    let blockTiles = rowsPerPiece * tilesX
    func tileRows(_ piece: Int) -> Range<Int> { min(tilesY, piece * rowsPerPiece)..<min(tilesY, (piece + 1) * rowsPerPiece) }

    if problem.batch * pieces >= problem.context.threadCount {
        // Enough blocks: each worker takes whole blocks with buffers of its own.
        forEachWorker(problem.batch * pieces, problem.context) { _, items in
            let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: 16 * inChannels * blockTiles)
            let products = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * blockTiles)
            defer { inputTiles.deallocate(); products.deallocate() }
            for item in items {
                let image = item / pieces, rows = tileRows(item % pieces)
                if rows.isEmpty { continue }
                winogradInputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: 0..<inChannels, into: inputTiles)
                winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: 0..<16,
                                 inputTiles: inputTiles, products: products)
                winogradOutputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: 0..<outChannels, products: products)
            }
        }
        return
    }
    // Fewer blocks than workers (small planes, batch 1): the workers share each block, splitting the input
    // channels, then the 16 GEMMs, then the output channels.
    let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: 16 * inChannels * blockTiles)
    let products = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * blockTiles)
    defer { inputTiles.deallocate(); products.deallocate() }
    for item in 0..<(problem.batch * pieces) {
        let image = item / pieces, rows = tileRows(item % pieces)
        if rows.isEmpty { continue }
        forEachWorker(inChannels, problem.context) { _, channels in
            winogradInputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, into: inputTiles)
        }
        forEachWorker(16, problem.context) { _, positions in
            winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: positions,
                             inputTiles: inputTiles, products: products)
        }
        forEachWorker(outChannels, problem.context) { _, channels in
            winogradOutputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, products: products)
        }
    }
}

/// M_k = U_k · V_k for the tile positions k in `positions`: GEMMs of OC x IC x T, accumulated into zeros
/// (one memset is cheaper than OpenBLAS's beta = 0 pass over each C).
func winogradProducts(_ problem: ConvolutionProblem, filters: UnsafePointer<Float>, tiles: Int, positions: Range<Int>,
                      inputTiles: UnsafePointer<Float>, products: UnsafeMutablePointer<Float>) {
    let inChannels = problem.inChannels, outChannels = problem.outChannels
    (products + positions.lowerBound * outChannels * tiles).update(repeating: 0, count: positions.count * outChannels * tiles)
    for k in positions {
        sgemm(m: outChannels, n: tiles, k: inChannels,
              a: filters + k * outChannels * inChannels, lda: inChannels,
              b: inputTiles + k * inChannels * tiles, ldb: tiles,
              c: products + k * outChannels * tiles, ldc: tiles, accumulate: true)
    }
}

/// V_k[IC x T] = (B^T d B)_k for each channel and each tile of the tile rows (T = rows · tilesX).
func winogradInputTransform(_ problem: ConvolutionProblem, image: Int, tileRows: Range<Int>, tilesX: Int,
                            channels: Range<Int>, into inputTiles: UnsafeMutablePointer<Float>) {
    let height = problem.height, width = problem.width, inChannels = problem.inChannels
    let padTop = problem.geometry.padTop, padLeft = problem.geometry.padLeft
    let tiles = tileRows.count * tilesX, stride = inChannels * tiles
    let source = problem.inputImage(image)
    var d = SIMD16<Float>()
    for channel in channels {
        let plane = source + channel * height * width
        for ty in tileRows {
            let y0 = 2 * ty - padTop
            let rowsInside = y0 >= 0 && y0 + 3 < height
            let rowTiles = inputTiles + channel * tiles + (ty - tileRows.lowerBound) * tilesX
            var tx = 0
            while tx < tilesX {
                if rowsInside && tx + 8 <= tilesX && 2 * tx - padLeft >= 0 && 2 * tx - padLeft + 17 < width {
                    // 8 whole tiles at a time: columns x0 ..< x0 + 18 inside the row, one SIMD lane per tile.
                    let x0 = 2 * tx - padLeft
                    @inline(__always) func columns(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                        let line = plane + (y0 + r) * width + x0
                        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
                        for i in 0..<8 { c0[i] = line[2 * i]; c1[i] = line[2 * i + 1]; c2[i] = line[2 * i + 2]; c3[i] = line[2 * i + 3] }
                        return (c0, c1, c2, c3)
                    }
                    let d0 = columns(0), d1 = columns(1), d2 = columns(2), d3 = columns(3)
                    let destination = UnsafeMutableRawPointer(rowTiles + tx)
                    let byteStride = stride * MemoryLayout<Float>.stride
                    @inline(__always) func store(_ r: Int, _ s0: SIMD8<Float>, _ s1: SIMD8<Float>, _ s2: SIMD8<Float>, _ s3: SIMD8<Float>) {
                        destination.storeBytes(of: s0 - s2, toByteOffset: (r * 4 + 0) * byteStride, as: SIMD8<Float>.self)
                        destination.storeBytes(of: s1 + s2, toByteOffset: (r * 4 + 1) * byteStride, as: SIMD8<Float>.self)
                        destination.storeBytes(of: s2 - s1, toByteOffset: (r * 4 + 2) * byteStride, as: SIMD8<Float>.self)
                        destination.storeBytes(of: s1 - s3, toByteOffset: (r * 4 + 3) * byteStride, as: SIMD8<Float>.self)
                    }
                    // s = B^T d over rows, then V = s B over columns; V_(r*4+c) for these 8 tiles.
                    store(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                    store(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                    store(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                    store(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
                    tx += 8
                    continue
                }
                defer { tx += 1 }
                let x0 = 2 * tx - padLeft
                if rowsInside && x0 >= 0 && x0 + 3 < width {
                    for r in 0..<4 {
                        let line = plane + (y0 + r) * width + x0
                        d[r * 4] = line[0]; d[r * 4 + 1] = line[1]; d[r * 4 + 2] = line[2]; d[r * 4 + 3] = line[3]
                    }
                } else {
                    for r in 0..<4 {
                        let y = y0 + r
                        if y < 0 || y >= height { d[r * 4] = 0; d[r * 4 + 1] = 0; d[r * 4 + 2] = 0; d[r * 4 + 3] = 0; continue }
                        let line = plane + y * width
                        for c in 0..<4 {
                            let x = x0 + c
                            d[r * 4 + c] = (x >= 0 && x < width) ? line[x] : 0
                        }
                    }
                }
                // s = B^T d (rows), then V = s B (columns).
                let row0 = d.lowHalf.lowHalf, row1 = d.lowHalf.highHalf, row2 = d.highHalf.lowHalf, row3 = d.highHalf.highHalf
                let s0 = row0 - row2, s1 = row1 + row2, s2 = row2 - row1, s3 = row1 - row3
                let base = inputTiles + channel * tiles + (ty - tileRows.lowerBound) * tilesX + tx
                @inline(__always) func store(_ r: Int, _ s: SIMD4<Float>) {
                    base[(r * 4 + 0) * stride] = s[0] - s[2]
                    base[(r * 4 + 1) * stride] = s[1] + s[2]
                    base[(r * 4 + 2) * stride] = s[2] - s[1]
                    base[(r * 4 + 3) * stride] = s[1] - s[3]
                }
                store(0, s0); store(1, s1); store(2, s2); store(3, s3)
            }
        }
    }
}

/// Y = A^T M A per tile of the tile rows, cropped at the bottom/right edge, then bias, residual and
/// activation on the output rows the tiles cover.
func winogradOutputTransform(_ problem: ConvolutionProblem, image: Int, tileRows: Range<Int>, tilesX: Int,
                             channels: Range<Int>, products: UnsafePointer<Float>) {
    let outputHeight = problem.outputHeight, outputWidth = problem.outputWidth, outChannels = problem.outChannels
    let tiles = tileRows.count * tilesX, stride = outChannels * tiles
    let firstRow = 2 * tileRows.lowerBound, endRow = min(outputHeight, 2 * tileRows.upperBound)
    for channel in channels {
        let output = problem.outputRow(image, channel)
        let base = products + channel * tiles
        for ty in tileRows {
            let oy = 2 * ty, rowTile = (ty - tileRows.lowerBound) * tilesX
            let secondRow = oy + 1 < outputHeight
            var tx = 0
            // 8 tiles at a time (16 output columns), one SIMD lane per tile.
            while tx + 8 <= tilesX && 2 * tx + 16 <= outputWidth {
                let source = UnsafeRawPointer(base + rowTile + tx), byteStride = stride * MemoryLayout<Float>.stride
                @inline(__always) func m(_ k: Int) -> SIMD8<Float> { source.loadUnaligned(fromByteOffset: k * byteStride, as: SIMD8<Float>.self) }
                // t = A^T M (2 x 4), then Y = t A (2 x 2).
                let t00 = m(0) + m(4) + m(8), t01 = m(1) + m(5) + m(9), t02 = m(2) + m(6) + m(10), t03 = m(3) + m(7) + m(11)
                let y00 = t00 + t01 + t02, y01 = t01 - t02 - t03
                var top = SIMD16<Float>()
                for i in 0..<8 { top[2 * i] = y00[i]; top[2 * i + 1] = y01[i] }
                UnsafeMutableRawPointer(output + oy * outputWidth + 2 * tx).storeBytes(of: top, as: SIMD16<Float>.self)
                if secondRow {
                    let t10 = m(4) - m(8) - m(12), t11 = m(5) - m(9) - m(13), t12 = m(6) - m(10) - m(14), t13 = m(7) - m(11) - m(15)
                    let y10 = t10 + t11 + t12, y11 = t11 - t12 - t13
                    var bottom = SIMD16<Float>()
                    for i in 0..<8 { bottom[2 * i] = y10[i]; bottom[2 * i + 1] = y11[i] }
                    UnsafeMutableRawPointer(output + (oy + 1) * outputWidth + 2 * tx).storeBytes(of: bottom, as: SIMD16<Float>.self)
                }
                tx += 8
            }
            while tx < tilesX {
                defer { tx += 1 }
                let tile = rowTile + tx
                // t = A^T M (2 x 4), then Y = t A (2 x 2).
                var t0 = SIMD4<Float>(), t1 = SIMD4<Float>()
                for c in 0..<4 {
                    let m0 = base[(0 * 4 + c) * stride + tile], m1 = base[(1 * 4 + c) * stride + tile]
                    let m2 = base[(2 * 4 + c) * stride + tile], m3 = base[(3 * 4 + c) * stride + tile]
                    t0[c] = m0 + m1 + m2
                    t1[c] = m1 - m2 - m3
                }
                let y00 = t0[0] + t0[1] + t0[2], y01 = t0[1] - t0[2] - t0[3]
                let y10 = t1[0] + t1[1] + t1[2], y11 = t1[1] - t1[2] - t1[3]
                let ox = 2 * tx
                output[oy * outputWidth + ox] = y00
                if ox + 1 < outputWidth { output[oy * outputWidth + ox + 1] = y01 }
                if secondRow {
                    output[(oy + 1) * outputWidth + ox] = y10
                    if ox + 1 < outputWidth { output[(oy + 1) * outputWidth + ox + 1] = y11 }
                }
            }
        }
    }
    problem.finish(image: image, channels: channels, columns: (firstRow * outputWidth)..<(endRow * outputWidth))
}
