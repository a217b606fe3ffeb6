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
//     same zero padding); at stride 2 on AVX-512 by CDepthwiseLanes' stride-2 kernel, which reads the band's rows
//     where they are (no phase planes) and zeros where the window leaves the image, the same sums.
//  3. with the block's 1x1 projection (`invertedBottleneck`), the band's depthwise output goes to a second buffer
//     instead of the output tensor, and the projection (bias and the skip connection in its epilogue) runs on it
//     there, writing the band's rows of the block's output: the E-channel depthwise output is never written whole
//     and read back either.
// Consecutive bands of one worker share their halo rows: those are moved to the front of the buffer, not
// recomputed (a 5x5 window at stride 1 shares 4 rows).
//
// The result is bit-identical to conv2d(conv2d(x, expand, activation: a), depthwise, activation: b): the packed
// GEMM's sum for an element depends on K only (not on how many columns a call has), the output pass on the element
// only, and the depthwise kernel reads the same values in the same order. So it is independent of the bands, the
// thread count and the batch, like the two layers it replaces; with the projection, likewise conv2d(…, project,
// residual:) of it. Bands are taken only where they pay (see expandedDepthwise and invertedBottleneck); elsewhere
// the layers run one after the other.

import CDepthwiseLanes
import Foundation

/// How expandedDepthwise runs: in bands where that pays (`automatic`), always in bands of a given number of output
/// rows (`rows`, for the tests), or as the two convolutions one after the other (`separate`).
public enum ExpansionBanding: Sendable, Equatable {
    case automatic, separate
    case rows(Int)

    /// The output rows per band that `.automatic` takes for one image (0: the layers run one after the other): bands
    /// for a large expanded input (at least 2^20 floats) whose depthwise layer is strided or has the projection fused,
    /// and on AVX-512 for a 3x3 stride-1 block with its projection on rows at least 48 wide whose expanded input fills
    /// a core's L2 (2^18 floats); see expandedDepthwise and invertedBottleneck for the measurements. `coresApart` (the
    /// pool's threads on cores without a shared level-3 cache just now, `WorkerPool.coresApart`) adds every block with
    /// its projection on rows at least 28 wide whose expanded input holds at least 2^17 floats: there the
    /// separate layers' hand-offs between cores cost more than the bands' halo rows (invertedBottleneck).
    public static func automaticRows(expanded: Int, height: Int, width: Int, depthwise g: ConvGeometry,
                                     projected: Bool, coresApart: Bool = false) -> Int {
        let perImage = expanded * height * width
        let large = (g.strideY > 1 || projected) && perImage >= 1 << 20
        let wideThreeByThree = projected && g.strideY == 1 && width >= 48 && perImage >= 1 << 18
            && bandKernelWindow(g, lanes: 16) == 3
        let apart = coresApart && projected && width >= 28 && perImage >= 1 << 17
        guard large || wideThreeByThree || apart else { return 0 }
        let outputHeight = g.outputSize(height: height, width: width).0
        return automaticBandRows(expanded: expanded, width: width, geometry: g, outputHeight: outputHeight)
    }
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
    expandedDepthwise(input, expand: expand, expandActivation: expandActivation, depthwise: depthwise, activation: activation,
                      project: nil, residual: false, banding: banding, context: context)
}

/// The whole block without squeeze-and-excitation: conv2d(expandedDepthwise(input, …), project, residual: residual ?
/// input : nil), bit for bit. In bands, each band's depthwise output stays in a buffer and the 1x1 projection (bias and
/// the skip connection in its epilogue) runs on it there: the expanded block's output (E channels at the depthwise
/// layer's resolution) is never written whole and read back. `project` must be a 1x1, stride-1, unpadded, ungrouped
/// convolution of the E channels; residual needs its output to have input's shape. `.automatic` takes bands for a large
/// expanded input (at least 2^20 floats per image) at any stride, as the projection's input then stays in L2 too:
/// EfficientNet-Lite0 at 512 x 512 (its blocks at 256 x 256 and 128 x 128, the stride-1 ones now banded too; both
/// variants alternating pass by pass in one process, AMD Zen 4) took 0.937 of the time at one and at two threads; at
/// 224 x 224 (only the strided first block is that large) 0.998-1.001. On AVX-512 it also takes bands for a 3x3
/// stride-1 block on rows at least 48 wide whose expanded input fills a core's L2 (at least 2^18 floats per image;
/// Lite0's 24 → 144 → 24 at 56 x 56): each band's expanded and depthwise rows stay with the thread that computed them,
/// where the separate layers hand them across cores (the expansion splits pixels, the depthwise layer channels). AMD
/// Zen 4, two threads, the whole Lite0 224 pass, each process's fastest, medians: 6.90 ms against 7.24 in processes
/// whose vCPUs did not share a level-3 cache (BENCHMARKS.md, sessions 19 and 21), 4.66 against 4.62 where they did; one
/// thread 8.35-8.77 against 8.44-8.75. The 5x5 and 28-wide blocks lost 3-4% of the pass in bands, and at 512 x 512 the
/// 3x3 blocks at 32 x 32 2%, so those stay separate while the cores share a level-3 cache; while the pool finds them
/// apart (`WorkerPool.coresApart`) every block with its projection on rows at least 28 wide and at least 2^17 expanded
/// floats is banded: forced so with the vCPUs apart, the medians of the processes' fastest passes were 6.49 ms against
/// 6.83 for Lite0 224 and 26.7 against 31.0 for Lite0 512 (BENCHMARKS.md, session 21). Other precisions than float32
/// run the projection through conv2d. Without an expansion (`expand` nil: expand ratio 1, Lite0's first block) the
/// bands' depthwise layer reads the input's rows where they are: at 512 x 512 (32 channels at 256 x 256) 0.975-0.992 of
/// the pass time (paired). On AVX-512 such a block without a skip connection, its depthwise activation ReLU, ReLU6 or
/// none, runs instead in one pass at any size (`depthwisePointwise`), unless `banding` is `.separate`.
/// input N x C x H x W → N x out x OH x OW.
public func invertedBottleneck(_ input: Tensor, expand: Conv2D?, expandActivation: Activation,
                               depthwise: Conv2D, activation: Activation, project: Conv2D, residual: Bool,
                               banding: ExpansionBanding = .automatic, context: KernelContext = .allCores) -> Tensor {
    expandedDepthwise(input, expand: expand, expandActivation: expandActivation, depthwise: depthwise, activation: activation,
                      project: project, residual: residual, banding: banding, context: context)
}

private func expandedDepthwise(_ input: Tensor, expand: Conv2D?, expandActivation: Activation,
                               depthwise: Conv2D, activation: Activation, project: Conv2D?, residual: Bool,
                               banding: ExpansionBanding, context: KernelContext) -> Tensor {
    let g = depthwise.geometry, expanded = expand?.outChannels ?? input.channels
    let pointwise = expand.map { $0.geometry.isPointwise && $0.geometry.groups == 1 } ?? true
    let perChannel = depthwise.inChannels == expanded && depthwise.outChannels == expanded && g.groups == expanded
    if let expand {
        precondition(input.channels == expand.inChannels, "expand expects \(expand.inChannels) channels, got \(input.channels)")
    }
    if let project {
        precondition(project.inChannels == expanded && project.geometry.isPointwise && project.geometry.groups == 1,
                     "project must be a 1x1 convolution of the \(expanded) expanded channels")
    }
    let (outputHeight, outputWidth) = g.outputSize(height: input.height, width: input.width)
    precondition(outputHeight > 0 && outputWidth > 0, "depthwise output would be empty for a \(input.height)x\(input.width) input")
    // A block without expansion or skip connection, on AVX-512: depthwise and projection in one pass (no bands needed).
    if expand == nil, let project, !residual, perChannel, banding != .separate, context.precision == .float32,
       input.channels <= GemmBlocking.maximumDepthBlock,
       let clamp = bandKernelClamp(activation), bandKernelWindow(g, lanes: 16) != 0 {
        return depthwisePointwise(input, depthwise: depthwise, clamp: clamp, project: project,
                                  outputHeight: outputHeight, outputWidth: outputWidth, context: context)
    }
    let bandRows: Int
    switch banding {
    case .separate: bandRows = 0
    case let .rows(rows): bandRows = max(1, min(rows, outputHeight))
    case .automatic:
        bandRows = ExpansionBanding.automaticRows(expanded: expanded, height: input.height, width: input.width, depthwise: g,
                                                  projected: project != nil,
                                                  coresApart: context.threadCount > 1 && WorkerPool.shared.coresApart)
    }
    // The bands expand, and the fused projection runs, on fp32's packed GEMM only: other precisions run the expansion
    // through conv2d like every other ungrouped convolution, and keep conv2d's path for the projection.
    let float32 = context.precision == .float32
    let fusedProject = float32 ? project : nil
    guard pointwise && perChannel && bandRows > 0 && (float32 || expand == nil) else {
        let expandedInput = expand.map { conv2d(input, $0, activation: expandActivation, context: context) } ?? input
        let y = conv2d(expandedInput, depthwise, activation: activation, context: context)
        return project.map { conv2d(y, $0, residual: residual ? input : nil, context: context) } ?? y
    }
    let channels = fusedProject?.outChannels ?? expanded
    var output = Tensor(shape: [input.batch, channels, outputHeight, outputWidth],
                        storage: uninitialisedFloats(input.batch * channels * outputHeight * outputWidth))
    let skip = fusedProject != nil && residual ? input : nil
    if let skip { precondition(skip.shape == output.shape, "residual: input \(skip.shape), output \(output.shape)") }
    if Tile.scalarCount > 8 && outputWidth <= 8 {
        expandedDepthwiseBands(SIMD8<Float>.self, input, expand: expand, expandActivation: expandActivation,
                               depthwise: depthwise, activation: activation, project: fusedProject, residual: skip,
                               bandRows: bandRows, into: &output, context: context)
    } else {
        expandedDepthwiseBands(Tile.self, input, expand: expand, expandActivation: expandActivation,
                               depthwise: depthwise, activation: activation, project: fusedProject, residual: skip,
                               bandRows: bandRows, into: &output, context: context)
    }
    if let project, fusedProject == nil {
        return conv2d(output, project, residual: residual ? input : nil, context: context)
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
    _ lanesType: Lanes.Type, _ input: Tensor, expand: Conv2D?, expandActivation: Activation,
    depthwise: Conv2D, activation: Activation, project: Conv2D?, residual: Tensor?, bandRows: Int, into output: inout Tensor,
    context: KernelContext) {
    let g = depthwise.geometry, expanded = expand?.outChannels ?? input.channels
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
    // On AVX-512: straight from the rows (CDepthwiseLanes' carcinoma_depthwise_band), no planes.
    let rowWindow = bandKernelWindow(g, lanes: Lanes.scalarCount)
    // ReLU and ReLU6 in the kernel's registers; other activations in a pass over each channel's band afterwards.
    let clamp = bandKernelClamp(activation) ?? 0
    let lastRows = outputHeight - (bands - 1) * bandRows
    let fullLayout = layout(bandRows), lastLayout = layout(lastRows)
    let fullOffsets = tapOffsets(fullLayout), lastOffsets = tapOffsets(lastLayout)

    // Without an expansion (expand ratio 1) the depthwise kernel reads the input's rows where they are.
    let packed = expand?.packedMatrix(for: context.gemmKernel)
    let projectPacked = project?.packedMatrix(for: context.gemmKernel)
    // With the projection: each band's depthwise output, channel after channel (bandRows output rows each).
    let bandStride = bandRows * outputWidth, outputPlane = outputHeight * outputWidth
    let projectBias = project?.bias ?? []
    let count = input.batch * bands
    // Contiguous runs of about count / (2 · threads) bands, so that most bands find their halo in the buffer.
    let run = (count + 2 * context.threadCount - 1) / (2 * context.threadCount)

    input.storage.withUnsafeBufferPointer { inputBuffer in
    (expand?.bias ?? []).withUnsafeBufferPointer { expandBias in
    depthwise.weight.withUnsafeBufferPointer { depthwiseWeights in
    depthwise.bias.withUnsafeBufferPointer { depthwiseBias in
    fullOffsets.withUnsafeBufferPointer { fullOffsetBuffer in
    lastOffsets.withUnsafeBufferPointer { lastOffsetBuffer in
    projectBias.withUnsafeBufferPointer { projectBiasBuffer in
    (residual?.storage ?? []).withUnsafeBufferPointer { residualBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let source = inputBuffer.baseAddress!, destination = outputBuffer.baseAddress!
        parallelChunks(count, context, minimumChunk: max(1, run)) { items in
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: packed == nil ? 0 : expanded * channelStride)
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: max(channelStride, bandStride)))
            let planes = UnsafeMutablePointer<Float>.allocate(capacity: rowWindow == 0 ? fullLayout.count : 0)
            let bandOutput = UnsafeMutablePointer<Float>.allocate(capacity: project == nil ? 0 : expanded * bandStride)
            defer { rows.deallocate(); workspace.deallocate(); planes.deallocate(); bandOutput.deallocate() }
            var heldImage = -1, held = 0..<0   // the expanded rows in `rows`, of image heldImage
            for item in items {
                let image = item / bands, band = item % bands
                let first = band * bandRows, last = min(outputHeight, first + bandRows)   // output rows
                // Expanded rows the band's windows read, within the image.
                let top = max(0, first * strideY - g.padTop)
                let bottom = max(top, min(height, (last - 1) * strideY - g.padTop + window))
                // 1. Keep the rows shared with the previous band, compute the others.
                var computed = top
                if packed != nil && heldImage == image && held.contains(top) {
                    let kept = min(held.upperBound, bottom) - top
                    if top > held.lowerBound {
                        for channel in 0..<expanded {
                            let line = rows + channel * channelStride
                            line.update(from: line + (top - held.lowerBound) * width, count: kept * width)
                        }
                    }
                    computed = top + kept
                }
                if let packed, computed < bottom {
                    let columns = (bottom - computed) * width, offset = (computed - top) * width
                    // Bias and activation in the GEMM's registers where the kernel can (PackedGemm.swift), else here.
                    let epilogue = GemmEpilogue(bias: expandBias.baseAddress!, residual: nil, residualStride: 0,
                                                activation: expandActivation)
                    if !packedGemm(packed, rows: 0..<expanded, columns: columns,
                                   b: source + image * input.channels * plane + computed * width, ldb: plane,
                                   c: rows + offset, ldc: channelStride, accumulate: false, workspace: workspace, epilogue: epilogue) {
                        epilogue.finish(rows: expanded, of: rows + offset, ldc: channelStride, count: columns)
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
                    let inputOffset: Int = (image * expanded + channel) * plane + top * width
                    let bandInput = packed == nil ? source + inputOffset : UnsafePointer(rows + channel * channelStride)
                    let channelOffset: Int = ((image * expanded + channel) * outputHeight + first) * outputWidth
                    let target = project == nil ? destination + channelOffset : bandOutput + channel * bandStride
                    if rowWindow != 0 {
                        depthwiseBand(lanes: Lanes.scalarCount, bandInput, top, bottom, width, g.padTop, g.padLeft, strideY,
                                      rowWindow, depthwiseWeights.baseAddress! + channel * taps, depthwiseBias[channel],
                                      clamp, first, bandHeight, outputWidth, target)
                        if clamp == 0 { applyActivation(target, count: bandHeight * outputWidth, activation) }
                        continue
                    }
                    layout.build(from: bandInput, height: bottom - top, width: width,
                                 padTop: padTop, padLeft: g.padLeft, fill: 0, into: planes)
                    let tiles = DepthwisePlane<Lanes>(
                        input: UnsafePointer(planes), output: target,
                        kernel: depthwiseWeights.baseAddress! + channel * taps, offsets: offsets, taps: taps,
                        start: Lanes(repeating: depthwiseBias[channel]), layout: layout, outputWidth: outputWidth,
                        plane: bandHeight * outputWidth, activation: activation, window: rowBlockedWindow)
                    tiles.run(tileCount: bandHeight * layout.tilesPerRow)
                }
                // 3. The projection of the band (bias and skip connection in its epilogue, as conv2d finishes it).
                if let project, let projectPacked {
                    let out = project.outChannels, columns = bandHeight * outputWidth
                    let offset = image * out * outputPlane + first * outputWidth
                    let epilogue = GemmEpilogue(bias: projectBiasBuffer.baseAddress!,
                                                residual: residual == nil ? nil : residualBuffer.baseAddress! + offset,
                                                residualStride: outputPlane, activation: .identity)
                    if !packedGemm(projectPacked, rows: 0..<out, columns: columns, b: bandOutput, ldb: bandStride,
                                   c: destination + offset, ldc: outputPlane, accumulate: false, workspace: workspace, epilogue: epilogue) {
                        epilogue.finish(rows: out, of: destination + offset, ldc: outputPlane, count: columns)
                    }
                }
            }
        }
    } } } } } } } } }
}

/// The vector unit of the band kernel (CDepthwiseLanes), asked once.
private let bandKernelUnit = carcinoma_lanes_vector_unit()

/// carcinoma_depthwise_band (16 lanes, AVX-512) or carcinoma_depthwise_band8 (8 lanes, AVX2): the same sums.
@inline(__always)
func depthwiseBand(lanes: Int, _ rows: UnsafePointer<Float>, _ top: Int, _ bottom: Int, _ width: Int, _ padTop: Int,
                   _ padLeft: Int, _ stride: Int, _ window: Int, _ kernel: UnsafePointer<Float>, _ bias: Float, _ clamp: Int32,
                   _ firstOutputRow: Int, _ outputRows: Int, _ outputWidth: Int, _ output: UnsafeMutablePointer<Float>) {
    if lanes == 16 {
        carcinoma_depthwise_band(rows, top, bottom, width, padTop, padLeft, stride, window, kernel, bias, clamp, firstOutputRow,
                                 outputRows, outputWidth, output)
    } else {
        carcinoma_depthwise_band8(rows, top, bottom, width, padTop, padLeft, stride, window, kernel, bias, clamp, firstOutputRow,
                                  outputRows, outputWidth, output)
    }
}

/// The window (3 or 5) of a depthwise layer that the bands run with carcinoma_depthwise_band, else 0 (the planes and
/// their tiles): stride 1 or 2 both ways, a square 3x3 or 5x5 window without dilation, tiles as wide as the build's
/// (`lanes` = Tile.scalarCount): 16 lanes on an AVX-512 CPU, or 8 in a build for AVX2 on a CPU with AVX2 (CPUFeatures'
/// flags; carcinoma_depthwise_band8, bands8.c; the AVX2 build on AMD Zen 4, Lite0 224 one thread, 8 alternating pairs:
/// median 86.9 -> 91.0 images/s, 512 17.5 -> 17.8; the rule for 3x3 stride-1 blocks (automaticRows) and the fused block
/// without expansion stay AVX-512's). Lite0's banded blocks, one thread, AMD Zen 4, each variant's best pass against
/// the planes: 16 → 96 3x3 stride 2 at 112 x 112 0.82-0.84 ms against 1.06, at 256 x 256 4.33 against 5.14; 24 → 144
/// 5x5 stride 2 at 128 x 128 2.73 against 3.21 (the phase planes' copy had taken longer than their taps); at stride 1,
/// 24 → 144 3x3 at 128 x 128 3.71-3.77 against 3.79-3.87. Loads without a mask where a tile lies inside the rows: the
/// same block at 112 x 112 0.80-0.83.
func bandKernelWindow(_ g: ConvGeometry, lanes: Int) -> Int {
    guard lanes == Tile.scalarCount && (lanes == 16 ? bandKernelUnit == 2 : lanes == 8 && CPUFeatures.current.hasAVX2)
            && g.strideY == g.strideX && (g.strideY == 1 || g.strideY == 2)
            && g.dilationY == 1 && g.dilationX == 1
            && g.kernelHeight == g.kernelWidth && (g.kernelHeight == 3 || g.kernelHeight == 5) else { return 0 }
    return g.kernelHeight
}

/// The lanes of the band kernel that this build runs on this CPU (16 on AVX-512, 8 in an AVX2 build on AVX2), or 0 where
/// the planes kernel runs instead: for the tests, which skip what the machine cannot run.
public let depthwiseBandKernelLanes =
    bandKernelWindow(ConvGeometry(kernel: 3), lanes: Tile.scalarCount) != 0 ? Tile.scalarCount : 0

/// The band kernel's `clamp` for an activation it applies in its registers (none, ReLU, ReLU6), nil for the others.
func bandKernelClamp(_ activation: Activation) -> Int32? {
    switch activation {
    case .identity: 0
    case .relu: 1
    case .relu6: 2
    default: nil
    }
}

/// conv2d(conv2d(input, depthwise, activation), project) for a block without expansion or skip connection, in one pass
/// of CDepthwiseLanes' carcinoma_depthwise_pointwise: for every four output rows, each channel's depthwise rows go to a
/// small buffer and the projection sums them as the packed GEMM does, so the depthwise output is never written whole
/// (the same bits). Items are four output rows of one image. Lite0's first block (32 → 16 channels), one thread, AMD
/// Zen 4, best passes: 0.25-0.27 ms at 112 x 112 against 0.444-0.490 for the two layers; at 256 x 256 2.01-2.19 against
/// 2.08-2.16 in bands (there the input itself comes from memory).
private func depthwisePointwise(_ input: Tensor, depthwise: Conv2D, clamp: Int32, project: Conv2D,
                                outputHeight: Int, outputWidth: Int, context: KernelContext) -> Tensor {
    let g = depthwise.geometry, channels = input.channels, outChannels = project.outChannels
    let plane = input.height * input.width, outputPlane = outputHeight * outputWidth
    var output = Tensor(shape: [input.batch, outChannels, outputHeight, outputWidth],
                        storage: uninitialisedFloats(input.batch * outChannels * outputPlane))
    let chunks = (outputHeight + 3) / 4
    input.storage.withUnsafeBufferPointer { source in
    depthwise.weight.withUnsafeBufferPointer { depthwiseWeights in
    depthwise.bias.withUnsafeBufferPointer { depthwiseBias in
    project.weight.withUnsafeBufferPointer { projectWeights in
    project.bias.withUnsafeBufferPointer { projectBias in
    output.storage.withUnsafeMutableBufferPointer { destination in
        parallelChunks(input.batch * chunks, context) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 4 * channels * (outputWidth + 15) / 16 * 16)
            defer { scratch.deallocate() }
            for item in items {
                let image = item / chunks, first = (item % chunks) * 4
                carcinoma_depthwise_pointwise(source.baseAddress! + image * channels * plane, channels, input.height, input.width,
                                              g.padTop, g.padLeft, g.strideY, g.kernelHeight, depthwiseWeights.baseAddress!,
                                              depthwiseBias.baseAddress!, clamp, projectWeights.baseAddress!,
                                              projectBias.baseAddress!, outChannels, first, min(4, outputHeight - first),
                                              outputHeight, outputWidth, destination.baseAddress! + image * outChannels * outputPlane,
                                              scratch)
            }
        }
    } } } } } }
    return output
}
