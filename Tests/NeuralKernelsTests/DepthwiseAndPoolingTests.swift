// The tiled depthwise convolution (Depthwise.swift), its channel-lane twin (DepthwiseChannelLanes.swift) and the vectorised pools (Pooling.swift)
// against their naive twins: sizes that leave partial 8-wide tiles and fewer than four tiles,
// kernels 1–7 (3 and 5 most often), strides 1–3, dilation, symmetric, asymmetric and TF-SAME
// padding, channel multipliers, fused residual, channel-slice output, and thread counts.

import XCTest
import NeuralKernels
import TestSupport

/// TF "SAME" padding (more at the bottom/right), as EfficientNet-Lite computes it.
private func samePadding(size: Int, kernel: Int, stride: Int) -> (Int, Int) {
    let out = (size + stride - 1) / stride
    let total = max((out - 1) * stride + kernel - size, 0)
    return (total / 2, total - total / 2)
}

/// The same bits in every value (NaN where the other has the same NaN): how many differ, and the first.
private func assertSameBits(_ actual: Tensor, _ expected: Tensor, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.shape, expected.shape, "\(label): shape", file: file, line: line)
    guard actual.shape == expected.shape else { return }
    let differing = actual.storage.indices.filter { actual.storage[$0].bitPattern != expected.storage[$0].bitPattern }
    if let first = differing.first {
        XCTFail("\(label): \(differing.count) of \(actual.count) values differ, first at \(first): "
                + "\(actual.storage[first]) against \(expected.storage[first])", file: file, line: line)
    }
}

final class DepthwiseAndPoolingTests: XCTestCase {
    let contexts = [KernelContext(threadCount: 1), KernelContext(threadCount: 2), KernelContext(threadCount: 3)]

    func depthwiseLayer(_ random: inout TestGenerator, channels: Int, multiplier: Int, geometry: ConvGeometry) -> Conv2D {
        let outChannels = channels * multiplier
        return Conv2D(inChannels: channels, outChannels: outChannels, geometry: geometry,
                      weight: random.floats(outChannels * geometry.kernelHeight * geometry.kernelWidth),
                      bias: random.floats(outChannels))
    }

    func testDepthwiseMatchesTwinOnRandomShapes() {
        var random = TestGenerator(seed: 51)
        let activations: [Activation] = [.identity, .relu, .relu6, .silu, .sigmoid]
        var trial = 0
        while trial < 250 {
            let kernel = [1, 2, 3, 3, 3, 5, 5, 7][random.integer(0...7)]
            let kernelWidth = random.integer(0...4) == 0 ? random.integer(1...5) : kernel
            let stride = (random.integer(1...3), random.integer(1...3))
            let dilation = random.integer(0...5) == 0 ? (random.integer(1...2), random.integer(1...2)) : (1, 1)
            let padding = (top: random.integer(0...3), left: random.integer(0...3), bottom: random.integer(0...3), right: random.integer(0...3))
            let channels = random.integer(1...7), multiplier = [1, 1, 1, 2, 3][random.integer(0...4)]
            let geometry = ConvGeometry(kernel: (kernel, kernelWidth), stride: stride, padding: padding, dilation: dilation, groups: channels)
            let height = random.integer(1...30), width = random.integer(1...40)
            let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
            guard outputHeight > 0 && outputWidth > 0 else { continue }
            let layer = depthwiseLayer(&random, channels: channels, multiplier: multiplier, geometry: geometry)
            let input = random.tensor([random.integer(1...2), channels, height, width])
            let activation = activations[trial % activations.count]
            let context = contexts[trial % contexts.count]
            let label = "depthwise trial \(trial) input \(input.shape) \(geometry) multiplier \(multiplier) \(activation)"
            if trial % 3 == 0 {
                let residual = random.tensor([input.batch, layer.outChannels, outputHeight, outputWidth])
                assertMatchesTwin(conv2d(input, layer, activation: activation, residual: residual, context: context),
                                  Naive.add(Naive.conv2d(input, layer), residual, activation: activation), label + " residual")
            } else {
                assertMatchesTwin(conv2d(input, layer, activation: activation, context: context),
                                  Naive.conv2d(input, layer, activation: activation), label)
            }
            trial += 1
        }
    }

    /// EfficientNet's depthwise shapes: 3x3 and 5x5, stride 1 and 2, symmetric (torchvision) and
    /// TF-SAME asymmetric (Lite) padding, on the plane widths the backbones meet and odd ones.
    func testDepthwiseEfficientNetShapes() {
        var random = TestGenerator(seed: 53)
        for size in [7, 12, 13, 14, 24, 28, 31, 48, 56] {
            for kernel in [3, 5] {
                for stride in [1, 2] {
                    let channels = 5
                    let symmetric = ConvGeometry(kernel: kernel, stride: stride, padding: kernel / 2, groups: channels)
                    let (top, bottom) = samePadding(size: size, kernel: kernel, stride: stride)
                    let (left, right) = samePadding(size: size + 1, kernel: kernel, stride: stride)
                    let same = ConvGeometry(kernel: (kernel, kernel), stride: (stride, stride),
                                            padding: (top, left, bottom, right), groups: channels)
                    for geometry in [symmetric, same] {
                        let layer = depthwiseLayer(&random, channels: channels, multiplier: 1, geometry: geometry)
                        let input = random.tensor([1, channels, size, size + 1])
                        for (index, context) in contexts.enumerated() {
                            let activation: Activation = index == 0 ? .silu : .relu6
                            assertMatchesTwin(conv2d(input, layer, activation: activation, context: context),
                                              Naive.conv2d(input, layer, activation: activation),
                                              "depthwise \(size)x\(size + 1) \(geometry) threads \(context.threadCount)")
                        }
                    }
                }
            }
        }
    }

    /// Bias first, then taps in (ky, kx) order, no fused multiply-add: the tiled kernel adds the
    /// same products in the same order as the twin, so its result is bit-identical, at any thread count.
    func testDepthwiseIsExactAndThreadIndependent() {
        var random = TestGenerator(seed: 57)
        let geometry = ConvGeometry(kernel: (3, 3), stride: (2, 2), padding: (0, 1, 1, 2), groups: 6)
        let layer = depthwiseLayer(&random, channels: 6, multiplier: 2, geometry: geometry)
        let input = random.tensor([2, 6, 17, 23])
        let expected = Naive.conv2d(input, layer)
        for context in contexts {
            XCTAssertEqual(conv2d(input, layer, context: context).storage, expected.storage, "threads \(context.threadCount)")
        }
    }

    func testDepthwiseIntoChannelSlice() {
        var random = TestGenerator(seed: 59)
        let geometry = ConvGeometry(kernel: 5, stride: 1, padding: 2, groups: 4)
        let layer = depthwiseLayer(&random, channels: 4, multiplier: 1, geometry: geometry)
        let input = random.tensor([2, 4, 9, 11])
        let other = random.tensor([2, 3, 9, 11])
        var slice = Tensor(shape: [2, 7, 9, 11], repeating: .nan)
        copyChannels(other, into: &slice, channelOffset: 0)
        conv2d(input, layer, activation: .silu, into: &slice, channelOffset: 3, context: contexts[2])
        assertMatchesTwin(slice, Naive.concatChannels([other, Naive.conv2d(input, layer, activation: .silu)]), "depthwise into slice")
    }

    /// 3x3 layers on wide rows without a residual read their input rows in place on AVX-512, and in an AVX2 build on
    /// AVX2 (the band kernel in depthwiseConvolution, 16 or 8 lanes): conv2d's result equals the planes kernel's bit
    /// for bit and the naive twin's, at stride 1 and 2, symmetric and TF-SAME padding, channel multipliers 1 and 2,
    /// every activation the kernel applies in its registers, one and two threads, batch 2, into a channel offset; rows
    /// just below the width where it starts and rows longer than one or several tiles.
    func testWideThreeByThreeRowsReadInPlace() throws {
        guard depthwiseBandKernelLanes != 0 else {
            throw XCTSkip("skipped: no band kernel here (AVX-512, or an AVX2 build on AVX2): the planes kernel runs wide 3x3 rows")
        }
        var random = TestGenerator(seed: 77)
        var trial = 0
        for (height, width, stride) in [(9, 50, 1), (7, 47, 1), (5, 61, 2), (6, 64, 2), (4, 63, 2), (3, 97, 1)] {
            for (channels, multiplier) in [(5, 1), (3, 2)] {
                let (top, bottom) = samePadding(size: height, kernel: 3, stride: stride)
                let (left, right) = samePadding(size: width, kernel: 3, stride: stride)
                for geometry in [ConvGeometry(kernel: 3, stride: stride, padding: 1, groups: channels),
                                 ConvGeometry(kernel: (3, 3), stride: (stride, stride), padding: (top, left, bottom, right), groups: channels)] {
                    let layer = depthwiseLayer(&random, channels: channels, multiplier: multiplier, geometry: geometry)
                    let input = Tensor(shape: [2, channels, height, width], storage: random.floats(2 * channels * height * width, scale: 4))
                    let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
                    let activation: Activation = [.identity, .relu, .relu6][trial % 3]
                    let context = KernelContext(threadCount: 1 + trial % 2)
                    let label = "3x3 rows trial \(trial) \(input.shape) \(geometry) multiplier \(multiplier) \(activation)"
                    func run(_ layout: DepthwiseLayout) -> Tensor {
                        var output = Tensor(shape: [2, 2 + layer.outChannels, outputHeight, outputWidth], repeating: .nan)
                        depthwiseConv2d(input, layer, activation: activation, layout: layout, into: &output, channelOffset: 2,
                                        context: context)
                        return output
                    }
                    let inPlace = run(.automatic), planes = run(.planes)
                    assertSameBits(inPlace, planes, label + ": planes kernel")
                    let untouched = Tensor(shape: [2, 2, outputHeight, outputWidth], repeating: .nan)
                    assertSameBits(inPlace, Naive.concatChannels([untouched, Naive.conv2d(input, layer, activation: activation)]),
                                   label + ": naive twin")
                    trial += 1
                }
            }
        }
    }

    /// The channel-lane kernel (DepthwiseChannelLanes.swift) bit for bit against the naive twin (where the activation is
    /// exact: identity, ReLU, ReLU6; SiLU and sigmoid use the vector exponential, so against the twin within tolerance)
    /// and against the planes kernel (Depthwise.swift) and conv2d's own choice for every activation: kernels 3 and 5,
    /// strides 1 and 2, symmetric, TF-SAME asymmetric, dilated and no padding, channel counts that leave a partial lane
    /// group (20, 37) and a channel multiplier of 2, batch 2, with and without a residual, into a channel slice, on
    /// 1 and 2 threads.
    func testChannelLanesAreBitExact() {
        var random = TestGenerator(seed: 71)
        let activations: [Activation] = [.identity, .relu, .relu6, .silu, .sigmoid]
        var trial = 0
        for size in [7, 13, 14] {
            for kernel in [3, 5] {
                for stride in [1, 2] {
                    for (channels, multiplier) in [(20, 1), (37, 1), (32, 1), (10, 2)] {
                        let (top, bottom) = samePadding(size: size, kernel: kernel, stride: stride)
                        let (left, right) = samePadding(size: size + 1, kernel: kernel, stride: stride)
                        let geometries = [
                            ConvGeometry(kernel: kernel, stride: stride, padding: kernel / 2, groups: channels),
                            ConvGeometry(kernel: (kernel, kernel), stride: (stride, stride), padding: (top, left, bottom, right),
                                         groups: channels),
                            ConvGeometry(kernel: kernel, stride: stride, padding: kernel - 1, dilation: 2, groups: channels),
                            // No padding: at stride 2 the windows need not reach the last input column.
                            ConvGeometry(kernel: kernel, stride: stride, groups: channels),
                        ]
                        for geometry in geometries {
                            let layer = depthwiseLayer(&random, channels: channels, multiplier: multiplier, geometry: geometry)
                            let input = random.tensor([2, channels, size, size + 1])
                            let (outputHeight, outputWidth) = geometry.outputSize(height: size, width: size + 1)
                            let activation = activations[trial % activations.count]
                            let context = contexts[trial % 2]
                            let residual = trial % 3 == 0
                                ? random.tensor([2, layer.outChannels, outputHeight, outputWidth]) : nil
                            let offset = trial % 2 == 0 ? 3 : 0
                            let label = "channel lanes trial \(trial) \(input.shape) \(geometry) multiplier \(multiplier) \(activation)"
                                + " residual \(residual != nil) offset \(offset) threads \(context.threadCount)"
                            func run(_ layout: DepthwiseLayout) -> Tensor {
                                var output = Tensor(shape: [2, offset + layer.outChannels, outputHeight, outputWidth], repeating: .nan)
                                depthwiseConv2d(input, layer, activation: activation, residual: residual, layout: layout,
                                                into: &output, channelOffset: offset, context: context)
                                return output
                            }
                            var chosen = Tensor(shape: [2, offset + layer.outChannels, outputHeight, outputWidth], repeating: .nan)
                            conv2d(input, layer, activation: activation, residual: residual, into: &chosen, channelOffset: offset,
                                   context: context)
                            let lanes = run(.channelLanes), planes = run(.planes)
                            assertSameBits(lanes, planes, label + ": planes kernel")
                            assertSameBits(lanes, chosen, label + ": conv2d")
                            let convolved = residual.map { Naive.add(Naive.conv2d(input, layer), $0, activation: activation) }
                                ?? Naive.conv2d(input, layer, activation: activation)
                            let untouched = Tensor(shape: [2, offset, outputHeight, outputWidth], repeating: .nan)
                            let expected = offset == 0 ? convolved : Naive.concatChannels([untouched, convolved])
                            switch activation {
                            case .identity, .relu, .relu6: assertSameBits(lanes, expected, label + ": naive twin")
                            case .silu, .sigmoid:
                                let plane = outputHeight * outputWidth, sliceCount = layer.outChannels * plane
                                let slice = (0..<2).flatMap { image in
                                    lanes.storage[((image * (offset + layer.outChannels) + offset) * plane)...].prefix(sliceCount)
                                }
                                assertMatchesTwin(Tensor(shape: convolved.shape, storage: slice), convolved, label + ": naive twin")
                            }
                            trial += 1
                        }
                    }
                }
            }
        }
    }

    /// The 3x3 stride-1 padding-1 pools (GoogLeNet's and Inception's branch pools) run each plane as one run of
    /// vectors (Pooling.swift, flatSamePlanes): the maximum exactly the naive twin's, the average bit for bit the
    /// row-then-column order the separable pass used before (transcribed below) and close to the twin, on planes
    /// from 1x1 to 35x35 (one vector or many, rows shorter and longer than a vector), both divisor rules, 1-3 threads.
    func testSameSizeThreeByThreePoolsOnFlatPlanes() {
        var random = TestGenerator(seed: 71)
        /// fill ⊕ left ⊕ centre ⊕ right along the rows (fill outside), then start ⊕ the rows inside the plane.
        func separableSums(_ input: Tensor, _ divisorOf: (Int, Int) -> Float) -> [Float] {
            let h = input.height, w = input.width
            var result = [Float]()
            for plane in 0..<(input.batch * input.channels) {
                func value(_ y: Int, _ x: Int) -> Float { x < 0 || x >= w ? 0 : input.storage[plane * h * w + y * w + x] }
                let rows = (0..<h).map { y in (0..<w).map { x in ((Float(0) + value(y, x - 1)) + value(y, x)) + value(y, x + 1) } }
                for y in 0..<h {
                    for x in 0..<w {
                        var sum: Float = 0
                        for row in max(0, y - 1)...min(h - 1, y + 1) { sum = sum + rows[row][x] }
                        result.append(sum / divisorOf(y, x))
                    }
                }
            }
            return result
        }
        for (height, width) in [(1, 1), (1, 2), (2, 1), (3, 3), (4, 5), (5, 7), (7, 7), (8, 8), (14, 14), (17, 17), (19, 3), (35, 35)] {
            for countIncludePad in [true, false] {
                let geometry = PoolGeometry(kernel: 3, stride: 1, padding: 1, countIncludePad: countIncludePad)
                let input = random.tensor([2, 3, height, width])
                func divisor(_ y: Int, _ x: Int) -> Float {
                    if countIncludePad { return 9 }
                    return Float((min(height - 1, y + 1) - max(0, y - 1) + 1) * (min(width - 1, x + 1) - max(0, x - 1) + 1))
                }
                let expectedSums = separableSums(input, divisor)
                for context in contexts {
                    let label = "\(height)x\(width) include pad \(countIncludePad), \(context.threadCount) threads"
                    XCTAssertEqual(maxPool2d(input, geometry, context: context).storage, Naive.maxPool2d(input, geometry).storage, "max " + label)
                    let average = avgPool2d(input, geometry, context: context)
                    XCTAssertEqual(average.storage, expectedSums, "avg " + label + ": not the separable order's bits")
                    assertMatchesTwin(average, Naive.avgPool2d(input, geometry), "avg " + label)
                }
            }
        }
    }

    /// The stride-2 pools (Pooling.swift's stridedPlanes, CPooling: masked loads at the rows' ends, even/odd shuffles;
    /// 16 lanes on AVX-512 builds, 8 on AVX2 builds) bit for bit against scans transcribed here: the maximum as the
    /// first maximum in (ky, kx) order (a value replaces the running one only when strictly greater: ties of +0 and -0,
    /// NaNs and -inf among the inputs), the average as separablePlanes orders its sums (along each row from +0 in kx
    /// order, then the window's rows inside the plane from +0 in ky order, divided as the naive twin counts), and the
    /// average close to the naive twin. Widths 1-40 (a row shorter than a vector, exactly 16 and 32 columns, one past
    /// them), 47, 63-65, 111-113; kernels 1-5 (one or more tap pairs, an unpaired last tap), padding up to half the
    /// kernel, both ceil modes and divisor rules, vertical strides 1-3, batch 2, 1-3 threads.
    func testStrideTwoPoolsAreBitExact() {
        var random = TestGenerator(seed: 83)
        func separableAverage(_ input: Tensor, _ g: PoolGeometry) -> [Float] {
            let (oh, ow) = g.outputSize(height: input.height, width: input.width)
            let h = input.height, w = input.width
            var result = [Float]()
            for plane in 0..<(input.batch * input.channels) {
                func rowSum(_ iy: Int, _ x: Int) -> Float {
                    var sum: Float = 0
                    for kx in 0..<g.kernelWidth {
                        let ix = x * g.strideX - g.padX + kx
                        sum = sum + (ix >= 0 && ix < w ? input.storage[(plane * h + iy) * w + ix] : 0)
                    }
                    return sum
                }
                for y in 0..<oh { for x in 0..<ow {
                    var sum: Float = 0
                    for ky in 0..<g.kernelHeight {
                        let iy = y * g.strideY - g.padY + ky
                        if iy >= 0 && iy < h { sum = sum + rowSum(iy, x) }
                    }
                    let y0 = y * g.strideY - g.padY, x0 = x * g.strideX - g.padX
                    let y1 = min(y0 + g.kernelHeight, h + g.padY), x1 = min(x0 + g.kernelWidth, w + g.padX)
                    let divisor = g.countIncludePad ? (y1 - y0) * (x1 - x0) : (min(y1, h) - max(y0, 0)) * (min(x1, w) - max(x0, 0))
                    result.append(sum / Float(divisor))
                } }
            }
            return result
        }
        let special: [Float] = [0, -0.0, .nan, -.infinity, 0.5]
        var checked = 0
        for width in Array(1...40) + [47, 63, 64, 65, 111, 112, 113] {
            for _ in 0..<3 {
                let kernel = random.integer(1...5)
                let geometry = PoolGeometry(kernel: kernel, stride: 2, padding: random.integer(0...(kernel / 2)),
                                            ceilMode: random.bool(), countIncludePad: random.bool())
                var vertical = geometry
                vertical.strideY = random.integer(1...3)
                let height = random.integer(max(1, kernel - 2 * geometry.padY)...(kernel + 6))
                guard width + 2 * geometry.padX >= kernel else { continue }
                let shape = [2, 3, height, width]
                let smooth = random.tensor(shape)
                // A third of the values from `special`: ties of +0 and -0, NaNs (which never win), -inf.
                let spiky = Tensor(shape: shape, storage: smooth.storage.map { random.integer(0...2) == 0 ? special[random.integer(0...4)] : $0 })
                let context = contexts[checked % contexts.count]
                for g in [geometry, vertical] {
                    let label = "\(shape) \(g) threads \(context.threadCount)"
                    let maximum = maxPool2d(spiky, g, context: context)
                    assertSameBits(maximum, Tensor(shape: maximum.shape, storage: firstMaximumScan(spiky, g)), "max " + label)
                    let average = avgPool2d(smooth, g, context: context)
                    assertSameBits(average, Tensor(shape: average.shape, storage: separableAverage(smooth, g)), "avg " + label)
                    assertMatchesTwin(average, Naive.avgPool2d(smooth, g), "avg twin " + label)
                }
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 120, "too few shapes checked")
    }

    /// Larger planes than FastKernelTests' pooling test (several tiles per row, partial tiles), kernels
    /// up to 5, strides up to 3, padding up to half the kernel, both ceil modes and divisor rules.
    func testPoolingMatchesTwinOnLargerShapes() {
        var random = TestGenerator(seed: 61)
        var trial = 0
        while trial < 150 {
            let kernel = random.integer(1...5)
            let geometry = PoolGeometry(kernel: kernel, stride: random.integer(1...3), padding: random.integer(0...(kernel / 2)),
                                        ceilMode: random.bool(), countIncludePad: random.bool())
            let height = random.integer(1...35), width = random.integer(1...45)
            guard height + 2 * geometry.padY >= kernel && width + 2 * geometry.padX >= kernel else { continue }
            let input = random.tensor([random.integer(1...2), random.integer(1...4), height, width])
            let context = contexts[trial % contexts.count]
            let label = "pool \(trial) \(input.shape) \(geometry) threads \(context.threadCount)"
            assertMatchesTwin(maxPool2d(input, geometry, context: context), Naive.maxPool2d(input, geometry), "max " + label)
            assertMatchesTwin(avgPool2d(input, geometry, context: context), Naive.avgPool2d(input, geometry), "avg " + label)
            trial += 1
        }
        // The backbones' pools: ResNet/GoogLeNet 3x3/2 (ceil and floor), Inception's 3x3/1 pad 1 average.
        for (height, geometry) in [(112, PoolGeometry(kernel: 3, stride: 2, padding: 1)),
                                   (111, PoolGeometry(kernel: 3, stride: 2, ceilMode: true)),
                                   (35, PoolGeometry(kernel: 3, stride: 1, padding: 1)),
                                   (17, PoolGeometry(kernel: 3, stride: 1, padding: 1, countIncludePad: false))] {
            let input = random.tensor([1, 3, height, height + 2])
            assertMatchesTwin(maxPool2d(input, geometry, context: contexts[1]), Naive.maxPool2d(input, geometry), "max \(height) \(geometry)")
            assertMatchesTwin(avgPool2d(input, geometry, context: contexts[1]), Naive.avgPool2d(input, geometry), "avg \(height) \(geometry)")
        }
    }

    func testGlobalAveragePoolOnOddPlanes() {
        var random = TestGenerator(seed: 67)
        for shape in [[1, 3, 1, 1], [2, 5, 3, 5], [1, 4, 4, 4], [1, 3, 12, 12], [2, 3, 7, 9], [1, 2, 96, 97]] {
            let input = random.tensor(shape)
            let single = globalAveragePool(input, context: contexts[0])
            assertMatchesTwin(single, Naive.globalAveragePool(input), "global pool \(shape)")
            XCTAssertEqual(globalAveragePool(input, context: contexts[2]).storage, single.storage, "global pool \(shape) threads")
        }
    }
}
