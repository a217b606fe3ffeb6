// The ways conv2d cuts a convolution into pieces (Convolution.swift, Winograd.swift), each against the
// naive twin, and each independent of the thread count and of the batch, bit for bit.

import XCTest
import NeuralKernels
import TestSupport

final class ConvolutionSplitTests: XCTestCase {
    struct Case {
        let label: String
        let batch: Int, inChannels: Int, outChannels: Int, height: Int, width: Int
        let geometry: ConvGeometry
        let algorithm: ConvolutionAlgorithm

        /// Random weights, bias and input of this case's shape.
        func random(_ random: inout TestGenerator) -> (layer: Conv2D, input: Tensor) {
            let layer = Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry,
                               weight: random.floats(outChannels * inChannels * geometry.kernelHeight * geometry.kernelWidth),
                               bias: random.floats(outChannels))
            return (layer, random.tensor([batch, inChannels, height, width]))
        }
    }

    let cases: [Case] = [
        // More output channels than pixels: pieces of output channels (im2col once per image).
        Case(label: "channel pieces, im2col", batch: 3, inChannels: 12, outChannels: 80, height: 9, width: 11,
             geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1), algorithm: .direct),
        // ... and straight on the input planes.
        Case(label: "channel pieces, 1x1", batch: 2, inChannels: 20, outChannels: 96, height: 6, width: 7,
             geometry: ConvGeometry(kernel: 1), algorithm: .automatic),
        // Pixel pieces of a wide plane: OpenBLAS's column results depend on the call's column count, so the
        // pieces must not depend on the threads or the batch.
        Case(label: "pixel pieces, wide plane", batch: 2, inChannels: 64, outChannels: 64, height: 80, width: 80,
             geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1), algorithm: .direct),
        Case(label: "pixel pieces, 1x1 wide plane", batch: 3, inChannels: 48, outChannels: 72, height: 30, width: 31,
             geometry: ConvGeometry(kernel: 1), algorithm: .automatic),
        // Pixel pieces with im2col blocks that end mid-row.
        Case(label: "pixel pieces, im2col", batch: 3, inChannels: 40, outChannels: 24, height: 33, width: 29,
             geometry: ConvGeometry(kernel: 5, stride: 1, padding: 2), algorithm: .direct),
        // The packed GEMM's edges (PackedGemm.swift): output channels not a multiple of the 6- or 12-row panel,
        // pixels not a multiple of the 16- or 32-column panel, and a depth cut into several blocks (K = 600 → 3).
        Case(label: "packed GEMM, 1x1, 3 depth blocks, ragged panels", batch: 2, inChannels: 600, outChannels: 29, height: 9, width: 13,
             geometry: ConvGeometry(kernel: 1), algorithm: .automatic),
        Case(label: "packed GEMM, channel pieces of 6-row panels, ragged", batch: 2, inChannels: 70, outChannels: 101, height: 5, width: 7,
             geometry: ConvGeometry(kernel: 3, padding: 1), algorithm: .direct),
        Case(label: "packed GEMM, Winograd with ragged panels and 2 depth blocks", batch: 1, inChannels: 300, outChannels: 23, height: 19, width: 21,
             geometry: ConvGeometry(kernel: 3, padding: 1), algorithm: .winograd),
        // Both Winograd tiles: one block for the whole image, shared by the workers; several blocks, SIMD runs with
        // partial edges and a cropped last row/column; no padding and an odd output.
    ] + [ConvolutionAlgorithm.winograd, .winograd4x4].flatMap { algorithm in [
        Case(label: "\(algorithm), one shared block", batch: 1, inChannels: 20, outChannels: 24, height: 14, width: 14,
             geometry: ConvGeometry(kernel: 3, padding: 1), algorithm: algorithm),
        Case(label: "\(algorithm), many blocks", batch: 2, inChannels: 17, outChannels: 19, height: 77, width: 45,
             geometry: ConvGeometry(kernel: 3, padding: 1), algorithm: algorithm),
        Case(label: "\(algorithm), no padding, odd output", batch: 1, inChannels: 16, outChannels: 16, height: 42, width: 39,
             geometry: ConvGeometry(kernel: 3), algorithm: algorithm),
    ] }

    func testEveryPieceMatchesTheTwin() {
        var random = TestGenerator(seed: 31)
        for item in cases {
            let (layer, input) = item.random(&random)
            let (outputHeight, outputWidth) = item.geometry.outputSize(height: item.height, width: item.width)
            let residual = random.tensor([item.batch, item.outChannels, outputHeight, outputWidth])
            let expected = Naive.add(Naive.conv2d(input, layer), residual, activation: .relu)
            for kernel in GemmKernel.supported {
                for threads in [1, 2, 3] {
                    let fast = conv2d(input, layer, activation: .relu, residual: residual, algorithm: item.algorithm,
                                      context: KernelContext(threadCount: threads, gemmKernel: kernel))
                    assertMatchesTwin(fast, expected, "\(item.label), \(kernel.rawValue), \(threads) threads")
                }
            }
        }
    }

    func testPiecesDoNotDependOnThreadsOrBatch() {
        var random = TestGenerator(seed: 32)
        for item in cases {
          for kernel in GemmKernel.supported {
            let (layer, input) = item.random(&random)
            let whole = conv2d(input, layer, activation: .silu, algorithm: item.algorithm, context: KernelContext(threadCount: 3, gemmKernel: kernel))
            let inPlane = item.inChannels * item.height * item.width
            let outPlane = whole.count / item.batch
            for image in 0..<item.batch {
                let single = Tensor(shape: [1, item.inChannels, item.height, item.width],
                                    storage: Array(input.storage[image * inPlane..<(image + 1) * inPlane]))
                let alone = conv2d(single, layer, activation: .silu, algorithm: item.algorithm,
                                   context: KernelContext(threadCount: 1, gemmKernel: kernel))
                XCTAssertEqual(alone.storage, Array(whole.storage[image * outPlane..<(image + 1) * outPlane]),
                               "\(item.label), \(kernel.rawValue), image \(image)")
            }
          }
        }
    }
}
