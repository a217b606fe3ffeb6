// Every fast kernel against its naive twin over randomised odd shapes: 1x1 images,
// odd sizes, channel counts that are not multiples of 8, stride larger than the
// kernel, groups, dilation, asymmetric padding and ceil_mode edge windows.

import XCTest
import NeuralKernels
import TestSupport

/// SplitMix64, seeded explicitly: the tests' only source of randomness.
struct TestGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform integer in range.
    mutating func integer(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
    mutating func bool() -> Bool { next() & 1 == 1 }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in (Float(Double(next() >> 11) * 0x1p-53) * 2 - 1) * scale }
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: floats(shape.reduce(1, *)))
    }
}

/// Kernel vs twin: rtol 1e-5 plus an absolute floor of 1e-5 of the output's scale (sums cancel).
/// `fast` against the naive twin's values (or against `reference`, when the twin's own float rounding is too large to
/// test against: a sum of 100,401 products one at a time drifts by ~1e-3 of values near 57).
func assertMatchesTwin(_ fast: Tensor, _ naive: Tensor, _ label: String, reference: Tensor? = nil,
                       file: StaticString = #filePath, line: UInt = #line) {
    let expected = reference ?? naive
    XCTAssertEqual(fast.shape, naive.shape, "\(label): shape", file: file, line: line)
    guard fast.shape == expected.shape else { return }
    let scale = Double(expected.storage.map { abs($0) }.max() ?? 0)
    let result = allClose(fast.storage, expected.storage, relativeTolerance: 1e-5, absoluteTolerance: 1e-5 * max(scale, 1e-30))
    XCTAssertTrue(result.ok, "\(label): \(result.message)", file: file, line: line)
}

/// Naive.linear with its sums in double precision, rounded once: the linear layer's exact values to float precision.
/// On an AMD Zen 4 machine OpenBLAS's sgemm (Cooperlake core) and the twin's running float sum differed by 1.4e-3 at
/// 57.48 for 2049 x 7 x 7 features, past the 1e-5 tolerance; the twin, not OpenBLAS, was the farther from this value.
func exactLinear(_ input: Tensor, _ layer: Linear) -> Tensor {
    let perSample = input.count / input.batch
    var out = Tensor(shape: [input.batch, layer.outFeatures, 1, 1])
    for n in 0..<input.batch {
        for o in 0..<layer.outFeatures {
            var sum = Double(layer.bias[o])
            for i in 0..<layer.inFeatures { sum += Double(layer.weight[o * layer.inFeatures + i]) * Double(input.storage[n * perSample + i]) }
            out.storage[n * layer.outFeatures + o] = Float(sum)
        }
    }
    return out
}

final class FastKernelTests: XCTestCase {
    let contexts = [KernelContext(threadCount: 1), KernelContext(threadCount: 3)]

    /// A random convolution whose output is not empty.
    func randomConvolution(_ random: inout TestGenerator) -> (input: Tensor, layer: Conv2D) {
        while true {
            let kernel = (random.integer(1...5), random.integer(1...5))
            let stride = (random.integer(1...4), random.integer(1...4))
            let dilation = (random.integer(1...2), random.integer(1...2))
            let padding = (top: random.integer(0...2), left: random.integer(0...2), bottom: random.integer(0...2), right: random.integer(0...2))
            let groups = [1, 1, 1, 2, 3][random.integer(0...4)]
            let depthwise = random.integer(0...3) == 0
            let inChannels = depthwise ? random.integer(1...9) : groups * random.integer(1...7)
            let effectiveGroups = depthwise ? inChannels : groups
            let outChannels = effectiveGroups * random.integer(1...(depthwise ? 2 : 5))
            let height = random.integer(1...13), width = random.integer(1...13)
            let geometry = ConvGeometry(kernel: kernel, stride: stride, padding: padding, dilation: dilation, groups: effectiveGroups)
            let (oh, ow) = geometry.outputSize(height: height, width: width)
            guard oh > 0 && ow > 0 else { continue }
            let weightCount = outChannels * (inChannels / effectiveGroups) * kernel.0 * kernel.1
            let layer = Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry,
                               weight: random.floats(weightCount), bias: random.floats(outChannels))
            return (random.tensor([random.integer(1...3), inChannels, height, width]), layer)
        }
    }

    func testConvolutionMatchesTwinOnRandomShapes() {
        var random = TestGenerator(seed: 3)
        let activations: [Activation] = [.identity, .relu, .relu6, .silu, .sigmoid]
        for trial in 0..<150 {
            let (input, layer) = randomConvolution(&random)
            let activation = activations[trial % activations.count]
            let expected = Naive.conv2d(input, layer, activation: activation)
            let context = contexts[trial % 2]
            assertMatchesTwin(conv2d(input, layer, activation: activation, context: context), expected,
                              "conv trial \(trial) input \(input.shape) \(layer.geometry) OC \(layer.outChannels) \(activation)")
        }
    }

    func testConvolutionEdgeCases() {
        var random = TestGenerator(seed: 11)
        let cases: [(input: [Int], outChannels: Int, geometry: ConvGeometry)] = [
            ([1, 3, 1, 1], 5, ConvGeometry(kernel: 1)),                                        // 1x1 image, pointwise
            ([2, 3, 1, 1], 4, ConvGeometry(kernel: 3, padding: 1)),                            // 1x1 image, 3x3 padded
            ([1, 5, 7, 9], 7, ConvGeometry(kernel: 1, stride: 2)),                             // 1x1 strided: im2col path
            ([1, 6, 9, 7], 4, ConvGeometry(kernel: 1, groups: 2)),                             // grouped pointwise
            ([1, 4, 11, 11], 3, ConvGeometry(kernel: 2, stride: 5)),                           // stride > kernel
            ([1, 3, 10, 9], 2, ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (0, 0, 1, 1))),  // TF SAME-style
            ([1, 9, 8, 8], 9, ConvGeometry(kernel: 3, stride: 2, padding: 1, groups: 9)),      // depthwise
            ([1, 5, 6, 7], 10, ConvGeometry(kernel: 5, padding: 2, groups: 5)),                // depthwise, multiplier 2
            ([1, 3, 12, 12], 6, ConvGeometry(kernel: 3, padding: 2, dilation: 2)),             // dilated
            ([1, 3, 17, 15], 11, ConvGeometry(kernel: 7, stride: 2, padding: 3)),              // ResNet stem, odd
        ]
        for (index, item) in cases.enumerated() {
            let inChannels = item.input[1]
            let weightCount = item.outChannels * (inChannels / item.geometry.groups) * item.geometry.kernelHeight * item.geometry.kernelWidth
            let layer = Conv2D(inChannels: inChannels, outChannels: item.outChannels, geometry: item.geometry,
                               weight: random.floats(weightCount), bias: random.floats(item.outChannels))
            let input = random.tensor(item.input)
            for context in contexts {
                assertMatchesTwin(conv2d(input, layer, activation: .relu, context: context),
                                  Naive.conv2d(input, layer, activation: .relu), "conv case \(index) threads \(context.threadCount)")
            }
        }
    }

    func testWinogradMatchesTwinOnRandomShapes() {
        var random = TestGenerator(seed: 17)
        for trial in 0..<40 {
            let inChannels = random.integer(1...19), outChannels = random.integer(1...13)
            let padding = (top: random.integer(0...2), left: random.integer(0...2), bottom: random.integer(0...2), right: random.integer(0...2))
            let height = random.integer(max(1, 3 - padding.top - padding.bottom)...14)
            let width = random.integer(max(1, 3 - padding.left - padding.right)...14)
            let layer = Conv2D(inChannels: inChannels, outChannels: outChannels,
                               geometry: ConvGeometry(kernel: (3, 3), padding: padding),
                               weight: random.floats(outChannels * inChannels * 9), bias: random.floats(outChannels))
            let input = random.tensor([random.integer(1...2), inChannels, height, width])
            let (oh, ow) = layer.geometry.outputSize(height: height, width: width)
            let residual = random.tensor([input.batch, outChannels, oh, ow])
            let expected = Naive.add(Naive.conv2d(input, layer), residual, activation: .relu)
            for algorithm in [ConvolutionAlgorithm.winograd, .winograd4x4] {
                assertMatchesTwin(conv2d(input, layer, activation: .relu, residual: residual, algorithm: algorithm, context: contexts[trial % 2]),
                                  expected, "\(algorithm) trial \(trial) input \(input.shape) OC \(outChannels) \(layer.geometry)")
            }
        }
        // The automatic choice on a layer big enough to take it (ResNet layer1's 3x3 shape, fewer channels).
        let layer = Conv2D(inChannels: 16, outChannels: 8, geometry: ConvGeometry(kernel: 3, padding: 1),
                           weight: random.floats(8 * 16 * 9), bias: random.floats(8))
        let input = random.tensor([1, 16, 15, 17])
        assertMatchesTwin(conv2d(input, layer), Naive.conv2d(input, layer), "winograd automatic")
        // ... and on a plane large enough for F(4x4, 3x3), with a ragged last tile row and column.
        let large = random.tensor([1, 16, 27, 30])
        assertMatchesTwin(conv2d(large, layer), Naive.conv2d(large, layer), "winograd 4x4 automatic")
    }

    func testFusedResidualAndSliceOutput() {
        var random = TestGenerator(seed: 5)
        let layer = Conv2D(inChannels: 5, outChannels: 3, geometry: ConvGeometry(kernel: 3, padding: 1),
                           weight: random.floats(3 * 5 * 9), bias: random.floats(3))
        let input = random.tensor([2, 5, 6, 7])
        let residual = random.tensor([2, 3, 6, 7])
        let expected = Naive.add(Naive.conv2d(input, layer), residual, activation: .relu)
        assertMatchesTwin(conv2d(input, layer, activation: .relu, residual: residual), expected, "fused residual")

        let other = random.tensor([2, 4, 6, 7])
        var concatenated = Tensor(shape: [2, 7, 6, 7], repeating: .nan)
        copyChannels(other, into: &concatenated, channelOffset: 0)
        conv2d(input, layer, activation: .silu, into: &concatenated, channelOffset: 4)
        assertMatchesTwin(concatenated, Naive.concatChannels([other, Naive.conv2d(input, layer, activation: .silu)]), "conv into slice")
    }

    func testConvolutionIndependentOfBatchAndThreads() {
        var random = TestGenerator(seed: 8)
        let layer = Conv2D(inChannels: 6, outChannels: 9, geometry: ConvGeometry(kernel: 3, stride: 1, padding: 1),
                           weight: random.floats(9 * 6 * 9), bias: random.floats(9))
        let batch = random.tensor([3, 6, 10, 11])
        let whole = conv2d(batch, layer, context: KernelContext(threadCount: 2))
        let plane = 6 * 10 * 11, outPlane = 9 * 10 * 11
        for image in 0..<3 {
            let single = Tensor(shape: [1, 6, 10, 11], storage: Array(batch.storage[image * plane..<(image + 1) * plane]))
            let alone = conv2d(single, layer, context: KernelContext(threadCount: 1))
            XCTAssertEqual(alone.storage, Array(whole.storage[image * outPlane..<(image + 1) * outPlane]), "image \(image)")
        }
    }

    func testPoolingMatchesTwinOnRandomShapes() {
        var random = TestGenerator(seed: 21)
        var trial = 0
        while trial < 200 {
            let kernel = random.integer(1...4)
            let geometry = PoolGeometry(kernel: kernel, stride: random.integer(1...3), padding: random.integer(0...(kernel / 2)),
                                        ceilMode: random.bool(), countIncludePad: random.bool())
            let height = random.integer(1...12), width = random.integer(1...12)
            guard height + 2 * geometry.padY >= kernel && width + 2 * geometry.padX >= kernel else { continue }
            let input = random.tensor([random.integer(1...2), random.integer(1...5), height, width])
            let context = contexts[trial % 2]
            assertMatchesTwin(maxPool2d(input, geometry, context: context), Naive.maxPool2d(input, geometry), "max pool \(trial) \(input.shape) \(geometry)")
            assertMatchesTwin(avgPool2d(input, geometry, context: context), Naive.avgPool2d(input, geometry), "avg pool \(trial) \(input.shape) \(geometry)")
            trial += 1
        }
    }

    /// Rows wider than a vector with every tail length: the pools' separable path (strides 1 and 2) and the
    /// Winograd transforms (both tiles) store a row's last vector in pieces (PartialVectors.swift), 1 to 63 lanes.
    func testPoolingAndWinogradOnEveryRowTail() {
        var random = TestGenerator(seed: 33)
        for width in 13...47 {
            let kernel = random.integer(1...4), stride = [1, 2, 2, 3][random.integer(0...3)]
            let geometry = PoolGeometry(kernel: kernel, stride: stride, padding: random.integer(0...(kernel / 2)),
                                        ceilMode: random.bool(), countIncludePad: random.bool())
            let input = random.tensor([random.integer(1...2), random.integer(1...3), random.integer(kernel...9), width])
            let context = contexts[width % 2]
            assertMatchesTwin(maxPool2d(input, geometry, context: context), Naive.maxPool2d(input, geometry), "max pool width \(width) \(geometry)")
            assertMatchesTwin(avgPool2d(input, geometry, context: context), Naive.avgPool2d(input, geometry), "avg pool width \(width) \(geometry)")
            let channels = random.integer(1...5), outChannels = random.integer(1...4)
            let layer = Conv2D(inChannels: channels, outChannels: outChannels, geometry: ConvGeometry(kernel: 3, padding: random.integer(0...1)),
                               weight: random.floats(outChannels * channels * 9), bias: random.floats(outChannels))
            let image = random.tensor([1, channels, random.integer(3...6), width])
            for algorithm in [ConvolutionAlgorithm.winograd, .winograd4x4] {
                assertMatchesTwin(conv2d(image, layer, activation: .relu, algorithm: algorithm, context: context),
                                  Naive.conv2d(image, layer, activation: .relu), "\(algorithm) width \(width)")
            }
        }
    }

    /// The maximum is exact, so the separable max pool equals a tap-by-tap scan bit for bit, ties included: a
    /// later tap replaces the running maximum only when strictly greater (PyTorch's CPU max_pool2d rule), so of
    /// +0 and -0 the first in (ky, kx) order is kept. (Naive.maxPool2d uses Swift.max, which keeps the last.)
    func testMaxPoolIsExactWithTies() {
        var random = TestGenerator(seed: 35)
        var negativeZeros = 0, positiveZeros = 0
        for geometry in [PoolGeometry(kernel: 3, stride: 1, padding: 1, ceilMode: true), PoolGeometry(kernel: 3, stride: 2, ceilMode: true),
                         PoolGeometry(kernel: 3, stride: 2, padding: 1)] {
            // Few distinct values, zeros of both signs among them, so windows hold ties.
            let values: [Float] = [0, -0.0, 1, -1, 0.5]
            let input = Tensor(shape: [2, 3, 11, 37], storage: (0..<(2 * 3 * 11 * 37)).map { _ in values[random.integer(0...4)] })
            let fast = maxPool2d(input, geometry).storage, expected = firstMaximumScan(input, geometry)
            let differing = zip(fast, expected).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(fast.count, expected.count)
            XCTAssertEqual(differing, 0, "\(geometry): \(differing) values differ from the scan's bits")
            negativeZeros += fast.filter { $0 == 0 && $0.sign == .minus }.count
            positiveZeros += fast.filter { $0 == 0 && $0.sign == .plus }.count
        }
        XCTAssertTrue(negativeZeros > 0 && positiveZeros > 0, "the inputs should give zeros of both signs (\(negativeZeros), \(positiveZeros))")
    }

    func testPoolingCeilModeEdges() {
        var random = TestGenerator(seed: 4)
        // GoogLeNet's ceil-mode 3/2 pools on odd and even sizes, and a window hanging past the padded input.
        let cases: [(Int, Int, PoolGeometry)] = [
            (112, 111, PoolGeometry(kernel: 3, stride: 2, ceilMode: true)),
            (4, 4, PoolGeometry(kernel: 2, stride: 2, padding: 1, ceilMode: true, countIncludePad: true)),
            (5, 5, PoolGeometry(kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false)),
            (1, 1, PoolGeometry(kernel: 3, stride: 1, padding: 1, countIncludePad: false)),
            (1, 1, PoolGeometry(kernel: 3, stride: 1, padding: 1, ceilMode: true)),
        ]
        for (index, (height, width, geometry)) in cases.enumerated() {
            let input = random.tensor([1, 3, height, width])
            assertMatchesTwin(maxPool2d(input, geometry), Naive.maxPool2d(input, geometry), "max edge \(index)")
            assertMatchesTwin(avgPool2d(input, geometry), Naive.avgPool2d(input, geometry), "avg edge \(index)")
        }
    }

    func testGlobalPoolLinearActivationAddConcat() {
        var random = TestGenerator(seed: 9)
        for shape in [[1, 1, 1, 1], [2, 7, 5, 3], [3, 13, 9, 1], [1, 2049, 7, 7]] {
            let input = random.tensor(shape)
            assertMatchesTwin(globalAveragePool(input, context: contexts[1]), Naive.globalAveragePool(input), "global pool \(shape)")
            for activation in [Activation.identity, .relu, .relu6, .silu, .sigmoid] {
                let scaled = Tensor(shape: shape, storage: input.storage.map { $0 * 8 })
                assertMatchesTwin(activate(scaled, activation, context: contexts[1]), Naive.activate(scaled, activation), "activate \(activation) \(shape)")
            }
            let other = random.tensor(shape)
            assertMatchesTwin(add(input, other, activation: .relu), Naive.add(input, other, activation: .relu), "add \(shape)")
            let features = shape[1] * shape[2] * shape[3]
            let layer = Linear(inFeatures: features, outFeatures: 5, weight: random.floats(5 * features), bias: random.floats(5))
            assertMatchesTwin(linear(input, layer), Naive.linear(input, layer), "linear \(shape)", reference: exactLinear(input, layer))
        }
        let parts = [random.tensor([2, 3, 4, 5]), random.tensor([2, 1, 4, 5]), random.tensor([2, 7, 4, 5])]
        assertMatchesTwin(concatChannels(parts, context: contexts[1]), Naive.concatChannels(parts), "concat")
    }

    func testSqueezeExcitationMatchesTwin() {
        var random = TestGenerator(seed: 13)
        let channels = 12, squeezed = 3
        let reduce = Conv2D(inChannels: channels, outChannels: squeezed, geometry: ConvGeometry(kernel: 1),
                            weight: random.floats(channels * squeezed), bias: random.floats(squeezed))
        let expand = Conv2D(inChannels: squeezed, outChannels: channels, geometry: ConvGeometry(kernel: 1),
                            weight: random.floats(channels * squeezed), bias: random.floats(channels))
        let input = random.tensor([2, channels, 5, 3])
        assertMatchesTwin(squeezeExcitation(input, reduce: reduce, expand: expand, activation: .silu),
                          Naive.squeezeExcitation(input, reduce: reduce, expand: expand, activation: .silu), "squeeze-excitation")
    }
}
