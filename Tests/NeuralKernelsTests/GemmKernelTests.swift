// The packed GEMM's register tiles (PackedGemm.swift: 6 x 16 for AVX2, 12 x 32 for AVX-512), each against the
// naive twin on the machine that has its vector unit, through the public entry that is a plain GEMM: a 1x1
// stride-1 convolution (out[OC x P] = W[OC x IC] · X[IC x P]). A kernel this machine cannot run natively is
// skipped with a message naming the missing unit, never passed silently.

import XCTest
import NeuralKernels
import TestSupport

final class GemmKernelTests: XCTestCase {
    /// Throws XCTSkip when this machine (or this build) lacks the kernel's vector unit.
    func requireKernel(_ kernel: GemmKernel) throws {
        guard GemmKernel.supported.contains(kernel) else {
            let cpu = CPUFeatures.current
            let why = cpu.hasAVX512 ? "this build does not target it (CARCINOMA_TARGET_CPU)" : "\(cpu.modelName) has \(cpu.vectorUnit) only"
            throw XCTSkip("skipped: no AVX-512 for the \(kernel.rawValue) kernel: \(why)")
        }
    }

    /// Shapes around each kernel's panel edges: rows (output channels) 1, mr - 1, mr + 1 and 2 mr + 5;
    /// columns (pixels) under half a panel, between half and one, several panels plus a narrow tail; depth
    /// under one block, several blocks with a ragged last one.
    func shapes(_ kernel: GemmKernel) -> [(rows: Int, depth: Int, height: Int, width: Int)] {
        let mr = kernel.panelRows, nr = kernel.panelColumns
        return [
            (1, 3, 1, 1), (mr - 1, 17, 1, nr / 2 - 1), (mr + 1, 64, 1, nr / 2 + 3), (2 * mr + 5, 300, 3, nr + 1),
            (3 * mr, 257, 5, 2 * nr + nr / 2), (mr, 600, 7, 7), (4 * mr + 1, 529, 13, 11), (2 * mr - 3, 8, 2, 3 * nr),
        ]
    }

    func checkKernel(_ kernel: GemmKernel) throws {
        try requireKernel(kernel)
        var random = TestGenerator(seed: 41)
        for (index, shape) in shapes(kernel).enumerated() {
            let layer = Conv2D(inChannels: shape.depth, outChannels: shape.rows, geometry: ConvGeometry(kernel: 1),
                               weight: random.floats(shape.rows * shape.depth), bias: random.floats(shape.rows))
            let input = random.tensor([2, shape.depth, shape.height, shape.width])
            let expected = Naive.conv2d(input, layer, activation: .relu)
            for threads in [1, 2, 3] {
                let context = KernelContext(threadCount: threads, gemmKernel: kernel)
                assertMatchesTwin(conv2d(input, layer, activation: .relu, context: context), expected,
                                  "\(kernel.rawValue) shape \(index) \(shape), \(threads) threads")
            }
        }
    }

    /// Every column-tile width (1 ... nr/4 columns left after full or narrow panels), over row blocks that hold
    /// whole groups of row panels, a single panel left over and a partial last panel, added to C across depth
    /// blocks: against the naive twin, and bit for bit against the same columns computed inside a wider plane
    /// (where the full tile computes them).
    func checkColumnTiles(_ kernel: GemmKernel) throws {
        try requireKernel(kernel)
        var random = TestGenerator(seed: 43)
        let mr = kernel.panelRows, nr = kernel.panelColumns
        for extra in 1...kernel.tailColumns {
            for (rows, lead) in [(9 * mr + 5, nr), (mr - 2, nr / 2)] {
                let depth = 300, width = lead + extra
                // width: a full panel and `extra` columns, or a narrow panel and `extra` columns (< nr in all).
                let layer = Conv2D(inChannels: depth, outChannels: rows, geometry: ConvGeometry(kernel: 1),
                                   weight: random.floats(rows * depth), bias: random.floats(rows))
                let input = random.tensor([1, depth, 1, width])
                let context = KernelContext(threadCount: 1, gemmKernel: kernel)
                let result = conv2d(input, layer, context: context)
                assertMatchesTwin(result, Naive.conv2d(input, layer), "\(kernel.rawValue) \(rows) x \(width)")
                // The same pixels as the first columns of a plane of 2 nr: all in full panels there.
                var wide = Tensor(shape: [1, depth, 1, 2 * nr], storage: random.floats(depth * 2 * nr))
                for c in 0..<depth { for x in 0..<width { wide.storage[c * 2 * nr + x] = input.storage[c * width + x] } }
                let wideResult = conv2d(wide, layer, context: context)
                for r in 0..<rows {
                    XCTAssertEqual(Array(result.storage[(r * width)..<((r + 1) * width)]),
                                   Array(wideResult.storage[(r * 2 * nr)..<(r * 2 * nr + width)]),
                                   "\(kernel.rawValue) \(rows) x \(width): row \(r) differs from the full tile's")
                }
            }
        }
    }

    func testAVX2ColumnTiles() throws { try checkColumnTiles(.avx2) }
    func testAVX512ColumnTiles() throws { try checkColumnTiles(.avx512) }

    func testAVX2Kernel() throws { try checkKernel(.avx2) }
    func testAVX512Kernel() throws { try checkKernel(.avx512) }

    /// Every kernel sums each element over k in the same order (the same depth blocks, one multiply-add per k),
    /// so the kernels agree bit for bit, on the GEMM, im2col and Winograd paths alike.
    func testKernelsAgreeBitForBit() throws {
        try requireKernel(.avx512)
        var random = TestGenerator(seed: 42)
        let cases: [(inChannels: Int, outChannels: Int, size: Int, geometry: ConvGeometry, algorithm: ConvolutionAlgorithm)] = [
            (300, 29, 9, ConvGeometry(kernel: 1), .automatic),
            (40, 70, 11, ConvGeometry(kernel: 3, stride: 2, padding: 1), .direct),
            (33, 45, 30, ConvGeometry(kernel: 3, padding: 1), .winograd),
            (3, 64, 37, ConvGeometry(kernel: 7, stride: 2, padding: 3), .direct),
        ]
        for item in cases {
            let k = item.geometry.kernelHeight * item.geometry.kernelWidth
            let layer = Conv2D(inChannels: item.inChannels, outChannels: item.outChannels, geometry: item.geometry,
                               weight: random.floats(item.outChannels * item.inChannels * k), bias: random.floats(item.outChannels))
            let input = random.tensor([2, item.inChannels, item.size, item.size])
            let results = GemmKernel.allCases.map {
                conv2d(input, layer, activation: .silu, algorithm: item.algorithm, context: KernelContext(threadCount: 2, gemmKernel: $0)).storage
            }
            for (kernel, result) in zip(GemmKernel.allCases, results).dropFirst() {
                XCTAssertEqual(result, results[0], "\(kernel.rawValue) vs \(GemmKernel.allCases[0].rawValue), \(item)")
            }
        }
    }

    /// A call with few rows of A reads B's rows in place (GemmKernel.readsInPlace), one with many packs them: the rows
    /// of a small 1x1 layer equal, bit for bit, the same rows inside a layer with more output channels than
    /// GemmBlocking.inPlaceRows (one thread, so one call has them all), with and without a residual and activation
    /// finished in the tiles, on planes whose columns end in a full, narrow or column-tile panel, and both against the
    /// naive twin.
    func testInPlaceColumnsMatchPackedColumns() throws {
        try requireKernel(.avx512)
        var random = TestGenerator(seed: 44)
        let context = KernelContext(threadCount: 1, gemmKernel: .avx512)
        for (depth, rows, height, width) in [(300, 29, 7, 7), (70, 100, 14, 14), (520, 12, 3, 32), (40, 40, 5, 13), (64, 24, 1, 36)] {
            let manyRows = 300
            let wide = Conv2D(inChannels: depth, outChannels: manyRows, geometry: ConvGeometry(kernel: 1),
                              weight: random.floats(manyRows * depth), bias: random.floats(manyRows))
            let few = Conv2D(inChannels: depth, outChannels: rows, geometry: ConvGeometry(kernel: 1),
                             weight: Array(wide.weight[0..<(rows * depth)]), bias: Array(wide.bias[0..<rows]))
            let input = random.tensor([1, depth, height, width])
            let plane = height * width
            let residual = random.tensor([1, rows, height, width]), wideResidual = random.tensor([1, manyRows, height, width])
            var combined = wideResidual
            for i in 0..<(rows * plane) { combined.storage[i] = residual.storage[i] }
            for withResidual in [false, true] {
                let small = conv2d(input, few, activation: .relu6, residual: withResidual ? residual : nil, context: context)
                let large = conv2d(input, wide, activation: .relu6, residual: withResidual ? combined : nil, context: context)
                let label = "\(depth) -> \(rows) at \(height)x\(width)\(withResidual ? " + residual" : "")"
                var expected = Naive.conv2d(input, few)
                for i in expected.storage.indices {
                    expected.storage[i] = min(6, max(0, expected.storage[i] + (withResidual ? residual.storage[i] : 0)))
                }
                assertMatchesTwin(small, expected, label)
                XCTAssertEqual(small.storage, Array(large.storage[0..<(rows * plane)]), "\(label): in place differs from packed")
            }
        }
    }

    /// The machine's kernel follows its flags: AVX-512 wherever the CPU reports avx512f/bw/dq/vl and the build targets it.
    func testNativeKernelFollowsTheFlags() {
        let cpu = CPUFeatures.current
        if GemmKernel.native == .avx512 { XCTAssertTrue(cpu.hasAVX512, "AVX-512 kernel chosen on \(cpu.modelName) without the flags") }
        XCTAssertEqual(GemmKernel.supported.first, .avx2)
        XCTAssertTrue(GemmKernel.supported.contains(GemmKernel.native))
    }
}
