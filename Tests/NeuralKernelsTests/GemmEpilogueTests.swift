// The convolution output pass (bias, residual, activation) applied by the packed GEMM's last depth block
// (PackedGemm.swift: FinishingTile on the accumulators for whole AVX-512 tiles, GemmColumnTile on its own for column
// tiles, fusedPass from memory for edge tiles; AVX2 keeps the separate pass). Through the public conv2d: every activation, with and
// without a residual, depths of one and of several blocks (the epilogue must wait for the last), planes and
// channel counts with full, narrow, edge and column tiles, on pixel pieces and on channel pieces. Each result
// must match the naive twin, and equal bit for bit the separate pass it replaces (the identity convolution
// without residual, then the stand-alone add or activate of Elementwise.swift, which run the same fusedPass)
// and every other kernel's result.

import XCTest
import NeuralKernels
import TestSupport

final class GemmEpilogueTests: XCTestCase {
    let activations: [Activation] = [.identity, .relu, .relu6, .silu, .sigmoid]

    /// (input channels, output channels, height, width, geometry): 1x1 convolutions on the input planes and a 3x3
    /// one through im2col, as pixel pieces (more pixels than channels) and channel pieces (the reverse, ≥ 32
    /// channels); depths 20 (one block), 300 and 360 (two blocks); 29 and 53 rows end in a partial row panel
    /// of 5 rows, 16 and 40 in one of 4 (AVX-512's row tiles of 8 and 4 rows), 81 pixels are panels of 32, 32, 16
    /// and a 1-column tile, 25 pixels one edge tile.
    let cases: [(inChannels: Int, outChannels: Int, height: Int, width: Int, geometry: ConvGeometry)] = [
        (300, 29, 9, 9, ConvGeometry(kernel: 1)),
        (20, 36, 8, 12, ConvGeometry(kernel: 1)),
        (300, 53, 5, 5, ConvGeometry(kernel: 1)),
        (40, 29, 9, 9, ConvGeometry(kernel: 3, padding: 1)),
        (40, 60, 5, 5, ConvGeometry(kernel: 3, padding: 1)),
        (300, 16, 8, 12, ConvGeometry(kernel: 1)),
        (40, 40, 5, 5, ConvGeometry(kernel: 3, padding: 1)),
    ]

    func testEpilogueMatchesTheSeparatePass() {
        var random = TestGenerator(seed: 57)
        for item in cases {
            let k = item.geometry.kernelHeight * item.geometry.kernelWidth
            let layer = Conv2D(inChannels: item.inChannels, outChannels: item.outChannels, geometry: item.geometry,
                               weight: random.floats(item.outChannels * item.inChannels * k), bias: random.floats(item.outChannels))
            let input = random.tensor([2, item.inChannels, item.height, item.width])
            // Scaled so that every activation's cut-offs (0, 6) and saturating ranges are crossed.
            let residual = Tensor(shape: [2, item.outChannels, item.height, item.width],
                                  storage: random.floats(2 * item.outChannels * item.height * item.width, scale: 8))
            let plainTwin = Naive.conv2d(input, layer)
            for kernel in GemmKernel.supported {
                for threads in [1, 2] {
                    let context = KernelContext(threadCount: threads, gemmKernel: kernel)
                    let plain = conv2d(input, layer, algorithm: .direct, context: context)
                    for activation in activations {
                        for added in [nil, residual] {
                            let label = "\(kernel.rawValue) \(item.inChannels)->\(item.outChannels) \(item.height)x\(item.width) "
                                + "k\(k), \(threads) threads, \(activation), residual \(added != nil)"
                            let fused = conv2d(input, layer, activation: activation, residual: added, algorithm: .direct, context: context)
                            let separate = added.map { add(plain, $0, activation: activation, context: context) }
                                ?? activate(plain, activation, context: context)
                            XCTAssertEqual(fused.storage, separate.storage, "\(label): differs from the separate pass")
                            let twin = added.map { Naive.add(plainTwin, $0, activation: activation) } ?? Naive.activate(plainTwin, activation)
                            assertMatchesTwin(fused, twin, label)
                            let reference = conv2d(input, layer, activation: activation, residual: added, algorithm: .direct,
                                                   context: KernelContext(threadCount: 1, gemmKernel: .avx2))
                            XCTAssertEqual(fused.storage, reference.storage, "\(label): differs from the one-thread avx2 result")
                        }
                    }
                }
            }
        }
    }
}
