// The banded expansion + depthwise pass (InvertedBottleneck.swift) against its naive twin, two naive convolutions
// one after the other: random shapes, band heights from one row to the whole plane (so bands that keep halo rows,
// that recompute them at a run's start, and a shorter last band), kernels 3 and 5, strides 1 and 2, symmetric and
// TF-SAME padding, batches of 1 and 2, thread counts 1–3. The banded result must also equal the separate fast
// layers bit for bit, whatever the bands and the threads.

import XCTest
import NeuralKernels
import TestSupport

final class InvertedBottleneckTests: XCTestCase {
    let contexts = [KernelContext(threadCount: 1), KernelContext(threadCount: 2), KernelContext(threadCount: 3)]

    /// Bit-identical tensors; names the first value that differs (not the whole storage).
    func assertIdentical(_ actual: Tensor, _ expected: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.shape, expected.shape, "\(label): shape", file: file, line: line)
        guard actual.shape == expected.shape else { return }
        if let index = actual.storage.indices.first(where: { actual.storage[$0] != expected.storage[$0] }) {
            XCTFail("\(label): value \(index) is \(actual.storage[index]), expected \(expected.storage[index]) bit for bit",
                    file: file, line: line)
        }
    }

    func layers(_ random: inout TestGenerator, inChannels: Int, expanded: Int, geometry: ConvGeometry) -> (Conv2D, Conv2D) {
        let expand = Conv2D(inChannels: inChannels, outChannels: expanded, geometry: ConvGeometry(kernel: 1),
                            weight: random.floats(inChannels * expanded), bias: random.floats(expanded))
        let depthwise = Conv2D(inChannels: expanded, outChannels: expanded, geometry: geometry,
                               weight: random.floats(expanded * geometry.kernelHeight * geometry.kernelWidth),
                               bias: random.floats(expanded))
        return (expand, depthwise)
    }

    /// A depthwise layer's geometry: padding kernel / 2 all round, or TensorFlow's SAME (the odd pixel of padding at the
    /// bottom/right, as EfficientNet-Lite pads).
    func depthwiseGeometry(kernel: Int, stride: Int, height: Int, width: Int, groups: Int, tensorFlowSame: Bool) -> ConvGeometry {
        guard tensorFlowSame else { return ConvGeometry(kernel: kernel, stride: stride, padding: kernel / 2, groups: groups) }
        func same(_ size: Int) -> (Int, Int) {
            let total = max(((size + stride - 1) / stride - 1) * stride + kernel - size, 0)
            return (total / 2, total - total / 2)
        }
        let (top, bottom) = same(height), (left, right) = same(width)
        return ConvGeometry(kernel: (kernel, kernel), stride: (stride, stride), padding: (top, left, bottom, right), groups: groups)
    }

    func testBandsMatchTwinAndSeparateLayers() {
        var random = TestGenerator(seed: 71)
        let activations: [Activation] = [.relu6, .silu, .identity, .relu]
        for trial in 0..<60 {
            let kernel = [3, 5][random.integer(0...1)], stride = random.integer(1...2)
            let height = random.integer(1...29), width = random.integer(1...37)
            let inChannels = random.integer(1...9), expanded = random.integer(2...21)
            let geometry = depthwiseGeometry(kernel: kernel, stride: stride, height: height, width: width, groups: expanded,
                                             tensorFlowSame: !random.bool())
            let (outputHeight, _) = geometry.outputSize(height: height, width: width)
            guard outputHeight > 0 else { continue }
            let (expand, depthwise) = layers(&random, inChannels: inChannels, expanded: expanded, geometry: geometry)
            let input = random.tensor([random.integer(1...2), inChannels, height, width])
            let first = activations[trial % activations.count], second = activations[(trial / 2) % activations.count]
            let context = contexts[trial % contexts.count]
            let bandRows = random.integer(1...outputHeight)
            let label = "trial \(trial) input \(input.shape) expanded \(expanded) \(geometry) bands of \(bandRows) threads \(context.threadCount)"
            let banded = expandedDepthwise(input, expand: expand, expandActivation: first, depthwise: depthwise, activation: second,
                                           banding: .rows(bandRows), context: context)
            assertMatchesTwin(banded, Naive.conv2d(Naive.conv2d(input, expand, activation: first), depthwise, activation: second), label)
            let separate = conv2d(conv2d(input, expand, activation: first, context: context), depthwise, activation: second,
                                  context: context)
            assertIdentical(banded, separate, "\(label), against the separate layers")
        }
    }

    /// The whole block with its projection fused into the bands (invertedBottleneck), with and without an expansion (the
    /// depthwise layer then reads the input's rows): the twin's convolutions, and bit for bit the separate fast layers (the
    /// projection with the skip connection when shapes allow it), whatever the bands, the threads and the batch.
    func testProjectionInBandsMatchesTwinAndSeparateLayers() {
        var random = TestGenerator(seed: 79)
        let activations: [Activation] = [.relu6, .silu, .identity, .relu]
        for trial in 0..<40 {
            let kernel = [3, 5][random.integer(0...1)], stride = random.integer(1...2)
            let height = random.integer(1...29), width = random.integer(1...37)
            let expands = trial % 3 != 0
            // At least two depthwise channels, as in testBandsMatchTwinAndSeparateLayers: conv2d runs a one-channel "depthwise"
            // layer (groups 1) as a dense convolution, whose fused multiply-adds round differently.
            let inChannels = random.integer((expands ? 1 : 2)...9), expanded = expands ? random.integer(2...21) : inChannels
            let residual = stride == 1 && random.bool()
            let outChannels = residual ? inChannels : random.integer(1...30)
            let geometry = ConvGeometry(kernel: kernel, stride: stride, padding: kernel / 2, groups: expanded)
            let (expand, depthwise) = layers(&random, inChannels: inChannels, expanded: expanded, geometry: geometry)
            let project = Conv2D(inChannels: expanded, outChannels: outChannels, geometry: ConvGeometry(kernel: 1),
                                 weight: random.floats(expanded * outChannels), bias: random.floats(outChannels))
            let (outputHeight, _) = geometry.outputSize(height: height, width: width)
            let input = random.tensor([random.integer(1...2), inChannels, height, width])
            let first = activations[trial % activations.count], second = activations[(trial / 2) % activations.count]
            let context = contexts[trial % contexts.count]
            let bandRows = random.integer(1...outputHeight)
            let label = "trial \(trial) input \(input.shape) \(expands ? "expanded \(expanded)" : "no expansion") → \(outputChannelsLabel(outChannels, residual)) "
                + "\(geometry) bands of \(bandRows) threads \(context.threadCount)"
            let fused = invertedBottleneck(input, expand: expands ? expand : nil, expandActivation: first, depthwise: depthwise,
                                           activation: second, project: project, residual: residual, banding: .rows(bandRows),
                                           context: context)
            let twinExpanded = expands ? Naive.conv2d(input, expand, activation: first) : input
            let twinDepthwise = Naive.conv2d(twinExpanded, depthwise, activation: second)
            let twinProjected = Naive.conv2d(twinDepthwise, project)
            assertMatchesTwin(fused, residual ? Naive.add(twinProjected, input, activation: .identity) : twinProjected, label)
            let expandedInput = expands ? conv2d(input, expand, activation: first, context: context) : input
            let separate = conv2d(conv2d(expandedInput, depthwise, activation: second, context: context), project,
                                  residual: residual ? input : nil, context: context)
            assertIdentical(fused, separate, "\(label), against the separate layers")
        }
    }

    func outputChannelsLabel(_ channels: Int, _ residual: Bool) -> String { residual ? "\(channels) + skip" : "\(channels)" }

    /// Stride 2 on rows of several tiles (on AVX-512, and in an AVX2 build on AVX2, the bands read the expanded rows with the
    /// stride-2 kernel of CDepthwiseLanes, 16 or 8 lanes: tiles inside the row, tiles at either end reading padding, rows above
    /// and below the image): the twin's convolutions, and bit for bit the separate layers (the planes kernel), with and without
    /// the projection, 3x3 and 5x5, symmetric and TF-SAME padding, any bands and threads.
    func testStrideTwoBandsOnWideRows() throws {
        guard depthwiseBandKernelLanes != 0 else {
            throw XCTSkip("skipped: no band kernel here (AVX-512, or an AVX2 build on AVX2): the bands use the planes kernel")
        }
        var random = TestGenerator(seed: 89)
        for trial in 0..<24 {
            let kernel = [3, 5][trial % 2], height = random.integer(3...23), width = random.integer(40...150)
            let inChannels = random.integer(1...6), expanded = random.integer(2...19)
            let geometry = depthwiseGeometry(kernel: kernel, stride: 2, height: height, width: width, groups: expanded,
                                             tensorFlowSame: trial % 4 >= 2)
            let (expand, depthwise) = layers(&random, inChannels: inChannels, expanded: expanded, geometry: geometry)
            let (outputHeight, _) = geometry.outputSize(height: height, width: width)
            let input = random.tensor([random.integer(1...2), inChannels, height, width])
            let context = contexts[trial % contexts.count], bandRows = random.integer(1...outputHeight)
            let label = "trial \(trial) input \(input.shape) expanded \(expanded) \(geometry) bands of \(bandRows) threads \(context.threadCount)"
            let expandedInput = conv2d(input, expand, activation: .relu6, context: context)
            let separate = conv2d(expandedInput, depthwise, activation: .relu6, context: context)
            let banded = expandedDepthwise(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .relu6,
                                           banding: .rows(bandRows), context: context)
            assertMatchesTwin(banded, Naive.conv2d(Naive.conv2d(input, expand, activation: .relu6), depthwise, activation: .relu6), label)
            assertIdentical(banded, separate, "\(label), against the separate layers")
            let project = Conv2D(inChannels: expanded, outChannels: 7, geometry: ConvGeometry(kernel: 1),
                                 weight: random.floats(expanded * 7), bias: random.floats(7))
            let fused = invertedBottleneck(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .silu,
                                           project: project, residual: false, banding: .rows(bandRows), context: context)
            assertIdentical(fused, conv2d(conv2d(expandedInput, depthwise, activation: .silu, context: context), project, context: context),
                            "\(label), with the projection")
        }
    }

    /// A block without expansion or skip connection (EfficientNet-Lite's first), which on AVX-512 runs the depthwise layer and
    /// the projection in one pass (CDepthwiseLanes' carcinoma_depthwise_pointwise): wide rows, strides 1 and 2, 3x3 and 5x5,
    /// symmetric and TF-SAME padding, 16 and other numbers of output channels, the clamped activations and SiLU (which
    /// takes the other path): the twin's convolutions, and bit for bit the separate layers, at any thread count.
    func testBlockWithoutExpansionOnWideRows() throws {
        guard GemmKernel.native == .avx512 else {
            throw XCTSkip("skipped: no AVX-512 (the fused depthwise + projection kernel runs there only)")
        }
        var random = TestGenerator(seed: 97)
        let activations: [Activation] = [.relu6, .relu, .identity, .silu]
        for trial in 0..<24 {
            let kernel = [3, 5][trial % 2], stride = [1, 2][(trial / 2) % 2]
            let height = random.integer(3...21), width = random.integer(30...150), channels = random.integer(2...40)
            let geometry = depthwiseGeometry(kernel: kernel, stride: stride, height: height, width: width, groups: channels,
                                             tensorFlowSame: trial % 8 >= 4)
            let depthwise = Conv2D(inChannels: channels, outChannels: channels, geometry: geometry,
                                   weight: random.floats(channels * kernel * kernel), bias: random.floats(channels))
            let outChannels = trial % 3 == 0 ? 16 : random.integer(1...40)
            let project = Conv2D(inChannels: channels, outChannels: outChannels, geometry: ConvGeometry(kernel: 1),
                                 weight: random.floats(channels * outChannels), bias: random.floats(outChannels))
            let input = random.tensor([random.integer(1...2), channels, height, width])
            let activation = activations[(trial / 4) % activations.count], context = contexts[trial % contexts.count]
            let label = "trial \(trial) input \(input.shape) → \(outChannels) \(geometry) \(activation) threads \(context.threadCount)"
            let fused = invertedBottleneck(input, expand: nil, expandActivation: .identity, depthwise: depthwise,
                                           activation: activation, project: project, residual: false, context: context)
            assertMatchesTwin(fused, Naive.conv2d(Naive.conv2d(input, depthwise, activation: activation), project), label)
            let separate = conv2d(conv2d(input, depthwise, activation: activation, context: context), project, context: context)
            assertIdentical(fused, separate, "\(label), against the separate layers")
        }
    }

    /// A shape `.automatic` bands (stride 2, 2^20 expanded floats): the same bits as the separate layers at 1 and 2 threads.
    func testAutomaticBandsOnALargeInput() {
        var random = TestGenerator(seed: 73)
        let geometry = ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (0, 0, 1, 1), groups: 64)
        let (expand, depthwise) = layers(&random, inChannels: 5, expanded: 64, geometry: geometry)
        let input = random.tensor([1, 5, 128, 128])
        let separate = expandedDepthwise(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .relu6,
                                         banding: .separate, context: contexts[0])
        for context in contexts.prefix(2) {
            let banded = expandedDepthwise(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .relu6,
                                           context: context)
            assertIdentical(banded, separate, "threads \(context.threadCount)")
        }
    }

    /// At stride 1 `.automatic` bands only with the projection fused (2^20 expanded floats): the same bits as the separate
    /// layers with the skip connection, at 1 and 2 threads and batch 2.
    func testAutomaticBandsWithTheProjectionAtStrideOne() {
        assertAutomaticBlockMatchesSeparateLayers(seed: 83, inChannels: 12, expanded: 64, size: 128,
                                                  geometry: ConvGeometry(kernel: 5, stride: 1, padding: 2, groups: 64))
    }

    /// invertedBottleneck with `banding` (`.automatic` unless said) and the skip connection, batch 2 at `size` x `size`,
    /// against the separate layers bit for bit at 1 and 2 threads.
    func assertAutomaticBlockMatchesSeparateLayers(seed: UInt64, inChannels: Int, expanded: Int, size: Int, geometry: ConvGeometry,
                                                   banding: ExpansionBanding = .automatic,
                                                   file: StaticString = #filePath, line: UInt = #line) {
        var random = TestGenerator(seed: seed)
        let (expand, depthwise) = layers(&random, inChannels: inChannels, expanded: expanded, geometry: geometry)
        let project = Conv2D(inChannels: expanded, outChannels: inChannels, geometry: ConvGeometry(kernel: 1),
                             weight: random.floats(expanded * inChannels), bias: random.floats(inChannels))
        let input = random.tensor([2, inChannels, size, size])
        let separate = conv2d(expandedDepthwise(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .relu6,
                                                banding: .separate, context: contexts[0]), project, residual: input, context: contexts[0])
        for context in contexts.prefix(2) {
            let fused = invertedBottleneck(input, expand: expand, expandActivation: .relu6, depthwise: depthwise, activation: .relu6,
                                           project: project, residual: true, banding: banding, context: context)
            assertIdentical(fused, separate, "threads \(context.threadCount)", file: file, line: line)
        }
    }

    /// `.automatic`'s rule for 3x3 stride-1 blocks with their projection on AVX-512: bands on rows at least 48 wide whose
    /// expanded input holds at least 2^18 floats (Lite0's 24 → 144 → 24 at 56 x 56), not on narrower rows (its 480-channel
    /// blocks at 32 x 32), not for 5x5 windows or without the projection below 2^20; and the banded block is the separate
    /// layers bit for bit at that shape (1 and 2 threads, batch 2).
    func testAutomaticBandsForAWideThreeByThreeBlock() throws {
        guard GemmKernel.native == .avx512 else {
            throw XCTSkip("skipped: no AVX-512 (3x3 stride-1 blocks below 2^20 expanded floats are banded there only)")
        }
        let three = ConvGeometry(kernel: 3, stride: 1, padding: 1, groups: 144)
        XCTAssertGreaterThan(ExpansionBanding.automaticRows(expanded: 144, height: 56, width: 56, depthwise: three, projected: true), 0)
        XCTAssertEqual(ExpansionBanding.automaticRows(expanded: 144, height: 56, width: 56, depthwise: three, projected: false), 0)
        XCTAssertEqual(ExpansionBanding.automaticRows(expanded: 480, height: 32, width: 32, depthwise: three, projected: true), 0)
        XCTAssertEqual(ExpansionBanding.automaticRows(expanded: 40, height: 56, width: 56, depthwise: three, projected: true), 0)
        let five = ConvGeometry(kernel: 5, stride: 1, padding: 2, groups: 144)
        XCTAssertEqual(ExpansionBanding.automaticRows(expanded: 144, height: 56, width: 56, depthwise: five, projected: true), 0)
        assertAutomaticBlockMatchesSeparateLayers(seed: 97, inChannels: 24, expanded: 144, size: 56, geometry: three)
    }

    /// With the pool's threads on cores apart, `.automatic` also bands Lite0's blocks at 56 x 56 and 28 x 28 (5x5 and
    /// stride-2 ones too), never its 7 x 7 ones (too narrow, too small) nor one without its projection; in the bands
    /// chosen then a block is the separate layers bit for bit (the results never depend on the placement).
    func testAutomaticBandsWhenTheCoresAreApart() {
        let shapes: [(expanded: Int, size: Int, kernel: Int, stride: Int)] = [(144, 56, 5, 2), (240, 28, 5, 1), (240, 28, 3, 2)]
        for shape in shapes {
            let g = ConvGeometry(kernel: shape.kernel, stride: shape.stride, padding: shape.kernel / 2, groups: shape.expanded)
            func rows(_ apart: Bool, projected: Bool = true) -> Int {
                ExpansionBanding.automaticRows(expanded: shape.expanded, height: shape.size, width: shape.size, depthwise: g,
                                               projected: projected, coresApart: apart)
            }
            XCTAssertEqual(rows(false), 0, "\(shape) near")
            XCTAssertGreaterThan(rows(true), 0, "\(shape) apart")
            XCTAssertEqual(rows(true, projected: false), 0, "\(shape) apart without the projection")
        }
        let late = ConvGeometry(kernel: 5, stride: 1, padding: 2, groups: 1152)
        XCTAssertEqual(ExpansionBanding.automaticRows(expanded: 1152, height: 7, width: 7, depthwise: late, projected: true,
                                                      coresApart: true), 0)
        let g = ConvGeometry(kernel: 5, stride: 1, padding: 2, groups: 240)
        let apartRows = ExpansionBanding.automaticRows(expanded: 240, height: 28, width: 28, depthwise: g, projected: true,
                                                       coresApart: true)
        assertAutomaticBlockMatchesSeparateLayers(seed: 101, inChannels: 40, expanded: 240, size: 28, geometry: g,
                                                  banding: .rows(apartRows))
    }
}
