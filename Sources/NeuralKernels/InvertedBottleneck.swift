// The expansion and the depthwise convolution of an inverted-bottleneck (MBConv) block in one pass, band by band:
//
//   input N x C x H x W → 1x1 expand (C → E) + activation → N x E x H x W
//                       → depthwise KH x KW, stride s + activation → N x E x OH x OW
//
// Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018 (arXiv:1801.04381),
// §5.1 "Memory efficient inference": the expanded tensor need never exist whole. In EfficientNet-Lite0 at 224 the
// first one is 96 x 112 x 112 floats (4.8 MB, more than a core's L2): written by the 1x1 GEMM and read back by the
// depthwise kernel, it made both layers wait on memory. Here a piece of work is a band of output rows of one image:
//  1. the expanded rows the band's windows read (all E channels, the band's rows and the window's halo) are
//     computed by the packed GEMM (PackedGemm.swift) into a buffer of about 512 KiB, then finished (bias,
//     activation) as conv2d finishes a 1x1 layer (in the GEMM's registers on AVX-512, GemmEpilogue);
//  2. each channel of the buffer is depthwise-convolved by the tiles of Depthwise.swift, with the band as the
//     input plane (its top padding is the image's for the first band, none after; rows past the image are the
//     same zero padding).
// Consecutive bands of one worker share their halo rows: those are moved to the front of the buffer, not
// recomputed (a 5x5 window at stride 1 shares 4 rows).
//
// The result is bit-identical to conv2d(conv2d(x, expand, activation: a), depthwise, activation: b): the packed
// GEMM's sum for an element depends on K only (not on how many columns a call has), the output pass on the element
// only, and the depthwise kernel reads the same values in the same order. So it is independent of the bands, the
// thread count and the batch, like the two layers it replaces. Bands are taken only where they pay (see
// expandedDepthwise); elsewhere the two layers run one after the other.

import Foundation

/// How expandedDepthwise runs: in bands where that pays (`automatic`), always in bands of a given number of output
/// rows (`rows`, for the tests), or as the two convolutions one after the other (`separate`).
public enum ExpansionBanding: Sendable, Equatable {
    case automatic, separate
    case rows(Int)
}

/// conv2d(conv2d(input, expand, activation: expandActivation), depthwise, activation: activation), bit for bit,
/// computed in bands of rows (see the header). `expand` must be a 1x1, stride-1, unpadded, ungrouped convolution
/// and `depthwise` one filter per channel of its output; other layers are run one after the other through conv2d.
/// `.automatic` takes bands only for a strided depthwise layer whose expanded input is large (at least 2^20 floats
/// per image, 4 MiB: more than a core's L2). Measured on an Emerald Rapids Xeon, 2 threads, Lite0's first expansion
/// (16 → 96 at 112 x 112, 3x3 stride 2) took 0.55 ms banded against 0.82 ms for the two layers; at stride 1
/// (halo rows kept but more bands) or with an expanded input that fits in L2 (one band, one thread) banding was
/// no faster or slower.
/// input N x C x H x W → N x E x OH x OW.
public func expandedDepthwise(_ input: Tensor, expand: Conv2D, expandActivation: Activation,
                              depthwise: Conv2D, activation: Activation, banding: ExpansionBanding = .automatic,
                              context: KernelContext = .allCores) -> Tensor {
    let e = expand.geometry, g = depthwise.geometry, expanded = expand.outChannels
    let pointwise = e.kernelHeight == 1 && e.kernelWidth == 1 && e.strideY == 1 && e.strideX == 1 && e.groups == 1
        && e.padTop == 0 && e.padLeft == 0 && e.padBottom == 0 && e.padRight == 0
    let perChannel = depthwise.inChannels == expanded && depthwise.outChannels == expanded && g.groups == expanded
    precondition(input.channels == expand.inChannels, "expand expects \(expand.inChannels) channels, got \(input.channels)")
    let (outputHeight, outputWidth) = g.outputSize(height: input.height, width: input.width)
    precondition(outputHeight > 0 && outputWidth > 0, "depthwise output would be empty for a \(input.height)x\(input.width) input")
    let bandRows: Int
    switch banding {
    case .separate: bandRows = 0
    case let .rows(rows): bandRows = max(1, min(rows, outputHeight))
    case .automatic:
        let large = g.strideY > 1 && expanded * input.height * input.width >= 1 << 20
        bandRows = large ? automaticBandRows(expanded: expanded, width: input.width, geometry: g, outputHeight: outputHeight) : 0
    }
    guard pointwise && perChannel && bandRows > 0 else {
        return conv2d(conv2d(input, expand, activation: expandActivation, context: context), depthwise,
                      activation: activation, context: context)
    }
    var output = Tensor(shape: [input.batch, expanded, outputHeight, outputWidth],
                        storage: uninitialisedFloats(input.batch * expanded * outputHeight * outputWidth))
    if Tile.scalarCount > 8 && outputWidth <= 8 {
        expandedDepthwiseBands(SIMD8<Float>.self, input, expand: expand, expandActivation: expandActivation,
                               depthwise: depthwise, activation: activation, bandRows: bandRows, into: &output, context: context)
    } else {
        expandedDepthwiseBands(Tile.self, input, expand: expand, expandActivation: expandActivation,
                               depthwise: depthwise, activation: activation, bandRows: bandRows, into: &output, context: context)
    }
    return output
}

/// Output rows per band: as many as keep the band's expanded rows within about 512 KiB (131,072 floats: the
/// buffer, one channel's phase planes and the GEMM's packed columns stay in L2 together), at least one.
private func automaticBandRows(expanded: Int, width: Int, geometry g: ConvGeometry, outputHeight: Int) -> Int {
    let window = (g.kernelHeight - 1) * g.dilationY + 1
    let budgetRows = max(window, 131_072 / max(1, expanded * width))
    return min(outputHeight, max(1, (budgetRows - window) / g.strideY + 1))
}

private func expandedDepthwiseBands<Lanes: DepthwiseLanes>(
    _ lanesType: Lanes.Type, _ input: Tensor, expand: Conv2D, expandActivation: Activation,
    depthwise: Conv2D, activation: Activation, bandRows: Int, into output: inout Tensor, context: KernelContext) {
    let g = depthwise.geometry, expanded = expand.outChannels
    let height = input.height, width = input.width, plane = height * width
    let outputHeight = output.height, outputWidth = output.width
    let window = (g.kernelHeight - 1) * g.dilationY + 1, strideY = g.strideY
    let taps = g.kernelHeight * g.kernelWidth

    let bands = (outputHeight + bandRows - 1) / bandRows
    let capacityRows = min(height, (bandRows - 1) * strideY + window)
    let channelStride = capacityRows * width   // floats per channel in the band buffer

    // Phase planes and tap offsets for a full band and for the last, shorter one.
    func layout(_ rows: Int) -> PhasePlanes {
        PhasePlanes(outputHeight: rows, outputWidth: outputWidth, kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth,
                    strideY: strideY, strideX: g.strideX, dilationY: g.dilationY, dilationX: g.dilationX,
                    lanes: Lanes.scalarCount)
    }
    func tapOffsets(_ layout: PhasePlanes) -> [Int] {
        var offsets = [Int]()
        for ky in 0..<g.kernelHeight { for kx in 0..<g.kernelWidth { offsets.append(layout.tapOffset(ky: ky, kx: kx, dilationY: g.dilationY)) } }
        return offsets
    }
    let rowBlockedWindow = DepthwisePlane<Lanes>.rowBlockedWindow(g)
    let lastRows = outputHeight - (bands - 1) * bandRows
    let fullLayout = layout(bandRows), lastLayout = layout(lastRows)
    let fullOffsets = tapOffsets(fullLayout), lastOffsets = tapOffsets(lastLayout)

    let packed = expand.packedWeights.values(for: context.gemmKernel) {
        PackedMatrix(expand.weight, rows: expanded, depth: expand.inChannels, kernel: context.gemmKernel)
    }
    let count = input.batch * bands
    // Contiguous runs of about count / (2 · threads) bands, so that most bands find their halo in the buffer.
    let run = (count + 2 * context.threadCount - 1) / (2 * context.threadCount)

    input.storage.withUnsafeBufferPointer { inputBuffer in
    expand.bias.withUnsafeBufferPointer { expandBias in
    depthwise.weight.withUnsafeBufferPointer { depthwiseWeights in
    depthwise.bias.withUnsafeBufferPointer { depthwiseBias in
    fullOffsets.withUnsafeBufferPointer { fullOffsetBuffer in
    lastOffsets.withUnsafeBufferPointer { lastOffsetBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(count, context, minimumChunk: max(1, run)) { items in
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: expanded * channelStride)
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: channelStride))
            let planes = UnsafeMutablePointer<Float>.allocate(capacity: fullLayout.count)
            defer { rows.deallocate(); workspace.deallocate(); planes.deallocate() }
            var heldImage = -1, held = 0..<0   // the expanded rows in `rows`, of image heldImage
            for item in items {
                let image = item / bands, band = item % bands
                let first = band * bandRows, last = min(outputHeight, first + bandRows)   // output rows
                // Expanded rows the band's windows read, within the image.
                let top = max(0, first * strideY - g.padTop)
                let bottom = max(top, min(height, (last - 1) * strideY - g.padTop + window))
                // 1. Keep the rows shared with the previous band, compute the others.
                var computed = top
                if heldImage == image && held.contains(top) {
                    let kept = min(held.upperBound, bottom) - top
                    if top > held.lowerBound {
                        for channel in 0..<expanded {
                            let line = rows + channel * channelStride
                            line.update(from: line + (top - held.lowerBound) * width, count: kept * width)
                        }
                    }
                    computed = top + kept
                }
                if computed < bottom {
                    let columns = (bottom - computed) * width, offset = (computed - top) * width
                    // Bias and activation in the GEMM's registers where the kernel can (PackedGemm.swift), else here.
                    let finished = packedGemm(packed, rows: 0..<expanded, columns: columns,
                                              b: source + image * expand.inChannels * plane + computed * width, ldb: plane,
                                              c: rows + offset, ldc: channelStride, accumulate: false, workspace: workspace,
                                              epilogue: GemmEpilogue(bias: expandBias.baseAddress!, residual: nil, residualStride: 0,
                                                                     activation: expandActivation))
                    if !finished {
                        for channel in 0..<expanded {
                            finishRow(rows + channel * channelStride + offset, count: columns, bias: expandBias[channel],
                                      residual: nil, activation: expandActivation)
                        }
                    }
                }
                heldImage = image
                held = top..<bottom
                // 2. The depthwise convolution of every channel over the band.
                let bandHeight = last - first, isFull = bandHeight == bandRows
                let layout = isFull ? fullLayout : lastLayout
                let offsets = (isFull ? fullOffsetBuffer : lastOffsetBuffer).baseAddress!
                let padTop = g.padTop + top - first * strideY
                for channel in 0..<expanded {
                    layout.build(from: rows + channel * channelStride, height: bottom - top, width: width,
                                 padTop: padTop, padLeft: g.padLeft, fill: 0, into: planes)
                    let tiles = DepthwisePlane<Lanes>(
                        input: UnsafePointer(planes),
                        output: destination + ((image * expanded + channel) * outputHeight + first) * outputWidth,
                        kernel: depthwiseWeights.baseAddress! + channel * taps, offsets: offsets, taps: taps,
                        start: Lanes(repeating: depthwiseBias[channel]), layout: layout, outputWidth: outputWidth,
                        plane: bandHeight * outputWidth, activation: activation, window: rowBlockedWindow)
                    tiles.run(tileCount: bandHeight * layout.tilesPerRow)
                }
            }
        }
    } } } } } } }
}
