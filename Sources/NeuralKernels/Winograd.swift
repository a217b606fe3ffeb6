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
//
// Planes of at least 24x24 take the larger tile F(4x4, 3x3) instead (§4.2; the section at the end of this file):
// 36 GEMMs for 4x4 outputs, 2.25 multiplies per output and channel pair instead of 4, with the same blocks, threads
// and buffers (`WinogradTile`). One thread, Emerald Rapids: GoogLeNet 224 -10% CPU per image, EfficientNet-V2-S 224
// -7.5%, ResNet-50 512 -8%, Inception-v3 299 -9.5%; on 14x14 planes (16 tiles) it lost to F(2x2, 3x3).

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

/// The output tile of a Winograd convolution: F(2x2, 3x3) (16 products per tile) or F(4x4, 3x3) (36).
public enum WinogradTile: Int, Sendable, Hashable {
    case twoByTwo = 2, fourByFour = 4

    /// Output rows (and columns) per tile.
    var size: Int { rawValue }
    /// Tile positions: GEMMs per block, transformed filters per (out, in) pair.
    var positions: Int { (rawValue + 2) * (rawValue + 2) }

    /// The transformed filters U_k[OC x IC], positions · OC · IC floats.
    func filterTransform(_ weight: [Float], outChannels: Int, inChannels: Int) -> [Float] {
        self == .twoByTwo ? winogradFilterTransform(weight, outChannels: outChannels, inChannels: inChannels)
            : winograd4FilterTransform(weight, outChannels: outChannels, inChannels: inChannels)
    }

    /// The tile `.automatic` takes for an output plane: F(4x4, 3x3) once both sides are at least 24 pixels (whole
    /// tiles then waste at most 3 of 24 rows and columns; on 14x14 planes, 16 tiles covering 16x16, its 36 GEMMs of
    /// 16 columns lose to F(2x2, 3x3)'s 16 of 49), F(2x2, 3x3) below.
    static func automatic(outputHeight: Int, outputWidth: Int) -> WinogradTile {
        min(outputHeight, outputWidth) >= 24 ? .fourByFour : .twoByTwo
    }
}

/// The whole convolution: pieces of tile rows of every image, spread over the workers.
/// output = activation(conv + bias [+ residual]); filters are U from `tile.filterTransform`.
func winogradConvolution(_ problem: ConvolutionProblem, filters: [PackedMatrix], tile: WinogradTile) {
    let inChannels = problem.inChannels, outChannels = problem.outChannels
    let size = tile.size, positions = tile.positions
    let tilesY = (problem.outputHeight + size - 1) / size, tilesX = (problem.outputWidth + size - 1) / size
    // A block of V (positions x IC x T) and M (positions x OC x T) in about 768 KiB, but at least 64 tiles for the
    // GEMMs; an even number of blocks per image when there is more than one. Blocks depend on the shape only.
    let targetTiles = max(64, min(512, 196_608 / (positions * (inChannels + outChannels))))
    var pieces = max(1, (tilesY * tilesX + targetTiles / 2) / targetTiles)
    if pieces > 1 { pieces += pieces % 2 }
    let rowsPerPiece = (tilesY + pieces - 1) / pieces
    pieces = (tilesY + rowsPerPiece - 1) / rowsPerPiece
    let blockTiles = rowsPerPiece * tilesX
    func tileRows(_ piece: Int) -> Range<Int> { min(tilesY, piece * rowsPerPiece)..<min(tilesY, (piece + 1) * rowsPerPiece) }
    func inputTransform(image: Int, rows: Range<Int>, channels: Range<Int>, into inputTiles: UnsafeMutablePointer<Float>) {
        if tile == .twoByTwo {
            winogradInputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, into: inputTiles)
        } else {
            winograd4InputTransform(problem, image: image, tileRows: rows, tilesX: tilesX, channels: channels, into: inputTiles)
        }
    }
    func outputTransform(image: Int, rows: Range<Int>, channels: Range<Int>, products: UnsafePointer<Float>) {
        winogradOutputTransform(problem, tile: tile, image: image, tileRows: rows, tilesX: tilesX, channels: channels, products: products)
    }

    if problem.batch * pieces >= problem.context.threadCount {
        // Enough blocks: each worker takes whole blocks with buffers of its own.
        parallelChunks(problem.batch * pieces, problem.context) { items in
            let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: positions * inChannels * blockTiles)
            let products = UnsafeMutablePointer<Float>.allocate(capacity: positions * outChannels * blockTiles + WinogradTiles.scalarCount)   // SIMD reads past the last tile
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: blockTiles))
            defer { inputTiles.deallocate(); products.deallocate(); workspace.deallocate() }
            for item in items {
                let image = item / pieces, rows = tileRows(item % pieces)
                if rows.isEmpty { continue }
                inputTransform(image: image, rows: rows, channels: 0..<inChannels, into: inputTiles)
                winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: 0..<positions,
                                 inputTiles: inputTiles, products: products, workspace: workspace)
                outputTransform(image: image, rows: rows, channels: 0..<outChannels, products: products)
            }
        }
        return
    }
    // Fewer blocks than workers (small planes, batch 1): the workers share each block, splitting the input
    // channels, then the GEMMs, then the output channels.
    let inputTiles = UnsafeMutablePointer<Float>.allocate(capacity: positions * inChannels * blockTiles)
    let products = UnsafeMutablePointer<Float>.allocate(capacity: positions * outChannels * blockTiles + WinogradTiles.scalarCount)   // SIMD reads past the last tile
    defer { inputTiles.deallocate(); products.deallocate() }
    for item in 0..<(problem.batch * pieces) {
        let image = item / pieces, rows = tileRows(item % pieces)
        if rows.isEmpty { continue }
        parallelChunks(inChannels, problem.context) { channels in
            inputTransform(image: image, rows: rows, channels: channels, into: inputTiles)
        }
        parallelChunks(positions, problem.context) { positions in
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: blockTiles))
            defer { workspace.deallocate() }
            winogradProducts(problem, filters: filters, tiles: rows.count * tilesX, positions: positions,
                             inputTiles: inputTiles, products: products, workspace: workspace)
        }
        parallelChunks(outChannels, problem.context) { channels in
            outputTransform(image: image, rows: rows, channels: channels, products: products)
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

/// Input rows firstRow ..< firstRow + count of a plane into `count` lines (lineStride floats apart), line r holding input
/// columns -padLeft ..< -padLeft + lineWidth of row firstRow + r, zeros outside the image: every tile of a tile row,
/// edges included, then goes through the same SIMD path.
func fillInputLines(_ count: Int, from plane: UnsafePointer<Float>, firstRow: Int, height: Int, width: Int, padLeft: Int,
                    into lines: UnsafeMutablePointer<Float>, lineStride: Int, lineWidth: Int) {
    let firstColumn = max(0, padLeft), lastColumn = min(lineWidth, width + padLeft)   // line positions inside the image
    for r in 0..<count {
        let line = lines + r * lineStride, y = firstRow + r
        guard y >= 0 && y < height && firstColumn < lastColumn else { line.update(repeating: 0, count: lineWidth); continue }
        line.update(repeating: 0, count: firstColumn)
        copyFloats(from: plane + y * width + (firstColumn - padLeft), to: line + firstColumn, count: lastColumn - firstColumn)
        (line + lastColumn).update(repeating: 0, count: lineWidth - lastColumn)
    }
}

/// Where an input transform writes a group of tiles' values: V_position for the group's `count` tiles (stride floats
/// between positions), whole vectors when the group is full, the first `count` lanes otherwise.
struct TileGroupStore {
    let tiles: UnsafeMutablePointer<Float>
    let count: Int
    let stride: Int

    @inline(__always)
    func callAsFunction(_ position: Int, _ value: WinogradTiles) {
        if count == WinogradTiles.scalarCount {
            UnsafeMutableRawPointer(tiles + position * stride).storeBytes(of: value, as: WinogradTiles.self)
        } else {
            storePrefix(value, to: tiles + position * stride, count: count)
        }
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
    let source = problem.inputImage(image)
    // Line r holds input columns -padLeft ..< -padLeft + lineWidth of input row y0 + r, zeros outside the image.
    let lanes = WinogradTiles.scalarCount
    let groups = (tilesX + lanes - 1) / lanes, lineWidth = 2 * lanes * groups + 2
    let lines = UnsafeMutablePointer<Float>.allocate(capacity: 4 * lineWidth)
    defer { lines.deallocate() }
    for channel in channels {
        let plane = source + channel * height * width
        for ty in tileRows {
            let y0 = 2 * ty - padTop
            fillInputLines(4, from: plane, firstRow: y0, height: height, width: width, padLeft: padLeft,
                           into: lines, lineStride: lineWidth, lineWidth: lineWidth)
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
                let store = TileGroupStore(tiles: rowTiles + tx, count: min(lanes, tilesX - tx), stride: stride)
                @inline(__always) func storeRow(_ r: Int, _ s0: WinogradTiles, _ s1: WinogradTiles, _ s2: WinogradTiles, _ s3: WinogradTiles) {
                    store(r * 4 + 0, s0 - s2); store(r * 4 + 1, s1 + s2); store(r * 4 + 2, s2 - s1); store(r * 4 + 3, s1 - s3)
                }
                // s = B^T d over rows, then V = s B over columns; V_(r*4+c) for these tiles.
                storeRow(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
                storeRow(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
                storeRow(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
                storeRow(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
            }
        }
    }
}

/// Y = A^T M A per tile of the tile rows, cropped at the bottom/right edge, then bias, residual and
/// activation on the output rows the tiles cover.
func winogradOutputTransform(_ problem: ConvolutionProblem, tile: WinogradTile, image: Int, tileRows: Range<Int>, tilesX: Int,
                             channels: Range<Int>, products: UnsafePointer<Float>) {
    let outputHeight = problem.outputHeight, outputWidth = problem.outputWidth, outChannels = problem.outChannels
    let tiles = tileRows.count * tilesX, stride = outChannels * tiles, size = tile.size
    let firstRow = size * tileRows.lowerBound, endRow = min(outputHeight, size * tileRows.upperBound)
    for channel in channels {
        let output = problem.outputRow(image, channel)
        let base = products + channel * tiles
        for ty in tileRows {
            let oy = size * ty, rowTiles = base + (ty - tileRows.lowerBound) * tilesX
            if tile == .twoByTwo {
                winogradOutputRow(rowTiles, stride: stride, tilesX: tilesX, output: output + oy * outputWidth,
                                  outputWidth: outputWidth, secondRow: oy + 1 < outputHeight)
            } else {
                winograd4OutputRow(rowTiles, stride: stride, tilesX: tilesX, output: output + oy * outputWidth,
                                   outputWidth: outputWidth, rows: min(4, outputHeight - oy))
            }
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

// MARK: - F(4x4, 3x3)
//
// Lavin & Gray §4.2's larger tile: each 4x4 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A for the 6x6 input tile d
// around it, 36 multiplies per (in, out) channel pair for 16 outputs (2.25 per output, against F(2x2, 3x3)'s 4 and
// direct convolution's 9), so 36 GEMMs M_k[OC x T] = U_k[OC x IC] · V_k[IC x T]. The points are 0, ±1, ±2 and ∞:
//
//   G   = [ 1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1 ]          (6 x 3)
//   B^T = [ 4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1 ]  (6 x 6)
//   A^T = [ 1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1 ]                                (4 x 6)
//
// Its transforms multiply by up to 8 (the output's), so its rounding error is a few times F(2x2, 3x3)'s: still far
// inside the tests' tolerance against the naive twin and the reference networks (FastKernelTests, the backbone tests).

/// B^T d for the six rows (or columns) d0 ... d5 of input tiles, one tile per lane.
@inline(__always)
private func inputTransform6(_ d0: WinogradTiles, _ d1: WinogradTiles, _ d2: WinogradTiles, _ d3: WinogradTiles,
                             _ d4: WinogradTiles, _ d5: WinogradTiles)
    -> (WinogradTiles, WinogradTiles, WinogradTiles, WinogradTiles, WinogradTiles, WinogradTiles) {
    let sum12 = d1 + d2, difference12 = d1 - d2, difference31 = d3 - d1
    return (4 * d0 - 5 * d2 + d4,
            (d3 + d4) - 4 * sum12,
            (d4 - d3) + 4 * difference12,
            (d4 - d2) + 2 * difference31,
            (d4 - d2) - 2 * difference31,
            4 * d1 - 5 * d3 + d5)
}

/// A^T m for the six products m0 ... m5 along a row (or column) of tiles: four outputs per tile.
@inline(__always)
private func outputTransform6(_ m0: WinogradTiles, _ m1: WinogradTiles, _ m2: WinogradTiles, _ m3: WinogradTiles,
                              _ m4: WinogradTiles, _ m5: WinogradTiles) -> (WinogradTiles, WinogradTiles, WinogradTiles, WinogradTiles) {
    let sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4
    return (m0 + sum12 + sum34, difference12 + 2 * difference34, sum12 + 4 * sum34, difference12 + 8 * difference34 + m5)
}

/// U = G g G^T for every (out, in) pair, as 36 matrices U_k[OC x IC] (36 · OC · IC floats).
func winograd4FilterTransform(_ weight: [Float], outChannels: Int, inChannels: Int) -> [Float] {
    let pairs = outChannels * inChannels
    precondition(weight.count == pairs * 9, "Winograd needs 3x3 filters")
    var transformed = uninitialisedFloats(36 * pairs)
    // G applied to the three values of a row or column of the filter (in double: the filters are transformed once).
    func g(_ x0: Double, _ x1: Double, _ x2: Double) -> [Double] {
        [x0 / 4, -(x0 + x1 + x2) / 6, -(x0 - x1 + x2) / 6, x0 / 24 + x1 / 12 + x2 / 6, x0 / 24 - x1 / 12 + x2 / 6, x2]
    }
    weight.withUnsafeBufferPointer { weightBuffer in
    transformed.withUnsafeMutableBufferPointer { buffer in
        let out = buffer.baseAddress!
        for pair in 0..<pairs {
            let w = weightBuffer.baseAddress! + pair * 9
            // t = G g (6 x 3): G applied to each column of g; then U = t G^T: G applied to each row of t.
            let columns = (0..<3).map { g(Double(w[$0]), Double(w[3 + $0]), Double(w[6 + $0])) }
            for row in 0..<6 {
                let u = g(columns[0][row], columns[1][row], columns[2][row])
                for column in 0..<6 { out[(row * 6 + column) * pairs + pair] = Float(u[column]) }
            }
        }
    } }
    return transformed
}

/// V_k[IC x T] = (B^T d B)_k for each channel and each 4x4-output tile of the tile rows (T = rows · tilesX): the six
/// input rows under a tile row are copied into a zero-padded line buffer; B^T is applied down the six lines, whole
/// vectors of contiguous columns at a time, into six transformed lines; then WinogradTiles.scalarCount tiles at a
/// time, each tile's six columns are taken from a transformed line by even/odd lane splits (columns 4i + c,
/// c = 0 ... 5) and B^T applied along them. (Transforming the 36 values of a group's tiles at once kept 72 vectors
/// alive, and LLVM spilled most of them.)
func winograd4InputTransform(_ problem: ConvolutionProblem, image: Int, tileRows: Range<Int>, tilesX: Int,
                             channels: Range<Int>, into inputTiles: UnsafeMutablePointer<Float>) {
    let height = problem.height, width = problem.width, inChannels = problem.inChannels
    let padTop = problem.geometry.padTop, padLeft = problem.geometry.padLeft
    let tiles = tileRows.count * tilesX, stride = inChannels * tiles
    let source = problem.inputImage(image)
    let lanes = WinogradTiles.scalarCount
    // A group of `lanes` tiles reads line columns 4·lanes·group ..< 4·lanes·(group + 1) + 4; lines are whole vectors.
    let groups = (tilesX + lanes - 1) / lanes, lineWidth = 4 * lanes * groups + 4
    let lineStride = (lineWidth + lanes - 1) / lanes * lanes
    let lines = UnsafeMutablePointer<Float>.allocate(capacity: 12 * lineStride)
    defer { lines.deallocate() }
    lines.initialize(repeating: 0, count: 12 * lineStride)
    let transformed = lines + 6 * lineStride
    @inline(__always) func vector(_ line: UnsafeMutablePointer<Float>, _ x: Int) -> WinogradTiles {
        UnsafeRawPointer(line + x).loadUnaligned(as: WinogradTiles.self)
    }
    for channel in channels {
        let plane = source + channel * height * width
        for ty in tileRows {
            let y0 = 4 * ty - padTop
            fillInputLines(6, from: plane, firstRow: y0, height: height, width: width, padLeft: padLeft,
                           into: lines, lineStride: lineStride, lineWidth: lineWidth)
            // s = B^T d down the lines, every column.
            var x = 0
            while x < lineWidth {
                let s = inputTransform6(vector(lines, x), vector(lines + lineStride, x), vector(lines + 2 * lineStride, x),
                                        vector(lines + 3 * lineStride, x), vector(lines + 4 * lineStride, x), vector(lines + 5 * lineStride, x))
                @inline(__always) func put(_ r: Int, _ value: WinogradTiles) {
                    UnsafeMutableRawPointer(transformed + r * lineStride + x).storeBytes(of: value, as: WinogradTiles.self)
                }
                put(0, s.0); put(1, s.1); put(2, s.2); put(3, s.3); put(4, s.4); put(5, s.5)
                x += lanes
            }
            let rowTiles = inputTiles + channel * tiles + (ty - tileRows.lowerBound) * tilesX
            for group in 0..<groups {
                let tx = lanes * group
                let store = TileGroupStore(tiles: rowTiles + tx, count: min(lanes, tilesX - tx), stride: stride)
                for r in 0..<6 {
                    // Columns 4i + c of the group's tiles in transformed line r, then V_(r*6+c) = (s B)_c.
                    let line = UnsafeRawPointer(transformed + r * lineStride + 4 * tx)
                    let size = MemoryLayout<WinogradLine>.size, shift = 4 * MemoryLayout<Float>.stride
                    let a = line.loadUnaligned(as: WinogradLine.self), b = line.loadUnaligned(fromByteOffset: size, as: WinogradLine.self)
                    let even = WinogradLine(lowHalf: evenLanes(a), highHalf: evenLanes(b))   // columns 2j
                    let odd = WinogradLine(lowHalf: oddLanes(a), highHalf: oddLanes(b))      // columns 2j + 1
                    let c = line.loadUnaligned(fromByteOffset: shift, as: WinogradLine.self)
                    let d = line.loadUnaligned(fromByteOffset: shift + size, as: WinogradLine.self)
                    let v = inputTransform6(evenLanes(even), evenLanes(odd), oddLanes(even), oddLanes(odd),
                                            evenLanes(WinogradLine(lowHalf: evenLanes(c), highHalf: evenLanes(d))),     // columns 4i + 4
                                            evenLanes(WinogradLine(lowHalf: oddLanes(c), highHalf: oddLanes(d))))       // columns 4i + 5
                    store(r * 6 + 0, v.0); store(r * 6 + 1, v.1); store(r * 6 + 2, v.2)
                    store(r * 6 + 3, v.3); store(r * 6 + 4, v.4); store(r * 6 + 5, v.5)
                }
            }
        }
    }
}

/// One tile row of F(4x4, 3x3)'s output transform: the first `rows` of its four output rows, WinogradTiles.scalarCount
/// tiles (four times as many output columns) at a time; lanes past the row's tiles are never stored.
@inline(never)
func winograd4OutputRow(_ products: UnsafePointer<Float>, stride: Int, tilesX: Int, output: UnsafeMutablePointer<Float>,
                        outputWidth: Int, rows: Int) {
    let lanes = WinogradTiles.scalarCount
    var tx = 0
    while tx < tilesX {
        let source = products + tx
        @inline(__always) func m(_ k: Int) -> WinogradTiles { UnsafeRawPointer(source + k * stride).loadUnaligned(as: WinogradTiles.self) }
        let columns = min(4 * lanes, outputWidth - 4 * tx)
        // t = A^T M (4 x 6), column by column; then each output row is A^T applied along its six t values.
        let t0 = outputTransform6(m(0), m(6), m(12), m(18), m(24), m(30))
        let t1 = outputTransform6(m(1), m(7), m(13), m(19), m(25), m(31))
        let t2 = outputTransform6(m(2), m(8), m(14), m(20), m(26), m(32))
        let t3 = outputTransform6(m(3), m(9), m(15), m(21), m(27), m(33))
        let t4 = outputTransform6(m(4), m(10), m(16), m(22), m(28), m(34))
        let t5 = outputTransform6(m(5), m(11), m(17), m(23), m(29), m(35))
        let y0 = outputTransform6(t0.0, t1.0, t2.0, t3.0, t4.0, t5.0)
        storeInterleaved(y0.0, y0.1, y0.2, y0.3, to: output + 4 * tx, count: columns)
        if rows > 1 {
            let y1 = outputTransform6(t0.1, t1.1, t2.1, t3.1, t4.1, t5.1)
            storeInterleaved(y1.0, y1.1, y1.2, y1.3, to: output + outputWidth + 4 * tx, count: columns)
        }
        if rows > 2 {
            let y2 = outputTransform6(t0.2, t1.2, t2.2, t3.2, t4.2, t5.2)
            storeInterleaved(y2.0, y2.1, y2.2, y2.3, to: output + 2 * outputWidth + 4 * tx, count: columns)
        }
        if rows > 3 {
            let y3 = outputTransform6(t0.3, t1.3, t2.3, t3.3, t4.3, t5.3)
            storeInterleaved(y3.0, y3.1, y3.2, y3.3, to: output + 3 * outputWidth + 4 * tx, count: columns)
        }
        tx += lanes
    }
}
