// Pooling kernels, PyTorch semantics (PoolGeometry):
//   maxPool2d, avgPool2d   N x C x H x W → N x C x OH x OW
//   globalAveragePool      N x C x H x W → N x C x 1 x 1
//
// Window pools reuse the depthwise kernel's phase planes (Depthwise.swift): each input plane is
// copied once into a padded, column-phase-split layout filled with -inf (max) or 0 (average), so
// every window tap of a tile of neighbouring outputs (8 or 16, `Tile`) is one contiguous load, and ceil-mode
// windows hanging past the input read the fill. Planes are split across cores.

import Foundation

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
    let fill: Float = maximum ? -.infinity : 0
    @inline(__always) func combine(_ value: Tile, _ tap: Tile) -> Tile {
        maximum ? value.replacing(with: tap, where: tap .> value) : value + tap
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
