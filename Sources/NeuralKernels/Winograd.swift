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

/// The transforms handle one tile per lane, `WinogradTiles.scalarCount` tiles at a time: 16 where the build
/// targets AVX-512 (one zmm register), 8 elsewhere. `WinogradLine` is twice as wide: the input columns (or
/// output columns) under those tiles, split into even and odd halves. Lanes are independent, so the width
/// changes no result.
#if CARCINOMA_AVX512
typealias WinogradTiles = SIMD16<Float>
typealias WinogradLine = SIMD32<Float>
#else
typealias WinogradTiles = SIMD8<Float>
typealias WinogradLine = SIMD16<Float>
#endif

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
func winogradConvolution(_ problem: ConvolutionProblem, filters: [PackedMatrix]) {
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
        parallelChunks(problem.batch * pieces, problem.context) { items in
            let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: 16 * inChannels * blockTiles)
            let products = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * blockTiles + WinogradTiles.scalarCount)   // SIMD reads past the last tile
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: blockTiles))
            defer { inputTiles.deallocate(); products.deallocate(); workspace.deallocate() }
            for item in items {
                let image = item / pieces, rows = tileRows(item % pieces)
                if rows.isEmpty { continue }
                winogradInputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: 0..<inChannels, into: inputTiles)
                winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: 0..<16,
                                 inputTiles: inputTiles, products: products, workspace: workspace)
                winogradOutputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: 0..<outChannels, products: products)
            }
        }
        return
    }
    // Fewer blocks than workers (small planes, batch 1): the workers share each block, splitting the input
    // channels, then the 16 GEMMs, then the output channels.
    let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: 16 * inChannels * blockTiles)
    let products = UnsafeMutablePointer<Float>.allocate(capacity: 16 * outChannels * blockTiles + WinogradTiles.scalarCount)   // SIMD reads past the last tile
    defer { inputTiles.deallocate(); products.deallocate() }
    for item in 0..<(problem.batch * pieces) {
        let image = item / pieces, rows = tileRows(item % pieces)
        if rows.isEmpty { continue }
        parallelChunks(inChannels, problem.context) { channels in
            winogradInputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, into: inputTiles)
        }
        parallelChunks(16, problem.context) { positions in
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: blockTiles))
            defer { workspace.deallocate() }
            winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: positions,
                             inputTiles: inputTiles, products: products, workspace: workspace)
        }
        parallelChunks(outChannels, problem.context) { channels in
            winogradOutputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, products: products)
        }
    }
}

/// M_k = U_k · V_k for the tile positions k in `positions`: GEMMs of OC x IC x T on the packed filters.
func winogradProducts(_ problem: ConvolutionProblem, filters: [PackedMatrix], tiles: Int, positions: Range<Int>,
                      inputTiles: UnsafePointer<Float>, products: UnsafeMutablePointer<Float>,
                      workspace: UnsafeMutablePointer<Float>) {
    let inChannels = problem.inChannels, outChannels = problem.outChannels
    for k in positions {
        packedGemm(filters[k], rows: 0..<outChannels, columns: tiles, b: inputTiles + k * inChannels * tiles, ldb: tiles,
                   c: products + k * outChannels * tiles, ldc: tiles, accumulate: false, workspace: workspace)
    }
}

/// V_k[IC x T] = (B^T d B)_k for each channel and each tile of the tile rows (T = rows · tilesX).
/// The 4 input rows under a tile row are first copied into a zero-padded line buffer, so every tile,
/// edges included, goes through the same SIMD path (WinogradTiles.scalarCount tiles at a time).
func winogradInputTransform(_ problem: ConvolutionProblem, image: Int, tileRows: Range<Int>, tilesX: Int,
                            channels: Range<Int>, into inputTiles: UnsafeMutablePointer<Float>) {
    let height = problem.height, width = problem.width, inChannels = problem.inChannels
    let padTop = problem.geometry.padTop, padLeft = problem.geometry.padLeft
    let tiles = tileRows.count * tilesX, stride = inChannels * tiles
    let byteStride = stride * MemoryLayout<Float>.stride
    let source = problem.inputImage(image)
    // Line r holds input columns -padLeft ..< -padLeft + lineWidth of input row y0 + r, zeros outside the image.
    let lanes = WinogradTiles.scalarCount
    let groups = (tilesX + lanes - 1) / lanes, lineWidth = 2 * lanes * groups + 2
    let lines = UnsafeMutablePointer<Float>.allocate(capacity: 4 * lineWidth)
    defer { lines.deallocate() }
    let firstColumn = max(0, padLeft), lastColumn = min(lineWidth, width + padLeft)   // line positions inside the image
    for channel in channels {
        let plane = source + channel * height * width
        for ty in tileRows {
            let y0 = 2 * ty - padTop
            for r in 0..<4 {
                let line = lines + r * lineWidth, y = y0 + r
                guard y >= 0 && y < height && firstColumn < lastColumn else { line.update(repeating: 0, count: lineWidth); continue }
                line.update(repeating: 0, count: firstColumn)
                copyFloats(from: plane + y * width + (firstColumn - padLeft), to: line + firstColumn, count: lastColumn - firstColumn)
                (line + lastColumn).update(repeating: 0, count: lineWidth - lastColumn)
            }
            let rowTiles = inputTiles + channel * tiles + (ty - tileRows.lowerBound) * tilesX
            for group in 0..<groups {
                let tx = lanes * group
                // columns 2i + c (c = 0...3) of the group's tiles, as two overlapping double-width loads per line
                @inline(__always) func columns(_ r: Int) -> (WinogradTiles, WinogradTiles, WinogradTiles, WinogradTiles) {
                    let line = UnsafeRawPointer(lines + r * lineWidth + 2 * tx)
                    let first = line.loadUnaligned(as: WinogradLine.self)
                    let second = line.loadUnaligned(fromByteOffset: 2 * MemoryLayout<Float>.stride, as: WinogradLine.self)
                    return (evenLanes(first), oddLanes(first), evenLanes(second), oddLanes(second))
                }
                let d0 = columns(0), d1 = columns(1), d2 = columns(2), d3 = columns(3)
                let count = min(lanes, tilesX - tx)
                let destination = UnsafeMutableRawPointer(rowTiles + tx)
                @inline(__always) func store(_ position: Int, _ value: WinogradTiles) {
                    if count == lanes {
                        destination.storeBytes(of: value, toByteOffset: position * byteStride, as: WinogradTiles.self)
                    } else {
                        storePrefix(value, to: (rowTiles + tx) + position * stride, count: count)
                    }
                }
                @inline(__always) func storeRow(_ r: Int, _ s0: WinogradTiles, _ s1: WinogradTiles, _ s2: WinogradTiles, _ s3: WinogradTiles) {
                    store(r * 4 + 0, s0 - s2); store(r * 4 + 1, s1 + s2); store(r * 4 + 2, s2 - s1); store(r * 4 + 3, s1 - s3)
                }
                // s = B^T d over rows, then V = s B over columns; V_(r*4+c) for these tiles.
                storeRow(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                storeRow(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                storeRow(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                storeRow(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
                _ = destination
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
            winogradOutputRow(base + rowTile, stride: stride, tilesX: tilesX, output: output + oy * outputWidth,
                              outputWidth: outputWidth, secondRow: secondRow)
        }
    }
    problem.finish(image: image, channels: channels, columns: (firstRow * outputWidth)..<(endRow * outputWidth))
}

/// One tile row of the output transform: Y = A^T M A for tilesX tiles whose 16 products lie `stride` floats apart,
/// written to the output row (and the next one when secondRow). WinogradTiles.scalarCount tiles at a time (twice as
/// many output columns), one SIMD lane per tile; the last group may be partial (lanes past the row's tiles are
/// computed from whatever follows and never stored). A function of its own, on plain pointers: inside the
/// per-channel loops LLVM turned this into 4-lane code with gathers.
@inline(never)
func winogradOutputRow(_ products: UnsafePointer<Float>, stride: Int, tilesX: Int, output: UnsafeMutablePointer<Float>,
                       outputWidth: Int, secondRow: Bool) {
    let lanes = WinogradTiles.scalarCount
    var tx = 0
    while tx < tilesX {
        let source = products + tx
        @inline(__always) func m(_ k: Int) -> WinogradTiles { UnsafeRawPointer(source + k * stride).loadUnaligned(as: WinogradTiles.self) }
        let columns = min(2 * lanes, outputWidth - 2 * tx)
        // t = A^T M (2 x 4), then Y = t A (2 x 2).
        let t00 = m(0) + m(4) + m(8), t01 = m(1) + m(5) + m(9), t02 = m(2) + m(6) + m(10), t03 = m(3) + m(7) + m(11)
        storeInterleaved(t00 + t01 + t02, t01 - t02 - t03, to: output + 2 * tx, count: columns)
        if secondRow {
            let t10 = m(4) - m(8) - m(12), t11 = m(5) - m(9) - m(13), t12 = m(6) - m(10) - m(14), t13 = m(7) - m(11) - m(15)
            storeInterleaved(t10 + t11 + t12, t11 - t12 - t13, to: output + outputWidth + 2 * tx, count: columns)
        }
        tx += lanes
    }
}
