// Depthwise convolution with channels in the vector lanes, for small planes (see `DepthwiseLayout.automatic`):
//   input N x IC x H x W, weight OC x 1 x KH x KW → N x OC x OH x OW, as depthwiseConvolution (Depthwise.swift).
//
// The layout of ONNX Runtime's NCHWc depthwise kernels (MLAS, MlasConvDepthwiseFloatKernel: a block of channels in
// each vector, the same tap weight per lane of its channel). The planes kernel (Depthwise.swift) puts output
// columns in the lanes: a 7 x 7 plane then fills 7 lanes of 8, every channel rebuilds its own padded plane, and a
// stride-2 plane is built by a scalar loop; those costs, not the taps, dominated Lite0's small layers. Here, per
// (image, group of `Tile.scalarCount` output channels), on one thread (groups are split across cores):
//  1. The group's input planes are transposed once into a zero-padded scratch [paddedHeight][paddedWidth][lanes]:
//     padded pixel (r, c) is input pixel (r - padTop, c - padLeft). Output (oy, ox)'s tap (ky, kx) reads the vector
//     at padded pixel (oy·sy + ky·dy, ox·sx + kx·dx): padding, TF-SAME asymmetric padding, stride and dilation are
//     offsets. The padding border is zeroed once per worker's piece (every group writes the same interior). The transposes
//     are in-register 16x16 (AVX-512) or 8x8 (AVX) blocks in C (CDepthwiseLanes: Swift's SIMD lane moves compiled to
//     scalar inserts; with plain strided loads and stores Lite0's 7x7 layers took 2-2.4x as long, more in the
//     transposes than in the taps), over 16 (8) consecutive pixels of the planes, each stored at its padded position.
//  2. Output pixels (row-major) run in groups of up to eight (independent sums hide the add latency,
//     `ChannelLaneGroup`): bias, then taps in (ky, kx) order, one multiply and one add per tap, not fused (taps that
//     read padding add exactly 0): each lane is the naive twin's sum, bit for bit, as in the planes kernel.
//  3. Without a residual the activation is applied in registers; the [pixel][lanes] results are transposed back
//     into each channel's output plane (`outputRow`, the same C transposes), where a residual and the activation are
//     then applied in one vector pass (fusedPass), as the planes kernel does.
// The weights are transposed once per layer to [group][tap][lanes] and the biases to [group][lanes]
// (`Conv2D.channelLaneWeights`, kept with the layer like its packed GEMM weights: transposing a group's 25 taps
// for each image cost 9% of a 1152-channel 5x5 layer at 7x7). A last group of fewer channels than lanes computes
// its missing lanes from zero inputs, weights and bias and never stores them.

import CDepthwiseLanes
import Foundation

/// The vector unit of the transposes (CDepthwiseLanes), asked once: CPUID may trap to the hypervisor.
private let laneTransposeUnit = carcinoma_lanes_vector_unit()

/// Which depthwise kernel runs: `.automatic` (the rule of `DepthwiseLayout.prefersChannelLanes`), each channel's
/// plane in tiles of output columns (`.planes`, Depthwise.swift), or a group of channels in the lanes
/// (`.channelLanes`, this file). Every layout gives the same bits; the tests force each one.
public enum DepthwiseLayout: Sendable, Equatable {
    case automatic, planes, channelLanes

    /// The channel-lane kernel for output rows narrower than 24, or, for a strided window, 48 with 16 lanes (32 with 8):
    /// there the planes kernel leaves tile lanes empty, rebuilds each channel's padded plane, and (strided) splits it
    /// into phases lane by lane. Measured per layer on an Emerald Rapids Xeon, one thread, channel lanes against planes,
    /// 16 lanes: 2.8-5x on Lite0's and V2-S's 7-wide layers (1152 5x5 and 3x3, 672 5x5 stride 2 from 14, 1536 3x3, 960
    /// 3x3 stride 2), 3.2-3.3x on 3x3 stride 2 from 28, 1.6-1.8x on 14-wide stride-1 layers, 1.25x on 16-wide ones,
    /// 1.3-1.7x strided to 16, 28 and 32 wide; even strided to 64 wide; 0.65-0.9x on stride 1 at 28 wide and more,
    /// where the planes kernel's row bands load each input vector once for several outputs. 8 lanes (the haswell build
    /// on the same machine): 1.1-2.9x below 24 wide, 1.33x strided to 28, but 0.73x strided to 32; and every 5x5
    /// window at stride 1, whatever the width (2.4-2.9x: Lite0's 240 5x5 at 28 and 64 wide, 672 5x5 at 32 wide),
    /// where the planes kernel's 5-row bands (DepthwiseRows<2, 5, SIMD8>) outgrow AVX2's sixteen ymm registers.
    static func prefersChannelLanes(_ geometry: ConvGeometry, outputWidth: Int) -> Bool {
        outputWidth < 24 || (geometry.strideX > 1 && outputWidth < (Tile.scalarCount > 8 ? 48 : 32))
            || (Tile.scalarCount == 8 && geometry.strideX == 1 && geometry.strideY == 1 && geometry.kernelWidth == 5)
    }
}

/// conv2d for a depthwise layer (one input channel per group) with the kernel chosen by `layout`, into channels
/// channelOffset ..< channelOffset + OC of `output`: the same result as conv2d, bit for bit, whatever the layout.
public func depthwiseConv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity, residual: Tensor? = nil,
                            layout: DepthwiseLayout, into output: inout Tensor, channelOffset: Int,
                            context: KernelContext = .allCores) {
    let geometry = layer.geometry
    precondition(input.channels == layer.inChannels && geometry.groups == layer.inChannels
                 && layer.outChannels % layer.inChannels == 0, "depthwiseConv2d expects one input channel per group")
    let (outputHeight, outputWidth) = checkedOutputSize(input, layer, residual: residual, output: output,
                                                        channelOffset: channelOffset, kind: "depthwise")
    let residualStorage = residual?.storage ?? []
    let totalChannels = output.channels, plane = outputHeight * outputWidth
    input.storage.withUnsafeBufferPointer { inputBuffer in
    layer.weight.withUnsafeBufferPointer { weightBuffer in
    layer.bias.withUnsafeBufferPointer { biasBuffer in
    residualStorage.withUnsafeBufferPointer { residualBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let destination = outputBuffer.baseAddress!
        depthwiseConvolution(source: inputBuffer.baseAddress!, weights: weightBuffer.baseAddress!, bias: biasBuffer.baseAddress!,
                             laneWeights: { layer.channelLaneWeights(lanes: Tile.scalarCount) },
                             residual: residual == nil ? nil : residualBuffer.baseAddress,
                             batch: input.batch, inChannels: input.channels, height: input.height, width: input.width,
                             outChannels: layer.outChannels, geometry: geometry, outputHeight: outputHeight, outputWidth: outputWidth,
                             outputRow: { destination + ($0 * totalChannels + channelOffset + $1) * plane },
                             activation: activation, context: context, layout: layout)
    } } } } }
}

/// depthwiseConvolution's arguments with the channels of a group in the lanes (see the header).
/// laneWeights: the layer's `channelLaneWeights(lanes: Tile.scalarCount)`.
func depthwiseChannelLanes(source: UnsafePointer<Float>, laneWeights: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                           batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, geometry: ConvGeometry,
                           outputHeight: Int, outputWidth: Int,
                           outputRow: (Int, Int) -> UnsafeMutablePointer<Float>,
                           activation: Activation, context: KernelContext) {
    let lanes = Tile.scalarCount
    let outPerGroup = outChannels / geometry.groups
    let taps = geometry.kernelHeight * geometry.kernelWidth
    let plane = outputHeight * outputWidth, inputPlane = height * width
    let paddedHeight = (outputHeight - 1) * geometry.strideY + (geometry.kernelHeight - 1) * geometry.dilationY + 1
    let paddedWidth = (outputWidth - 1) * geometry.strideX + (geometry.kernelWidth - 1) * geometry.dilationX + 1
    // The input pixels the windows read: rows 0 ..< insideRows, columns 0 ..< insideColumns (padded top/left by padTop/padLeft).
    let insideRows = max(0, min(height, paddedHeight - geometry.padTop))
    let insideColumns = max(0, min(width, paddedWidth - geometry.padLeft))
    var tapOffsets = [Int]()
    for ky in 0..<geometry.kernelHeight {
        for kx in 0..<geometry.kernelWidth {
            tapOffsets.append((ky * geometry.dilationY * paddedWidth + kx * geometry.dilationX) * lanes)
        }
    }
    let groupCount = (outChannels + lanes - 1) / lanes
    let rowWindow = DepthwisePlane<Tile>.rowBlockedWindow(geometry)
    let inputCount = paddedHeight * paddedWidth * lanes, outputCount = plane * lanes

    tapOffsets.withUnsafeBufferPointer { offsetBuffer in
    let offsets = offsetBuffer.baseAddress!
    // Items are group-major (item = group · batch + image): a worker's consecutive items of one group share its weights.
    parallelChunks(groupCount * batch, context) { items in
        var scratch = uninitialisedFloats(inputCount + outputCount + 16)
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            // From a 64-byte boundary: every pixel's vector is one whole cache line (whole 32-byte halves on AVX2); a
            // load split across two lines costs about twice as much.
            let padded = GemmBlocking.cacheLineAligned(scratchBuffer.baseAddress!)
            let results = padded + inputCount
            let interior = padded + (geometry.padTop * paddedWidth + geometry.padLeft) * lanes
            // The padding border is zeroed once and stays zero: every item rewrites the same interior (zeroing the whole
            // scratch for each worker's piece cost more than the gathers on planes of 32 x 32 outputs at stride 2).
            let rowFloats = paddedWidth * lanes
            let left = min(geometry.padLeft, paddedWidth) * lanes, right = min(geometry.padLeft + insideColumns, paddedWidth) * lanes
            for row in 0..<paddedHeight {
                let line = padded + row * rowFloats
                if row < geometry.padTop || row >= geometry.padTop + insideRows {
                    line.initialize(repeating: 0, count: rowFloats)
                } else {
                    line.initialize(repeating: 0, count: left)
                    (line + right).initialize(repeating: 0, count: rowFloats - right)
                }
            }
            var inputRows = [UnsafePointer<Float>?](repeating: nil, count: lanes)
            var outputRows = [UnsafeMutablePointer<Float>?](repeating: nil, count: lanes)
            for item in items {
                let group = item / batch, image = item % batch
                let first = group * lanes, count = min(lanes, outChannels - first)
                let groupWeights = laneWeights + group * (taps + 1) * lanes, groupBias = groupWeights + taps * lanes
                // 1. The group's input planes into the padded scratch's interior (one lane per channel).
                for lane in 0..<count {
                    inputRows[lane] = source + (image * inChannels + (first + lane) / outPerGroup) * inputPlane
                }
                carcinoma_lanes_gather(lanes, inputRows, count, insideRows * width, width, insideColumns, paddedWidth, interior,
                                       laneTransposeUnit)
                // 2. Output pixels in groups of at most eight, as even as possible (49 = 7 x 7, not 6 x 8 + 1: a lone
                //    sum waits on its adds).
                let pixels = ChannelLanePixels(
                    input: UnsafePointer(padded), output: results, weights: groupWeights, offsets: offsets,
                    taps: taps, start: groupBias.tile(at: 0),
                    rowStep: geometry.strideY * paddedWidth * lanes, columnStep: geometry.strideX * lanes,
                    activation: residual == nil ? activation : .identity, rowWindow: rowWindow)
                pixels.run(outputHeight: outputHeight, outputWidth: outputWidth)
                // 3. Back into each channel's output plane, then residual and activation while it is in cache.
                for lane in 0..<count { outputRows[lane] = outputRow(image, first + lane) }
                carcinoma_lanes_scatter(lanes, results, plane, outputRows, count, laneTransposeUnit)
                if let residual {
                    for lane in 0..<count {
                        let channel = first + lane, output = outputRow(image, channel)
                        fusedPass(from: output, bias: 0, residual: residual + (image * outChannels + channel) * plane, into: output,
                                  count: plane, activation: activation)
                    }
                }
            }
        }
    }
    }
}

/// One (image, channel group)'s output pixels for ChannelLaneGroup: the padded input, the [tap][lanes] weights and
/// the [pixel][lanes] results.
struct ChannelLanePixels {
    let input: UnsafePointer<Float>          // [paddedHeight][paddedWidth][lanes]
    let output: UnsafeMutablePointer<Float>  // [OH · OW][lanes]
    let weights: UnsafePointer<Float>        // [taps][lanes]
    let offsets: UnsafePointer<Int>          // taps, (ky, kx) order: each tap's offset from an output pixel's base
    let taps: Int
    let start: Tile                          // the group's biases
    let rowStep: Int                         // floats from output row oy's base to oy + 1's: sy · paddedWidth · lanes
    let columnStep: Int                      // sx · lanes
    let activation: Activation
    let rowWindow: Int                       // 3: a 3x3 window at stride 1 without dilation (ChannelLaneRow); else 0 or 5

    /// Every output pixel, row-major, in ⌈P / 8⌉ groups of as even sizes as possible.
    @inline(__always)
    func run(outputHeight: Int, outputWidth: Int) {
        if rowWindow == 3 {
            // Each output row in ⌈OW / 8⌉ groups of as even sizes as possible (14 = 7 + 7), each within its row.
            let groups = (outputWidth + 7) / 8
            for row in 0..<outputHeight {
                for group in 0..<groups {
                    let column = outputWidth * group / groups, first = row * outputWidth + column
                    switch outputWidth * (group + 1) / groups - column {
                    case 8: ChannelLaneRow<8, 3>.accumulate(self, row: row, column: column, first: first)
                    case 7: ChannelLaneRow<7, 3>.accumulate(self, row: row, column: column, first: first)
                    case 6: ChannelLaneRow<6, 3>.accumulate(self, row: row, column: column, first: first)
                    case 5: ChannelLaneRow<5, 3>.accumulate(self, row: row, column: column, first: first)
                    case 4: ChannelLaneRow<4, 3>.accumulate(self, row: row, column: column, first: first)
                    case 3: ChannelLaneRow<3, 3>.accumulate(self, row: row, column: column, first: first)
                    case 2: ChannelLaneRow<2, 3>.accumulate(self, row: row, column: column, first: first)
                    default: ChannelLaneRow<1, 3>.accumulate(self, row: row, column: column, first: first)
                    }
                }
            }
            return
        }
        let pixels = outputHeight * outputWidth, groups = (pixels + 7) / 8
        var cursor = TileCursor(tilesPerRow: outputWidth)
        for group in 0..<groups {
            let first = pixels * group / groups
            switch pixels * (group + 1) / groups - first {
            case 8: ChannelLaneGroup<8>.accumulate(self, &cursor, first: first)
            case 7: ChannelLaneGroup<7>.accumulate(self, &cursor, first: first)
            case 6: ChannelLaneGroup<6>.accumulate(self, &cursor, first: first)
            case 5: ChannelLaneGroup<5>.accumulate(self, &cursor, first: first)
            case 4: ChannelLaneGroup<4>.accumulate(self, &cursor, first: first)
            case 3: ChannelLaneGroup<3>.accumulate(self, &cursor, first: first)
            case 2: ChannelLaneGroup<2>.accumulate(self, &cursor, first: first)
            default: ChannelLaneGroup<1>.accumulate(self, &cursor, first: first)
            }
        }
    }
}

/// `Count` consecutive output pixels (row-major, from `cursor`; `first` is the first one's index) of a channel group:
/// Count independent sums, bias first and then taps in (ky, kx) order, one multiply and one add per tap.
enum ChannelLaneGroup<let Count: Int> {
    @inline(__always)
    static func accumulate(_ p: ChannelLanePixels, _ cursor: inout TileCursor, first: Int) {
        let lanes = Tile.scalarCount
        var bases = InlineArray<Count, UnsafePointer<Float>>(repeating: p.input)
        for i in 0..<Count {
            let pixel = cursor.next()
            bases[i] = p.input + pixel.row * p.rowStep + pixel.column * p.columnStep
        }
        var sums = InlineArray<Count, Tile>(repeating: p.start)
        for tap in 0..<p.taps {
            let weight = p.weights.tile(at: tap * lanes), offset = p.offsets[tap]
            for i in 0..<Count { sums[i] = sums[i] + weight * bases[i].tile(at: offset) }
        }
        for i in 0..<Count {
            UnsafeMutableRawPointer(p.output + (first + i) * lanes).storeBytes(of: Tile.activated(sums[i], p.activation), as: Tile.self)
        }
    }
}

/// `Count` consecutive output pixels of one output row (the first at `column`; `first` is its index in the plane) of a
/// K x K window at stride 1 without dilation: the Count + K - 1 input vectors of a window row are each loaded once and
/// used by every pixel whose window holds them (the loops unroll, and the loads of the same vector are one), where
/// ChannelLaneGroup loads every tap's vector anew. Each sum is the same: bias first, then its taps in (ky, kx) order,
/// one multiply and one add per tap. Taken for 3x3 windows: one thread, AMD Zen 4, 480 channels at 14x14 0.046 ->
/// 0.040-0.041 ms, 1152 at 7x7 0.032-0.033 -> 0.027; with 5x5 windows no faster at 7 and 14 wide and slower at 16
/// (1152 channels 0.257-0.261 -> 0.313-0.316 ms), so those keep ChannelLaneGroup.
enum ChannelLaneRow<let Count: Int, let K: Int> {
    @inline(__always)
    static func accumulate(_ p: ChannelLanePixels, row: Int, column: Int, first: Int) {
        let lanes = Tile.scalarCount
        let base = p.input + row * p.rowStep + column * p.columnStep
        var sums = InlineArray<Count, Tile>(repeating: p.start)
        for ky in 0..<K {
            let line = base + p.offsets[ky * K]
            for kx in 0..<K {
                let weight = p.weights.tile(at: (ky * K + kx) * lanes)
                for i in 0..<Count { sums[i] = sums[i] + weight * line.tile(at: (i + kx) * lanes) }
            }
        }
        for i in 0..<Count {
            UnsafeMutableRawPointer(p.output + (first + i) * lanes).storeBytes(of: Tile.activated(sums[i], p.activation), as: Tile.self)
        }
    }
}
