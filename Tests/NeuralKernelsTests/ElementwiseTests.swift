// The vectorised element-wise kernels (Elementwise.swift): the SIMD exponential against
// Foundation's expf and a double-precision exp, and the activations, residual add, output pass
// and squeeze-excitation against their naive twins on lengths that leave partial vectors.

import Foundation
import XCTest
import NeuralKernels
import TestSupport

/// Distance in units in the last place between two finite positive floats.
private func ulpDistance(_ a: Float, _ b: Float) -> Int {
    abs(Int(a.bitPattern) - Int(b.bitPattern))
}

final class ElementwiseTests: XCTestCase {
    /// Every float x on a grid of 2^20 + 1 points over [ln 2^-126, 88.376] (the range where e^x is
    /// a normal float), plus [-1, 1] at step 2^-12: the vector exponential is within 1 ulp of expf and
    /// within a relative 1e-7 of e^x in double (one float ulp is 6e-8 to 1.2e-7 relative). Over every
    /// 64th float of the range (35 M points) it measured: 99.2 % equal to expf, the rest 1 ulp off,
    /// largest relative error 8.0e-8.
    func testExponentialAgainstExpf() {
        let low: Float = -87.33654, high: Float = 88.37626
        var inputs = [Float]()
        let steps = 1 << 20
        for i in 0...steps { inputs.append(low + (high - low) * Float(i) / Float(steps)) }
        for i in -4096...4096 { inputs.append(Float(i) / 4096) }
        inputs.append(contentsOf: [0, -0.0, Float.ulpOfOne, -Float.ulpOfOne, 1e-30, -1e-30])
        let results = vectorExponential(inputs)
        var worstUlp = 0, worstRelative = 0.0, worstInput: Float = 0
        for (x, result) in zip(inputs, results) {
            let reference = expf(x), exact = exp(Double(x))
            let ulp = ulpDistance(result, reference)
            if ulp > worstUlp { worstUlp = ulp; worstInput = x }
            worstRelative = max(worstRelative, abs(Double(result) - exact) / exact)
        }
        XCTAssertLessThanOrEqual(worstUlp, 1, "largest ulp distance to expf \(worstUlp) at x = \(worstInput)")
        XCTAssertLessThanOrEqual(worstRelative, 1e-7, "largest relative error to exp (double) \(worstRelative)")
        XCTAssertEqual(vectorExponential([0, 0, 0]), [1, 1, 1])
    }

    /// SiLU and sigmoid (through `exponential`, then a division): within 4 ulp of the values computed in Double,
    /// on a fine sweep of x over the range where they are normal floats.
    func testSiLUAndSigmoidWithinFourUlp() {
        let xs = stride(from: -86.0, through: 86.0, by: 0.0037).map { Float($0) }
        let input = Tensor(shape: [1, 1, 1, xs.count], storage: xs)
        let sigmoid = activate(input, .sigmoid).storage, silu = activate(input, .silu).storage
        var worstSigmoid: Float = 0, worstSiLU: Float = 0
        for (index, x) in xs.enumerated() {
            let exact = 1 / (1 + exp(-Double(x)))
            let expectedSigmoid = Float(exact), expectedSiLU = Float(Double(x) * exact)
            worstSigmoid = max(worstSigmoid, abs(sigmoid[index] - expectedSigmoid) / expectedSigmoid.ulp)
            if expectedSiLU != 0 { worstSiLU = max(worstSiLU, abs(silu[index] - expectedSiLU) / expectedSiLU.ulp) }
        }
        XCTAssertLessThanOrEqual(worstSigmoid, 4, "sigmoid: worst error in ulp")
        XCTAssertLessThanOrEqual(worstSiLU, 4, "SiLU: worst error in ulp")
    }

    /// Outside the normal range the result is clamped: tiny and non-negative below, large and finite
    /// above, never NaN; so SiLU and sigmoid saturate to exactly x and 1 for large x, and to within
    /// 1e-33 of 0 for very negative x (PyTorch gives -0 and 0 there).
    func testExponentialOutsideNormalRange() {
        let below = vectorExponential([-87.4, -88, -90, -100, -103.9, -200, -1e6, -.infinity])
        for lane in below.indices {
            XCTAssertTrue(below[lane] >= 0 && below[lane] <= 1.2e-38, "e^x below range lane \(lane): \(below[lane])")
        }
        let above = vectorExponential([88.38, 88.5, 89, 100, 200, 1e6, .infinity, 88.7])
        for lane in above.indices {
            XCTAssertTrue(above[lane].isFinite && above[lane] >= 2.3e38, "e^x above range lane \(lane): \(above[lane])")
        }
        let extremes = Tensor(shape: [1, 1, 1, 6], storage: [-1e4, -100, -90, 90, 100, 1e4])
        let sigmoid = activate(extremes, .sigmoid), silu = activate(extremes, .silu)
        XCTAssertEqual(Array(sigmoid.storage[3...]), [1, 1, 1])
        XCTAssertEqual(Array(silu.storage[3...]), [90, 100, 1e4])
        for i in 0..<3 {
            XCTAssertTrue(sigmoid.storage[i] >= 0 && sigmoid.storage[i] < 1e-38, "sigmoid(\(extremes.storage[i])) = \(sigmoid.storage[i])")
            XCTAssertTrue(silu.storage[i] <= 0 && silu.storage[i] > -1e-33, "silu(\(extremes.storage[i])) = \(silu.storage[i])")
        }
    }

    /// Lengths around the 16-lane vector (partial tails), values spread over ±40 so SiLU and sigmoid
    /// cover both saturations; the result must not depend on how the threads split the tensor.
    func testActivationsAndAddMatchTwinsOnTailLengths() {
        var random = TestGenerator(seed: 41)
        for width in [1, 3, 15, 16, 17, 31, 33, 100, 16387] {
            let input = Tensor(shape: [1, 1, 1, width], storage: random.floats(width, scale: 40))
            let other = Tensor(shape: [1, 1, 1, width], storage: random.floats(width, scale: 40))
            for activation in [Activation.identity, .relu, .relu6, .silu, .sigmoid] {
                let single = activate(input, activation, context: .singleThread)
                assertMatchesTwin(single, Naive.activate(input, activation), "activate \(activation) width \(width)")
                XCTAssertEqual(activate(input, activation, context: KernelContext(threadCount: 3)).storage, single.storage,
                               "activate \(activation) width \(width): thread count changed the result")
                let sum = add(input, other, activation: activation, context: .singleThread)
                assertMatchesTwin(sum, Naive.add(input, other, activation: activation), "add \(activation) width \(width)")
                XCTAssertEqual(add(input, other, activation: activation, context: KernelContext(threadCount: 2)).storage, sum.storage,
                               "add \(activation) width \(width): thread count changed the result")
            }
        }
    }

    /// The fused output pass after a pointwise GEMM, with bias, residual and each activation, on
    /// planes whose size is not a multiple of 16, written into a channel slice.
    func testOutputPassWithResidualOnOddPlanes() {
        var random = TestGenerator(seed: 43)
        for (index, (height, width)) in [(1, 1), (3, 5), (4, 4), (7, 9), (13, 11)].enumerated() {
            let layer = Conv2D(inChannels: 5, outChannels: 6, geometry: ConvGeometry(kernel: 1),
                               weight: random.floats(30), bias: random.floats(6, scale: 3))
            let input = random.tensor([2, 5, height, width])
            let residual = random.tensor([2, 6, height, width])
            for activation in [Activation.identity, .relu, .relu6, .silu, .sigmoid] {
                let expected = Naive.add(Naive.conv2d(input, layer), residual, activation: activation)
                assertMatchesTwin(conv2d(input, layer, activation: activation, residual: residual, context: KernelContext(threadCount: 2)),
                                  expected, "output pass case \(index) \(activation)")
            }
            var slice = Tensor(shape: [2, 9, height, width], repeating: .nan)
            let other = random.tensor([2, 3, height, width])
            copyChannels(other, into: &slice, channelOffset: 6)
            conv2d(input, layer, activation: .silu, into: &slice, channelOffset: 0)
            assertMatchesTwin(slice, Naive.concatChannels([Naive.conv2d(input, layer, activation: .silu), other]), "slice case \(index)")
        }
    }

    func testSqueezeExcitationOnOddPlanes() {
        var random = TestGenerator(seed: 47)
        for (height, width) in [(1, 1), (3, 5), (4, 4), (12, 12), (7, 9)] {
            let channels = 20, squeezed = 5
            let reduce = Conv2D(inChannels: channels, outChannels: squeezed, geometry: ConvGeometry(kernel: 1),
                                weight: random.floats(channels * squeezed), bias: random.floats(squeezed))
            let expand = Conv2D(inChannels: squeezed, outChannels: channels, geometry: ConvGeometry(kernel: 1),
                                weight: random.floats(channels * squeezed), bias: random.floats(channels))
            let input = random.tensor([2, channels, height, width])
            for context in [KernelContext.singleThread, KernelContext(threadCount: 3)] {
                assertMatchesTwin(squeezeExcitation(input, reduce: reduce, expand: expand, activation: .silu, context: context),
                                  Naive.squeezeExcitation(input, reduce: reduce, expand: expand, activation: .silu),
                                  "squeeze-excitation \(height)x\(width) threads \(context.threadCount)")
            }
        }
    }
}
