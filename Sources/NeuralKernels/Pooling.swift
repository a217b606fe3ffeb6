// Pooling kernels, PyTorch semantics (PoolGeometry):
//   maxPool2d, avgPool2d   N x C x H x W → N x C x OH x OW
//   globalAveragePool      N x C x H x W → N x C x 1 x 1
//
// Window pools with a horizontal stride of 1 or 2 run separably (separablePool: along each row, then down the
// rows). At stride 2 (the max pools that halve GoogLeNet's, ResNet's and Inception's planes) the work is in C
// (CPooling, stridedPlanes): Swift cannot spell a masked load, which reads a row's first and last columns in place
// where separablePlanes copies every row into a line of fill first, and its even/odd lane shuffles of overlapping
// loads compiled to lane-by-lane inserts. One thread, Emerald Rapids: GoogLeNet's, ResNet-50's and Inception-v3's
// stride-2 pools 1.7-2.3x faster alone (GoogLeNet's 64 x 112 x 112 → 56 x 56 in 217 µs against 418), their share
// of GoogLeNet 224 from 4.2% to 2.4% of the time (there the input arrives from memory: the row loads wait on it, and
// prefetching or not changed nothing), of Inception-v3 299 from 1.9% to 1.0%. The C path is taken where the CPU
// has the build's vector unit (AVX-512F for 16-lane builds, AVX2 for 8-lane ones); separablePlanes, the same
// operations in the same order, is the stride-2 pool of other machines (and every stride-1 pool). Other strides reuse the depthwise
// kernel's phase planes (Depthwise.swift): each input plane is copied once into a padded, column-phase-split
// layout filled with -inf (max) or 0 (average), so every window tap of a tile of neighbouring outputs (8 or 16,
// `Tile`) is one contiguous load, and ceil-mode windows hanging past the input read the fill. Planes are split
// across cores.

import CPooling
import Foundation

/// The vector unit of the stride-2 pools' C path (CPooling), from the CPU's flags as the GEMM kernel reads them
/// (CPUFeatures): AVX-512 (2) where the build's tiles are 16 lanes, AVX2 (1) where they are 8, 0 (separablePlanes in
/// Swift) without it.
#if CARCINOMA_AVX512
private let stridedPoolUnit: Int32 = CPUFeatures.current.hasAVX512 ? 2 : 0
#else
private let stridedPoolUnit: Int32 = CPUFeatures.current.hasAVX2 ? 1 : 0
#endif

/// N x C x H x W → N x C x OH x OW, the maximum over each window (padding never wins).
public func maxPool2d(_ input: Tensor, _ geometry: PoolGeometry, context: KernelContext = .allCores) -> Tensor {
    windowPool(input, geometry, maximum: true, divisors: nil, context: context)
}

/// PyTorch avg_pool2d: the divisor counts padded cells inside the padded input when
/// countIncludePad, never the cells past it that ceil_mode adds.
public func avgPool2d(_ input: Tensor, _ geometry: PoolGeometry, context: KernelContext = .allCores) -> Tensor {
    let (outputHeight, outputWidth) = geometry.outputSize(height: input.height, width: input.width)
    // The divisor of every output position, as the naive twin computes it (rows × columns counted).
    func counted(_ output: Int, _ stride: Int, _ pad: Int, _ kernel: Int, _ size: Int) -> Int {
        let start = output * stride - pad, end = min(start + kernel, size + pad)
        return geometry.countIncludePad ? end - start : min(end, size) - max(start, 0)
    }
    var divisors = [Float](repeating: 1, count: outputHeight * outputWidth)
    for oy in 0..<outputHeight {
        let rows = counted(oy, geometry.strideY, geometry.padY, geometry.kernelHeight, input.height)
        for ox in 0..<outputWidth {
            divisors[oy * outputWidth + ox] = Float(rows * counted(ox, geometry.strideX, geometry.padX, geometry.kernelWidth, input.width))
        }
    }
    return divisors.withUnsafeBufferPointer { divisorBuffer in
        windowPool(input, geometry, maximum: false, divisors: divisorBuffer.baseAddress!, context: context)
    }
}

/// The window pools' shared loop: per plane, phase planes filled with -inf (maximum) or 0 (sum), then
/// for each output tile (four at a time) the maximum or the sum of the taps in (ky, kx) order,
/// the sum divided by `divisors` (OH x OW). No closures on the vector path (see fusedPass).
private func windowPool(_ input: Tensor, _ geometry: PoolGeometry, maximum: Bool, divisors: UnsafePointer<Float>?,
                        context: KernelContext) -> Tensor {
    if geometry.strideX <= 2 {
        return separablePool(input, geometry, maximum: maximum, divisors: divisors, context: context)
    }
    let fill = maximum ? MaximumLanes.fill : SumLanes.fill
    @inline(__always) func combine(_ value: Tile, _ tap: Tile) -> Tile {
        maximum ? MaximumLanes.combine(value, tap) : SumLanes.combine(value, tap)
    }
    let (outputHeight, outputWidth) = geometry.outputSize(height: input.height, width: input.width)
    let height = input.height, width = input.width
    let planes = input.batch * input.channels, plane = outputHeight * outputWidth
    var output = Tensor(shape: [input.batch, input.channels, outputHeight, outputWidth], storage: uninitialisedFloats(planes * plane))
    let layout = PhasePlanes(outputHeight: outputHeight, outputWidth: outputWidth, kernelHeight: geometry.kernelHeight,
                             kernelWidth: geometry.kernelWidth, strideY: geometry.strideY, strideX: geometry.strideX,
                             dilationY: 1, dilationX: 1)
    var tapOffsets = [Int]()
    for ky in 0..<geometry.kernelHeight { for kx in 0..<geometry.kernelWidth { tapOffsets.append(layout.tapOffset(ky: ky, kx: kx, dilationY: 1)) } }
    let tilesPerRow = layout.tilesPerRow, tileCount = outputHeight * tilesPerRow, lanes = Tile.scalarCount
    let start = Tile(repeating: fill)

    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
    tapOffsets.withUnsafeBufferPointer { offsetBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!, offsets = offsetBuffer.baseAddress!
        let taps = offsetBuffer.count
        parallelChunks(planes, context, minimumChunk: max(1, 2048 / max(1, plane))) { range in
            var scratch = uninitialisedFloats(layout.count)
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                let planesBase = scratchBuffer.baseAddress!
                for index in range {
                    layout.build(from: source + index * height * width, height: height, width: width,
                                 padTop: geometry.padY, padLeft: geometry.padX, fill: fill, into: planesBase)
                    let base = UnsafePointer(planesBase), outputPlane = destination + index * plane
                    @inline(__always) func store(_ value: Tile, _ tile: TileCursor) {
                        let column = tile.column * lanes, position = tile.row * outputWidth + column
                        let valid = min(lanes, outputWidth - column)
                        let result = divisors.map { value / loadTile($0 + position, count: valid) } ?? value
                        storeTile(result, to: outputPlane + position, count: valid)
                    }
                    var cursor = TileCursor(tilesPerRow: tilesPerRow)
                    var tile = 0
                    while tile + 4 <= tileCount {
                        let tile0 = cursor.next(), tile1 = cursor.next(), tile2 = cursor.next(), tile3 = cursor.next()
                        let base0 = base + layout.tileBase(tile0), base1 = base + layout.tileBase(tile1)
                        let base2 = base + layout.tileBase(tile2), base3 = base + layout.tileBase(tile3)
                        var value0 = start, value1 = start, value2 = start, value3 = start
                        for tap in 0..<taps {
                            let offset = offsets[tap]
                            value0 = combine(value0, base0.tile(at: offset))
                            value1 = combine(value1, base1.tile(at: offset))
                            value2 = combine(value2, base2.tile(at: offset))
                            value3 = combine(value3, base3.tile(at: offset))
                        }
                        store(value0, tile0); store(value1, tile1); store(value2, tile2); store(value3, tile3)
                        tile += 4
                    }
                    while tile < tileCount {
                        let tile0 = cursor.next()
                        let base0 = base + layout.tileBase(tile0)
                        var value0 = start
                        for tap in 0..<taps { value0 = combine(value0, base0.tile(at: offsets[tap])) }
                        store(value0, tile0)
                        tile += 1
                    }
                }
            }
        }
    } } }
    return output
}

/// A window pool with a horizontal stride of 1 or 2, separably: per input row, the maximum (or sum) over each
/// window's columns, then per output row the maximum (or sum) of those over the window's rows: KH + KW
/// operations per output instead of KH · KW, and one row at a time copied into a padded line instead of
/// the whole plane into phase planes. A stride-2 row is read as double-width vectors split into even and
/// odd lanes. The maximum keeps the first of equal values in each pass, so it is the first maximum in
/// (ky, kx) order, as the tap-by-tap loop (and PyTorch) finds it, bit for bit; sums are added row by row
/// (within a row in kx order, then the rows in ky order), a different rounding from the tap-by-tap order.
private func separablePool(_ input: Tensor, _ geometry: PoolGeometry, maximum: Bool, divisors: UnsafePointer<Float>?,
                           context: KernelContext) -> Tensor {
    let (outputHeight, outputWidth) = geometry.outputSize(height: input.height, width: input.width)
    let planes = input.batch * input.channels, plane = outputHeight * outputWidth
    var output = Tensor(shape: [input.batch, input.channels, outputHeight, outputWidth], storage: uninitialisedFloats(planes * plane))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        // 3x3, stride 1, padding 1 (the branch pools of GoogLeNet and Inception): the plane as one run of vectors.
        let flat = geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideY == 1 && geometry.strideX == 1
            && geometry.padY == 1 && geometry.padX == 1 && outputHeight == input.height && outputWidth == input.width
        let strided = geometry.strideX == 2 && stridedPoolUnit > 0
        parallelChunks(planes, context, minimumChunk: max(1, 2048 / max(1, plane))) { range in
            if strided {
                stridedPlanes(source, destination, range, geometry, height: input.height, width: input.width, maximum: maximum,
                              divisors: divisors)
                return
            }
            switch (flat, maximum) {
            case (true, true): flatSamePlanes(MaximumLanes.self, source, destination, range, height: input.height, width: input.width, divisors: nil)
            case (true, false): flatSamePlanes(SumLanes.self, source, destination, range, height: input.height, width: input.width, divisors: divisors)
            case (false, true):
                separablePlanes(MaximumLanes.self, source, destination, range, geometry, height: input.height, width: input.width, divisors: nil)
            case (false, false):
                separablePlanes(SumLanes.self, source, destination, range, geometry, height: input.height, width: input.width, divisors: divisors)
            }
        }
    } }
    return output
}

/// How a window pool combines its taps: a specialised loop per operation, with no test of which one inside it.
private protocol PoolLanes {
    static var fill: Float { get }
    static func combine(_ value: Tile, _ tap: Tile) -> Tile
}
/// A tap replaces the running maximum only when strictly greater (padding, -inf, never wins).
private enum MaximumLanes: PoolLanes {
    static var fill: Float { -.infinity }
    @inline(__always) static func combine(_ value: Tile, _ tap: Tile) -> Tile { value.replacing(with: tap, where: tap .> value) }
}
private enum SumLanes: PoolLanes {
    static var fill: Float { 0 }
    @inline(__always) static func combine(_ value: Tile, _ tap: Tile) -> Tile { value + tap }
}

/// separablePool's work on the planes `range` (N·C planes of H x W → OH x OW), with buffers of its own.
@inline(never)
private func separablePlanes<Operation: PoolLanes>(_: Operation.Type, _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>,
                                                   _ range: Range<Int>, _ geometry: PoolGeometry, height: Int, width: Int,
                                                   divisors: UnsafePointer<Float>?) {
    typealias Line = WinogradLine   // twice Tile's lanes (Winograd.swift), for stride-2 rows
    let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
    let lanes = Tile.scalarCount, plane = outputHeight * outputWidth
    let strideX = geometry.strideX, strideY = geometry.strideY, padX = geometry.padX, padY = geometry.padY
    let kernelWidth = geometry.kernelWidth, kernelHeight = geometry.kernelHeight
    let rowLength = (outputWidth + lanes - 1) / lanes * lanes                  // a row of window columns
    let lineLength = rowLength * strideX + kernelWidth + 2 * lanes + padX + width   // every load stays inside
    let start = Tile(repeating: Operation.fill)
    // The plane's rows, each inside a line of fill (padding, and past the right edge), built before they are read.
    let lines = UnsafeMutablePointer<Float>.allocate(capacity: height * lineLength)
    let rows = UnsafeMutablePointer<Float>.allocate(capacity: height * rowLength)
    defer { lines.deallocate(); rows.deallocate() }
    lines.initialize(repeating: Operation.fill, count: height * lineLength)   // each plane overwrites only the inside
    for index in range {
        let inputPlane = source + index * height * width, outputPlane = destination + index * plane
        for y in 0..<height { copyFloats(from: inputPlane + y * width, to: lines + y * lineLength + padX, count: width) }
        // Along the rows: rows[y][ox] = combination of line[ox · strideX + kx], kx in order.
        for y in 0..<height {
            let line = UnsafePointer(lines + y * lineLength), row = rows + y * rowLength
            var column = 0
            while column < outputWidth {
                var value = start
                if strideX == 1 {
                    for kx in 0..<kernelWidth { value = Operation.combine(value, line.tile(at: column + kx)) }
                } else {
                    for kx in 0..<kernelWidth {
                        value = Operation.combine(value, evenLanes(UnsafeRawPointer(line + 2 * column + kx).loadUnaligned(as: Line.self)))
                    }
                }
                UnsafeMutableRawPointer(row + column).storeBytes(of: value, as: Tile.self)
                column += lanes
            }
        }
        // Down the rows: the window's input rows inside the plane, in ky order.
        for oy in 0..<outputHeight {
            let firstRow = oy * strideY - padY
            let taps = max(0, -firstRow)..<min(kernelHeight, height - firstRow)
            var column = 0
            while column < outputWidth {
                var value = start
                for ky in taps { value = Operation.combine(value, UnsafePointer(rows).tile(at: (firstRow + ky) * rowLength + column)) }
                let position = oy * outputWidth + column, valid = min(lanes, outputWidth - column)
                if let divisors { value = value / loadTile(divisors + position, count: valid) }
                if position + lanes <= plane {   // a vector running past its row is overwritten by the next row's
                    UnsafeMutableRawPointer(outputPlane + position).storeBytes(of: value, as: Tile.self)
                } else {
                    storeTile(value, to: outputPlane + position, count: valid)
                }
                column += lanes
            }
        }
    }
}

/// separablePool's work at horizontal stride 2 on the planes `range` where the CPU has the build's vector unit:
/// separablePlanes' operations in its order, in C (CPooling): the rows read straight from the input with masked loads
/// (the fill where a window hangs past the row: no padded copy of the row), split into even and odd columns by
/// one two-register shuffle per 16 (or 8) outputs and tap pair.
private func stridedPlanes(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                           _ geometry: PoolGeometry, height: Int, width: Int, maximum: Bool, divisors: UnsafePointer<Float>?) {
    let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
    let lanes = stridedPoolUnit == 2 ? 16 : 8, rowLength = (outputWidth + lanes - 1) / lanes * lanes
    let usedRows = min(height, (outputHeight - 1) * geometry.strideY - geometry.padY + geometry.kernelHeight)
    let rows = UnsafeMutablePointer<Float>.allocate(capacity: max(1, usedRows) * rowLength)
    defer { rows.deallocate() }
    carcinoma_pool_stride2(source + range.lowerBound * height * width, destination + range.lowerBound * outputHeight * outputWidth,
                           range.count, height, width, geometry.kernelHeight, geometry.kernelWidth, geometry.strideY,
                           geometry.padY, geometry.padX, outputHeight, outputWidth, maximum ? 0 : 1, divisors, rows, stridedPoolUnit)
}

/// separablePool's 3x3 window at stride 1 with padding 1 on the planes `range`, each plane taken as one run of
/// vectors rather than row by row: a 14x14 plane is 13 vectors, not 14 rows of a 16-lane tile with 2 lanes
/// used, and a 7x7 one 4, not 7 (the row-by-row pass spent most of its time on the per-row copies and
/// partial vectors of such planes: 3.6x ONNX Runtime's time on GoogLeNet's 512 x 14 x 14). Per vector of the
/// plane, the left and right neighbours are the vectors one value before and after it, replaced by the fill where
/// a lane's column is the first or last of its row; then the row above and below (the row pass's results one row
/// before and after, which hold the fill outside the plane: the slack around them is never written, and past the
/// plane's last value the row pass combines fill only). The operations are separablePlanes', in its order: along the row
/// fill ⊕ left ⊕ centre ⊕ right, down the rows fill ⊕ above ⊕ centre ⊕ below, where the fill stands for a row
/// outside the plane (max(-inf, -inf) = -inf and 0 + 0 = 0 leave the start as it is; a sum started at +0 is never
/// -0, so adding the fill +0 after it is exact): the same bits.
@inline(never)
private func flatSamePlanes<Operation: PoolLanes>(_: Operation.Type, _ source: UnsafePointer<Float>,
                                                  _ destination: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                                                  height: Int, width: Int, divisors: UnsafePointer<Float>?) {
    typealias Mask = SIMDMask<Tile.MaskStorage>
    let lanes = Tile.scalarCount, plane = height * width, vectors = (plane + lanes - 1) / lanes
    let fill = Tile(repeating: Operation.fill)
    // Which lanes of each vector have a left and a right neighbour in their row (the same for every plane).
    var left = [Mask](repeating: Mask(repeating: false), count: vectors), right = left
    for v in 0..<vectors {
        for lane in 0..<lanes {
            let x = (v * lanes + lane) % width
            left[v][lane] = x > 0; right[v][lane] = x < width - 1
        }
    }
    // The plane with one vector of fill before and after it; the row pass's results with a row and a vector of
    // fill on either side.
    let padded = UnsafeMutablePointer<Float>.allocate(capacity: (vectors + 2) * lanes)
    let rowPass = UnsafeMutablePointer<Float>.allocate(capacity: (vectors + 2) * lanes + 2 * width)
    defer { padded.deallocate(); rowPass.deallocate() }
    padded.initialize(repeating: Operation.fill, count: (vectors + 2) * lanes)
    rowPass.initialize(repeating: Operation.fill, count: (vectors + 2) * lanes + 2 * width)
    let inside = UnsafePointer(padded + lanes), rows = rowPass + width + lanes
    left.withUnsafeBufferPointer { left in right.withUnsafeBufferPointer { right in
        for index in range {
            copyFloats(from: source + index * plane, to: padded + lanes, count: plane)
            for v in 0..<vectors {
                let i = v * lanes
                let before = inside.tile(at: i - 1).replacing(with: fill, where: .!left[v])
                let after = inside.tile(at: i + 1).replacing(with: fill, where: .!right[v])
                let value = Operation.combine(Operation.combine(Operation.combine(fill, before), inside.tile(at: i)), after)
                UnsafeMutableRawPointer(rows + i).storeBytes(of: value, as: Tile.self)
            }
            let outputPlane = destination + index * plane, combined = UnsafePointer(rows)
            for v in 0..<vectors {
                let i = v * lanes
                var value = Operation.combine(Operation.combine(Operation.combine(fill, combined.tile(at: i - width)),
                                                                combined.tile(at: i)), combined.tile(at: i + width))
                let valid = min(lanes, plane - i)
                if let divisors { value = value / loadTile(divisors + i, count: valid) }
                if valid == lanes {
                    UnsafeMutableRawPointer(outputPlane + i).storeBytes(of: value, as: Tile.self)
                } else {
                    storeTile(value, to: outputPlane + i, count: valid)
                }
            }
        }
    } }
}

/// N x C x H x W → N x C x 1 x 1: each plane summed in 16 lanes (then across them), divided by H·W.
public func globalAveragePool(_ input: Tensor, context: KernelContext = .allCores) -> Tensor {
    let planes = input.batch * input.channels, plane = input.height * input.width
    var output = Tensor(shape: [input.batch, input.channels, 1, 1], storage: uninitialisedFloats(planes))
    input.storage.withUnsafeBufferPointer { inputBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(planes, context, minimumChunk: max(1, 8192 / max(1, plane))) { range in
            for index in range {
                let values = source + index * plane
                var sum0 = Vector(), sum1 = Vector()
                var i = 0
                while i + 2 * Vector.scalarCount <= plane {
                    sum0 += values.vector(at: i)
                    sum1 += values.vector(at: i + Vector.scalarCount)
                    i += 2 * Vector.scalarCount
                }
                while i < plane {
                    sum0 += loadVector(values, at: i, count: plane)
                    i += Vector.scalarCount
                }
                destination[index] = (sum0 + sum1).sum() / Float(plane)
            }
        }
    } }
    return output
}
