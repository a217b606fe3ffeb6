// The opt-in bfloat16 convolutions on each bfloat16 unit this machine has (Intel AMX's tiles, AVX512-BF16's
// VDPBF16PS: AMXGemm.swift, Sources/CAMX), against the naive twin:
//   .bfloat16   equals the float32 twin run on weights and inputs rounded to bfloat16 (the products of two
//               bfloat16 values are exact in float32; only the order of the float32 sums differs), and is
//               measurably not the unrounded float32 result;
//   .bfloat16x3 is within a few 2^-16 of the float32 twin, far inside what one bfloat16 rounding costs.
// Each element's error is bounded by the sum of |w·x| over its window (the twin run on |w| and |x|), so the
// checks hold for sums that cancel. On a machine without either unit every test says so and skips; a unit the
// machine lacks is named as skipped.

import XCTest
import NeuralKernels
import TestSupport

final class AMXGemmTests: XCTestCase {
    /// The units to test: every one this machine runs (skips when there is none; prints the ones it lacks).
    func units() throws -> [BFloat16Unit] {
        if let reason = Precision.bfloat16.unsupportedReason { throw XCTSkip("skipped: no bfloat16 unit: \(reason)") }
        for unit in BFloat16Unit.allCases where !BFloat16Unit.supported.contains(unit) {
            print("skipped: no \(unit == .amx ? "AMX" : "AVX512-BF16") on this machine: the \(unit.rawValue) unit is not tested here")
        }
        return BFloat16Unit.supported
    }

    /// bfloat16 of x, rounded to nearest, ties to even (as the packing does).
    func bfloat16(_ x: Float) -> Float {
        var bits = x.bitPattern
        bits &+= 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: bits & 0xFFFF_0000)
    }

    /// Shapes across the 32-row and 32-column panels and the 768-value depth blocks (1x1, im2col, and a 7x7
    /// plane that the workers split by output channels).
    let cases: [(inChannels: Int, outChannels: Int, height: Int, width: Int, geometry: ConvGeometry)] = [
        (3, 1, 5, 4, ConvGeometry(kernel: 1)),
        (17, 31, 6, 7, ConvGeometry(kernel: 1)),
        (64, 33, 9, 8, ConvGeometry(kernel: 1)),
        (300, 70, 7, 7, ConvGeometry(kernel: 1)),
        (40, 45, 11, 13, ConvGeometry(kernel: 3, stride: 2, padding: 1)),
        (96, 64, 7, 7, ConvGeometry(kernel: 3, padding: 1)),
        (3, 64, 37, 35, ConvGeometry(kernel: 7, stride: 2, padding: 3)),
        (16, 24, 30, 30, ConvGeometry(kernel: 3, padding: 1)),
    ]

    /// A convolution of `shape` with random weights, then random biases.
    func randomLayer(_ shape: (inChannels: Int, outChannels: Int, height: Int, width: Int, geometry: ConvGeometry),
                     _ random: inout TestGenerator) -> Conv2D {
        let geometry = shape.geometry
        return Conv2D(inChannels: shape.inChannels, outChannels: shape.outChannels, geometry: geometry,
                      weight: random.floats(shape.outChannels * shape.inChannels * geometry.kernelHeight * geometry.kernelWidth),
                      bias: random.floats(shape.outChannels))
    }

    /// conv(|x|, |w|) without bias: each output's sum of absolute products.
    func magnitudes(_ input: Tensor, _ layer: Conv2D) -> Tensor {
        var absolute = input
        absolute.storage = input.storage.map { abs($0) }
        let absoluteLayer = Conv2D(inChannels: layer.inChannels, outChannels: layer.outChannels, geometry: layer.geometry,
                                   weight: layer.weight.map { abs($0) })
        return Naive.conv2d(absolute, absoluteLayer)
    }

    /// Largest |fast - reference| / (magnitude + tiny) over the outputs.
    func relativeError(_ fast: Tensor, _ reference: Tensor, _ magnitude: Tensor) -> Double {
        zip(zip(fast.storage, reference.storage), magnitude.storage).map { pair, scale in
            Double(abs(pair.0 - pair.1)) / (Double(scale) + 1e-30)
        }.max() ?? 0
    }

    func testBfloat16EqualsTheTwinOnRoundedOperands() throws {
        for unit in try units() {
        var random = TestGenerator(seed: 61)
        for (index, shape) in cases.enumerated() {
            let layer = randomLayer(shape, &random)
            let input = random.tensor([2, shape.inChannels, shape.height, shape.width])
            var roundedInput = input
            roundedInput.storage = input.storage.map(bfloat16)
            let roundedLayer = Conv2D(inChannels: layer.inChannels, outChannels: layer.outChannels, geometry: layer.geometry,
                                      weight: layer.weight.map(bfloat16), bias: layer.bias)
            let twin = Naive.conv2d(roundedInput, roundedLayer)
            let unrounded = Naive.conv2d(input, layer)
            let magnitude = magnitudes(input, layer)
            let fast = conv2d(input, layer, context: KernelContext(threadCount: 2, precision: .bfloat16, bfloat16Unit: unit))
            let error = relativeError(fast, twin, magnitude)
            XCTAssertLessThan(error, 1e-6, "\(unit) case \(index) \(shape): bf16 vs the twin on rounded operands")
            // Rounding to bfloat16 costs up to ~2^-8 of the magnitude: the path really multiplied bfloat16.
            if shape.inChannels * shape.geometry.kernelHeight * shape.geometry.kernelWidth >= 17 {
                XCTAssertGreaterThan(relativeError(fast, unrounded, magnitude), 1e-4, "\(unit) case \(index): bf16 should differ from float32")
            }
        }
        }
    }

    func testBfloat16x3IsCloseToFloat32() throws {
        for unit in try units() {
        var random = TestGenerator(seed: 62)
        for (index, shape) in cases.enumerated() {
            let layer = randomLayer(shape, &random)
            let input = random.tensor([1, shape.inChannels, shape.height, shape.width])
            let twin = Naive.conv2d(input, layer, activation: .relu)
            let fast = conv2d(input, layer, activation: .relu,
                              context: KernelContext(threadCount: 2, precision: .bfloat16x3, bfloat16Unit: unit))
            // hi·hi + lo·hi + hi·lo leaves lo·lo (≤ 2^-16 of |a·b|) and the lo roundings (≤ 2^-17 each).
            XCTAssertLessThan(relativeError(fast, twin, magnitudes(input, layer)), 4e-5, "\(unit) case \(index) \(shape): bf16x3 vs float32")
        }
        }
    }

    /// As on the float32 path, the result does not depend on the thread count or the batch.
    func testIndependentOfThreadsAndBatch() throws {
        for unit in try units() {
        var random = TestGenerator(seed: 63)
        for precision in [Precision.bfloat16, .bfloat16x3] {
            for (index, shape) in cases.enumerated() {
                let layer = randomLayer(shape, &random)
                let batch = random.tensor([3, shape.inChannels, shape.height, shape.width])
                let reference = conv2d(batch, layer, context: KernelContext(threadCount: 1, precision: precision, bfloat16Unit: unit))
                for threads in [2, 3] {
                    let result = conv2d(batch, layer, context: KernelContext(threadCount: threads, precision: precision, bfloat16Unit: unit))
                    XCTAssertEqual(result.storage, reference.storage, "\(unit) \(precision) case \(index): \(threads) threads")
                }
                let perImage = batch.storage.count / 3, outPerImage = reference.storage.count / 3
                let single = Tensor(shape: [1, shape.inChannels, shape.height, shape.width],
                                    storage: Array(batch.storage[perImage..<(2 * perImage)]))
                let alone = conv2d(single, layer, context: KernelContext(threadCount: 2, precision: precision, bfloat16Unit: unit))
                XCTAssertEqual(alone.storage, Array(reference.storage[outPerImage..<(2 * outPerImage)]),
                               "\(unit) \(precision) case \(index): batch of 1")
            }
        }
        }
    }

    /// An inverted-bottleneck block large enough to run in bands under float32 (96 expanded channels at 128 x 128:
    /// 2^20 floats and more) multiplies every ungrouped convolution in bfloat16 too: the block equals its three layers
    /// run one after the other at the same precision, bit for bit (the bands expand on float32's packed GEMM, which a
    /// bfloat16 block must not take), and differs from the float32 block.
    func testLargeInvertedBottleneckExpandsInBfloat16() throws {
        for unit in try units() {
            var random = TestGenerator(seed: 64)
            let expand = Conv2D(inChannels: 16, outChannels: 96, geometry: ConvGeometry(kernel: 1),
                                weight: random.floats(96 * 16), bias: random.floats(96))
            let depthwise = Conv2D(inChannels: 96, outChannels: 96, geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1, groups: 96),
                                   weight: random.floats(96 * 9), bias: random.floats(96))
            let project = Conv2D(inChannels: 96, outChannels: 24, geometry: ConvGeometry(kernel: 1),
                                 weight: random.floats(24 * 96), bias: random.floats(24))
            let input = random.tensor([1, 16, 128, 128])
            for precision in [Precision.bfloat16, .bfloat16x3] {
                let context = KernelContext(threadCount: 2, precision: precision, bfloat16Unit: unit)
                let block = invertedBottleneck(input, expand: expand, expandActivation: .relu6, depthwise: depthwise,
                                               activation: .relu6, project: project, residual: false, context: context)
                let expanded = conv2d(input, expand, activation: .relu6, context: context)
                let layers = conv2d(conv2d(expanded, depthwise, activation: .relu6, context: context), project, context: context)
                let differing = zip(block.storage, layers.storage).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(unit) \(precision): values of the block that differ from its layers'")
                let float32 = invertedBottleneck(input, expand: expand, expandActivation: .relu6, depthwise: depthwise,
                                                 activation: .relu6, project: project, residual: false,
                                                 context: KernelContext(threadCount: 2))
                XCTAssertTrue(block.storage != float32.storage, "\(unit) \(precision): should not be float32's block")
            }
        }
    }
}
