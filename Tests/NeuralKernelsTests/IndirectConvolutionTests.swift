// The indirect path (IndirectConvolution.swift): convolutions with K = IC·KH·KW ≤ 256 on the AVX-512 tile,
// reading the input's column phases in place instead of an im2col block. It must give the im2col path's bits
// (the same multiply-adds in the same order, the same epilogue) for every activation, thread count and batch,
// match the naive twin, and be the path the five networks' stems take.

import XCTest
import NeuralKernels
import TestSupport

final class IndirectConvolutionTests: XCTestCase {
    let activations: [Activation] = [.identity, .relu, .relu6, .silu, .sigmoid]

    /// (label, batch, input channels, output channels, height, width, geometry): the stems' shapes on small odd
    /// planes, stride 1 and 2, asymmetric kernels and padding, output rows of one, several and ragged 32-pixel
    /// tiles (5, 16, 17, 35, 70 pixels), output channels ending in panels of 4, 5 and 12 rows, K up to 196, and a
    /// window wider than its padded input (found by FastKernelTests' random shapes: the layout must hold what it reads).
    let cases: [(String, Int, Int, Int, Int, Int, ConvGeometry)] = [
        ("ResNet/GoogLeNet stem 7x7 s2", 2, 3, 64, 37, 41, ConvGeometry(kernel: 7, stride: 2, padding: 3)),
        ("Inception stem 3x3 s2 no padding", 1, 3, 32, 29, 35, ConvGeometry(kernel: 3, stride: 2)),
        ("EfficientNet stem 3x3 s2", 2, 3, 24, 32, 32, ConvGeometry(kernel: 3, stride: 2, padding: 1)),
        ("TF SAME stem 3x3 s2 (padding bottom/right)", 1, 3, 32, 30, 33,
         ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (top: 0, left: 0, bottom: 1, right: 1))),
        ("3x3 s1, 70 wide, 29 channels", 2, 3, 29, 11, 70, ConvGeometry(kernel: 3, padding: 1)),
        ("5x3 stride (2, 1)", 1, 2, 13, 17, 5, ConvGeometry(kernel: (5, 3), stride: (2, 1), padding: (top: 2, left: 1, bottom: 2, right: 1))),
        ("1x7 s1, K 28", 2, 4, 40, 9, 16, ConvGeometry(kernel: (1, 7), padding: (top: 0, left: 3, bottom: 0, right: 3))),
        ("7x7 s2, 4 channels in, K 196, 4 channels out", 1, 4, 4, 12, 34, ConvGeometry(kernel: 7, stride: 2, padding: 3)),
        ("window wider than the padded input", 1, 3, 4, 6, 1,
         ConvGeometry(kernel: (2, 5), stride: (1, 2), padding: (top: 0, left: 1, bottom: 2, right: 2))),
    ]

    func testIndirectPathMatchesIm2colBitForBit() throws {
        guard GemmKernel.native == .avx512 else { throw XCTSkip("skipped: no AVX-512 (the indirect path runs on AVX-512 tiles only)") }
        var random = TestGenerator(seed: 91)
        for (label, batch, inChannels, outChannels, height, width, geometry) in cases {
            let k = geometry.kernelHeight * geometry.kernelWidth
            let layer = Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry,
                               weight: random.floats(outChannels * inChannels * k), bias: random.floats(outChannels, scale: 4))
            let input = random.tensor([batch, inChannels, height, width])
            XCTAssertEqual(convolutionPath(layer, height: height, width: width, hasResidual: false,
                                           context: KernelContext(gemmKernel: .avx512)), .indirect, label)
            let plainTwin = Naive.conv2d(input, layer)
            for activation in activations {
                let reference = conv2d(input, layer, activation: activation, algorithm: .im2col,
                                       context: KernelContext(threadCount: 1, gemmKernel: .avx512))
                let twin = Naive.activate(plainTwin, activation)
                for threads in [1, 2, 3] {
                    let context = KernelContext(threadCount: threads, gemmKernel: .avx512)
                    let indirect = conv2d(input, layer, activation: activation, context: context)
                    XCTAssertEqual(indirect.storage, reference.storage, "\(label), \(activation), \(threads) threads: differs from im2col")
                    assertMatchesTwin(indirect, twin, "\(label), \(activation), \(threads) threads")
                }
                // Each image alone gives the batch's bits.
                let per = reference.count / batch
                for image in 0..<batch {
                    let single = Tensor(shape: [1, inChannels, height, width],
                                        storage: Array(input.storage[(image * input.count / batch)..<((image + 1) * input.count / batch)]))
                    let alone = conv2d(single, layer, activation: activation, context: KernelContext(threadCount: 2, gemmKernel: .avx512))
                    XCTAssertEqual(alone.storage, Array(reference.storage[(image * per)..<((image + 1) * per)]), "\(label), image \(image) alone")
                }
            }
        }
    }

    /// Written into a channel slice of a wider output (GoogLeNet-style concatenation) without touching the rest.
    func testIndirectPathWritesItsChannelSliceOnly() throws {
        guard GemmKernel.native == .avx512 else { throw XCTSkip("skipped: no AVX-512 (the indirect path runs on AVX-512 tiles only)") }
        var random = TestGenerator(seed: 92)
        let layer = Conv2D(inChannels: 3, outChannels: 20, geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1),
                           weight: random.floats(20 * 27), bias: random.floats(20))
        let input = random.tensor([2, 3, 15, 21])
        let alone = conv2d(input, layer, activation: .relu, context: KernelContext(threadCount: 2, gemmKernel: .avx512))
        let sentinel: Float = -7
        var wide = Tensor(shape: [2, 27, 8, 11], storage: [Float](repeating: sentinel, count: 2 * 27 * 8 * 11))
        conv2d(input, layer, activation: .relu, into: &wide, channelOffset: 5, context: KernelContext(threadCount: 2, gemmKernel: .avx512))
        for image in 0..<2 {
            for channel in 0..<27 {
                let row = Array(wide.storage[((image * 27 + channel) * 88)..<((image * 27 + channel + 1) * 88)])
                if (5..<25).contains(channel) {
                    let base = (image * 20 + channel - 5) * 88
                    XCTAssertEqual(row, Array(alone.storage[base..<(base + 88)]), "image \(image) channel \(channel)")
                } else {
                    XCTAssertEqual(row, [Float](repeating: sentinel, count: 88), "image \(image) channel \(channel) was written")
                }
            }
        }
    }

    /// The stems take the indirect path on AVX-512 tiles; more than 4 input channels, bigger depths, a residual, 1x1,
    /// dilation, stride 3, AVX2 tiles and `.im2col` keep the im2col path.
    func testWhichConvolutionsTakeTheIndirectPath() {
        func layer(_ inChannels: Int, _ geometry: ConvGeometry) -> Conv2D {
            let k = geometry.kernelHeight * geometry.kernelWidth
            return Conv2D(inChannels: inChannels, outChannels: 8, geometry: geometry,
                          weight: [Float](repeating: 0.1, count: 8 * inChannels * k))
        }
        let avx512 = KernelContext(threadCount: 1, gemmKernel: .avx512)
        for (inChannels, geometry) in [(3, ConvGeometry(kernel: 7, stride: 2, padding: 3)), (3, ConvGeometry(kernel: 3, stride: 2)),
                                       (3, ConvGeometry(kernel: 3, stride: 2, padding: 1))] {
            XCTAssertEqual(convolutionPath(layer(inChannels, geometry), height: 224, width: 224, hasResidual: false, context: avx512), .indirect)
            XCTAssertEqual(convolutionPath(layer(inChannels, geometry), height: 224, width: 224, hasResidual: false, algorithm: .im2col,
                                           context: avx512), .gemm)
            XCTAssertEqual(convolutionPath(layer(inChannels, geometry), height: 224, width: 224, hasResidual: true, context: avx512), .gemm)
            XCTAssertEqual(convolutionPath(layer(inChannels, geometry), height: 224, width: 224, hasResidual: false,
                                           context: KernelContext(threadCount: 1, gemmKernel: .avx2)), .gemm)
        }
        XCTAssertEqual(convolutionPath(layer(5, ConvGeometry(kernel: 3, stride: 2)), height: 30, width: 30, hasResidual: false,
                                       context: avx512), .gemm, "5 input channels")
        XCTAssertEqual(convolutionPath(layer(4, ConvGeometry(kernel: 9, stride: 2)), height: 30, width: 30, hasResidual: false,
                                       context: avx512), .gemm, "K = 324 is two depth blocks")
        XCTAssertEqual(convolutionPath(layer(3, ConvGeometry(kernel: 1)), height: 30, width: 30, hasResidual: false, context: avx512), .gemm)
        XCTAssertEqual(convolutionPath(layer(3, ConvGeometry(kernel: 3, dilation: 2)), height: 30, width: 30, hasResidual: false,
                                       algorithm: .direct, context: avx512), .gemm)
        XCTAssertEqual(convolutionPath(layer(3, ConvGeometry(kernel: 3, stride: 3)), height: 30, width: 30, hasResidual: false,
                                       context: avx512), .gemm)
    }
}
