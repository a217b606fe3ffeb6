// Convolution on the fast path: which algorithm, how the work is split across cores, how GEMM is called.
//
// Tensors are NCHW Float32 (Tensor.swift): input N x IC x H x W, weight OC x IC/groups x KH x KW,
// output N x OC x OH x OW. Per image, as a GEMM: out[OC x P] = W[OC x K] · X[K x P], K = IC/groups·KH·KW,
// P = OH·OW. Strategy:
//   1x1, stride 1, no padding   → GEMM straight on the input planes (no im2col)
//   one input channel per group → direct depthwise kernel (Depthwise.swift)
//   3x3 stride 1, big enough    → Winograd on blocks of tile rows (Winograd.swift): F(4x4, 3x3) on planes of
//                                 at least 24x24, F(2x2, 3x3) on smaller ones
//   ≤ 4 input channels (stems)  → on AVX-512, the GEMM tile reading the input's column phases in place, no im2col
//                                 (IndirectConvolution.swift)
//   otherwise                   → im2col of a block of output pixels into a cache-sized buffer, then GEMM
//   --precision bf16 / bf16x3   → every ungrouped, non-depthwise one: im2col (unless 1x1) and a bfloat16 GEMM
//                                 on Intel AMX tiles, float32 sums (AMXGemm.swift; opt-in, AMX machines only)
// Bias, residual add and activation are applied by the packed GEMM's last depth block to the values in its
// registers (PackedGemm.swift, GemmEpilogue) on AVX-512; otherwise to each block right after its GEMM, while it
// is in cache.
//
// GEMM: ungrouped convolutions multiply by their weights packed once, at the layer's first call, with
// our own micro-kernel (PackedGemm.swift); grouped ones (none in the five backbones) call OpenBLAS.
//
// Threading: one pool. Each convolution is cut into independent pieces — ranges of output pixels, of
// output channels, or of Winograd tile rows, of every image of the batch — that `context.threadCount`
// workers run with buffers of their own (OpenBLAS, where it is called, runs single-threaded). There is
// no BLAS thread spinning between layers, small layers still use every core, and a whole batch
// shares the work. Channel pieces are whole panels of the GEMM kernel's rows; the packed GEMM sums each element over K in
// an order fixed by K alone, and the pixel and Winograd pieces depend on the layer's shape only. The results depend neither on the thread count nor on the batch.

import BLASThreads
import COpenBLAS
import Foundation

/// How a convolution is computed. `.automatic` takes Winograd for 3x3 stride-1 ungrouped convolutions large
/// enough to gain (Winograd.swift: F(4x4, 3x3) on planes of at least 24x24, F(2x2, 3x3) below), the indirect
/// path for the stems (IndirectConvolution.swift), im2col/GEMM otherwise; `.winograd` forces F(2x2, 3x3) and
/// `.winograd4x4` F(4x4, 3x3) wherever valid (tests), `.direct` never uses Winograd, `.im2col` neither Winograd
/// nor the indirect path (tests: the paths they replace).
public enum ConvolutionAlgorithm: Sendable {
    case automatic, direct, im2col, winograd, winograd4x4
}

/// The kernel conv2d runs a convolution on.
public enum ConvolutionPath: String, Sendable {
    /// One input channel per group (Depthwise.swift).
    case depthwise
    /// A reduced precision on Intel AMX (AMXGemm.swift).
    case amx
    /// Winograd F(4x4, 3x3) or F(2x2, 3x3) (Winograd.swift).
    case winograd
    /// The AVX-512 tile reading the input's column phases in place (IndirectConvolution.swift: the stems).
    case indirect
    /// 1x1 on the input planes, or im2col, then the packed GEMM (OpenBLAS for grouped convolutions).
    case gemm
}

/// The path conv2d takes for `layer` on an input of height x width (the rules in this file's header).
public func convolutionPath(_ layer: Conv2D, height: Int, width: Int, hasResidual: Bool,
                            algorithm: ConvolutionAlgorithm = .automatic, context: KernelContext = .allCores) -> ConvolutionPath {
    let geometry = layer.geometry, groups = geometry.groups
    let pointwise = geometry.isPointwise
    if layer.inChannels / groups == 1 && groups > 1 && !pointwise { return .depthwise }
    if context.precision != .float32 && groups == 1 { return .amx }
    let winogradValid = geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.strideY == 1 && geometry.strideX == 1
        && geometry.dilationY == 1 && geometry.dilationX == 1 && groups == 1
    let (outputHeight, outputWidth) = geometry.outputSize(height: height, width: width)
    if winogradValid && algorithm != .direct && algorithm != .im2col
        && (algorithm == .winograd || algorithm == .winograd4x4
            || (context.winograd && winogradApplies(geometry, inChannels: layer.inChannels, outChannels: layer.outChannels,
                                                    outputHeight: outputHeight, outputWidth: outputWidth))) {
        return .winograd
    }
    if algorithm != .im2col && indirectConvolutionApplies(geometry, inChannels: layer.inChannels, kernel: context.gemmKernel,
                                                          hasResidual: hasResidual) {
        return .indirect
    }
    return .gemm
}

/// input N x IC x H x W → N x OC x OH x OW; output = activation(conv(input) + bias [+ residual]).
public func conv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity,
                   residual: Tensor? = nil, algorithm: ConvolutionAlgorithm = .automatic,
                   context: KernelContext = .allCores) -> Tensor {
    let (outputHeight, outputWidth) = layer.geometry.outputSize(height: input.height, width: input.width)
    var output = Tensor(shape: [input.batch, layer.outChannels, outputHeight, outputWidth],
                        storage: uninitialisedFloats(input.batch * layer.outChannels * outputHeight * outputWidth))
    conv2d(input, layer, activation: activation, residual: residual, into: &output, channelOffset: 0,
           algorithm: algorithm, context: context)
    return output
}

/// Writes the convolution into channels channelOffset ..< channelOffset + OC of `output`
/// (N x C_total x OH x OW), so concatenated branches need no copy.
public func conv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity, residual: Tensor? = nil,
                   into output: inout Tensor, channelOffset: Int, algorithm: ConvolutionAlgorithm = .automatic,
                   context: KernelContext = .allCores) {
    let geometry = layer.geometry
    precondition(input.channels == layer.inChannels, "conv expects \(layer.inChannels) channels, got \(input.channels)")
    let (outputHeight, outputWidth) = checkedOutputSize(input, layer, residual: residual, output: output,
                                                        channelOffset: channelOffset, kind: "conv")
    let kernelArea = geometry.kernelHeight * geometry.kernelWidth
    let path = convolutionPath(layer, height: input.height, width: input.width, hasResidual: residual != nil,
                               algorithm: algorithm, context: context)
    let pointwise = geometry.isPointwise, groups = geometry.groups
    let depthwise = path == .depthwise, onAMX = path == .amx, useWinograd = path == .winograd
    let winogradTile: WinogradTile = switch algorithm {
    case .winograd: .twoByTwo
    case .winograd4x4: .fourByFour
    default: WinogradTile.automatic(outputHeight: outputHeight, outputWidth: outputWidth)
    }
    let filters: [PackedMatrix] = useWinograd
        ? layer.winogradFilters.values(for: WinogradFilterKey(kernel: context.gemmKernel, tile: winogradTile)) {
            let transformed = winogradTile.filterTransform(layer.weight, outChannels: layer.outChannels, inChannels: layer.inChannels)
            let pairs = layer.outChannels * layer.inChannels
            return transformed.withUnsafeBufferPointer { buffer in
                (0..<winogradTile.positions).map {
                    PackedMatrix(buffer.baseAddress! + $0 * pairs, rows: layer.outChannels, depth: layer.inChannels,
                                 lda: layer.inChannels, kernel: context.gemmKernel)
                }
            }
        }
        : []
    // One packed matrix for the GEMM paths of ungrouped convolutions (grouped ones call OpenBLAS per group).
    let amxWeights: AMXPackedMatrix? = onAMX
        ? layer.amxWeights.values(for: context.precision) {
            AMXPackedMatrix(layer.weight, rows: layer.outChannels, depth: layer.inChannels * kernelArea, precision: context.precision)
        }
        : nil
    let packedWeights: PackedMatrix? = !useWinograd && !depthwise && !onAMX && groups == 1
        ? layer.packedMatrix(for: context.gemmKernel) : nil
    let indirect = path == .indirect
    let residualStorage = residual?.storage ?? []
    let totalChannels = output.channels

    input.storage.withUnsafeBufferPointer { inputBuffer in
    layer.weight.withUnsafeBufferPointer { weightBuffer in
    layer.bias.withUnsafeBufferPointer { biasBuffer in
    residualStorage.withUnsafeBufferPointer { residualBuffer in
    output.storage.withUnsafeMutableBufferPointer { outputBuffer in
        let problem = ConvolutionProblem(
            source: inputBuffer.baseAddress!, weights: weightBuffer.baseAddress!, bias: biasBuffer.baseAddress!,
            residual: residual == nil ? nil : residualBuffer.baseAddress, destination: outputBuffer.baseAddress!,
            batch: input.batch, inChannels: input.channels, height: input.height, width: input.width,
            outChannels: layer.outChannels, geometry: geometry, outputHeight: outputHeight, outputWidth: outputWidth,
            totalChannels: totalChannels, channelOffset: channelOffset, activation: activation, context: context)
        if depthwise {
            depthwiseConvolution(source: problem.source, weights: problem.weights, bias: problem.bias,
                                 laneWeights: { layer.channelLaneWeights(lanes: Tile.scalarCount) }, residual: problem.residual,
                                 batch: problem.batch, inChannels: problem.inChannels, height: problem.height, width: problem.width,
                                 outChannels: problem.outChannels, geometry: geometry,
                                 outputHeight: outputHeight, outputWidth: outputWidth,
                                 outputRow: problem.outputRow, activation: activation, context: context)
        } else if let amxWeights {
            amxConvolution(problem, weights: amxWeights, pointwise: pointwise)
        } else if useWinograd {
            winogradConvolution(problem, filters: filters, tile: winogradTile)
        } else if indirect, let packedWeights {
            indirectConvolution(problem, weights: packedWeights)
        } else {
            // OpenBLAS on one thread: the workers below call it concurrently, each on its own piece.
            BLASThreads.single { gemmConvolution(problem, packedWeights: packedWeights, pointwise: pointwise) }
        }
    } } } } }
}

/// The output size of `layer` on `input`, once the output is known not to be empty and both the channel slice
/// channelOffset ..< channelOffset + OC of `output` and the residual (if any) to fit it; `kind` names the
/// convolution in the messages.
func checkedOutputSize(_ input: Tensor, _ layer: Conv2D, residual: Tensor?, output: Tensor, channelOffset: Int,
                       kind: String) -> (height: Int, width: Int) {
    let (outputHeight, outputWidth) = layer.geometry.outputSize(height: input.height, width: input.width)
    precondition(outputHeight > 0 && outputWidth > 0, "\(kind) output would be empty for a \(input.height)x\(input.width) input")
    precondition(output.batch == input.batch && output.height == outputHeight && output.width == outputWidth
                 && channelOffset >= 0 && channelOffset + layer.outChannels <= output.channels,
                 "\(kind) output slice does not fit \(output.shape)")
    if let residual {
        precondition(residual.shape == [input.batch, layer.outChannels, outputHeight, outputWidth], "residual shape mismatch")
    }
    return (outputHeight, outputWidth)
}

/// Everything one convolution call reads and writes, as raw pointers for the workers.
struct ConvolutionProblem {
    let source: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let destination: UnsafeMutablePointer<Float>
    let batch: Int, inChannels: Int, height: Int, width: Int
    let outChannels: Int, geometry: ConvGeometry, outputHeight: Int, outputWidth: Int
    let totalChannels: Int, channelOffset: Int
    let activation: Activation
    let context: KernelContext

    var plane: Int { outputHeight * outputWidth }

    /// The first value of output channel `channel` of image `image` (the row of an OC x P output).
    @inline(__always)
    func outputRow(_ image: Int, _ channel: Int) -> UnsafeMutablePointer<Float> {
        destination + (image * totalChannels + channelOffset + channel) * plane
    }

    @inline(__always)
    func inputImage(_ image: Int) -> UnsafePointer<Float> { source + image * inChannels * height * width }

    /// bias, residual and activation for packedGemm to apply to rows `channels` of `image` from column `column` on
    /// (its c: outputRow(image, channels.lowerBound) + column).
    func epilogue(image: Int, channels: Range<Int>, column: Int) -> GemmEpilogue {
        GemmEpilogue(bias: bias, residual: residual.map { $0 + (image * outChannels + channels.lowerBound) * plane + column },
                     residualStride: plane, activation: activation)
    }

    /// bias, residual and activation on output values columns of rows `channels` of `image`: in place, or taken
    /// from `source` (row i of it for channel channels.lowerBound + i, rows `sourceStride` floats apart).
    @inline(__always)
    func finish(image: Int, channels: Range<Int>, columns: Range<Int>, from source: UnsafePointer<Float>? = nil, sourceStride: Int = 0) {
        for channel in channels {
            let row = outputRow(image, channel) + columns.lowerBound
            fusedPass(from: source.map { $0 + (channel - channels.lowerBound) * sourceStride } ?? UnsafePointer(row), bias: bias[channel],
                      residual: residual.map { $0 + (image * outChannels + channel) * plane + columns.lowerBound },
                      into: row, count: columns.count, activation: activation)
        }
    }
}

/// im2col (or the input itself for 1x1) and GEMM. Pieces of output pixels when the weights are the smaller
/// operand (each piece reads all weights, its own columns); pieces of output channels when the weights
/// are the larger one (late layers: each piece reads its rows of weights once, for every image).
/// Ungrouped convolutions multiply by their packed weights (PackedGemm.swift); grouped ones call OpenBLAS.
func gemmConvolution(_ problem: ConvolutionProblem, packedWeights: PackedMatrix?, pointwise: Bool) {
    let geometry = problem.geometry, plane = problem.plane, threads = problem.context.threadCount
    let groups = geometry.groups
    let inPerGroup = problem.inChannels / groups, outPerGroup = problem.outChannels / groups
    let depth = inPerGroup * geometry.kernelHeight * geometry.kernelWidth   // GEMM K per group
    let columnDepth = problem.inChannels * geometry.kernelHeight * geometry.kernelWidth
    // weights OC x K against columns K x P: split the larger one.
    let splitChannels = groups == 1 && problem.outChannels >= 32 && problem.outChannels > plane

    if !splitChannels {
        // Pieces of output pixels: piece = (image, column range); an im2col block of about 1 MiB, >= 64 columns,
        // and an even count. The pieces depend on the layer's shape only, never on the thread count or the
        // batch (OpenBLAS's result for a column, on the grouped path, depends on how many columns its call has).
        let panelColumns = problem.context.gemmKernel.panelColumns
        // The output block (OC x columns) is also kept to about 512 KiB, so that bias, residual and activation
        // (problem.finish) run on it while it is still in L2, not in a second pass over a whole plane (a 1x1
        // layer with few input channels, 16 -> 96 at 112x112, moves more memory than it multiplies).
        let columnBudget = min(pointwise ? plane : 262_144 / max(1, columnDepth), 131_072 / max(1, problem.outChannels))
        let blockColumns = max(64, columnBudget / panelColumns * panelColumns)
        var pieces = plane >= 96 ? max(2, (plane + blockColumns - 1) / blockColumns) : 1
        pieces += pieces % 2 == 1 && pieces > 1 ? 1 : 0
        // Two pieces split equally: the packed GEMM takes any width (its last panel narrow or a column tile, the
        // same sums as a full tile), so a 14x14 plane splits 98 + 98, not 128 + 68 in whole panels (which held two
        // threads to 1.45x on Lite0's 672 -> 112). More pieces are whole panels but the last: equal ones each end in
        // a narrow panel and a column tile (Inception-v3's 30x30 im2col layers at 512: six pieces of 150 columns,
        // 4 x 32 + 16 + 6, rather than five of 160 and one of 100); per layer 0.84-0.94x of the time, the 512 pass
        // 0.95-0.96x, the other networks unchanged (paired harness). OpenBLAS (grouped layers) keeps whole panels.
        let granularity = packedWeights == nil || pieces > 2 ? panelColumns : 1
        let columnsPerPiece = ((plane + pieces - 1) / pieces + granularity - 1) / granularity * granularity
        parallelChunks(problem.batch * pieces, problem.context) { items in
            let buffer = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: columnDepth * columnsPerPiece)
            let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: columnsPerPiece))
            defer { buffer?.deallocate(); workspace.deallocate() }
            for item in items {
                let image = item / pieces, piece = item % pieces
                let columns = min(plane, piece * columnsPerPiece)..<min(plane, (piece + 1) * columnsPerPiece)
                if columns.isEmpty { continue }
                let input = problem.inputImage(image)
                if let buffer {
                    im2col(source: input, channels: problem.inChannels, height: problem.height, width: problem.width,
                           geometry: geometry, outputWidth: problem.outputWidth, pixels: columns, columns: buffer)
                }
                let ldb = buffer == nil ? plane : columns.count
                let channels = 0..<problem.outChannels
                var finished = false
                if let packedWeights {
                    finished = packedGemm(packedWeights, rows: channels, columns: columns.count,
                                          b: buffer.map { UnsafePointer($0) } ?? input + columns.lowerBound, ldb: ldb,
                                          c: problem.outputRow(image, 0) + columns.lowerBound, ldc: plane, accumulate: false,
                                          workspace: workspace,
                                          epilogue: problem.epilogue(image: image, channels: channels, column: columns.lowerBound))
                } else {
                    for channel in 0..<problem.outChannels {
                        (problem.outputRow(image, channel) + columns.lowerBound).update(repeating: 0, count: columns.count)
                    }
                    for group in 0..<groups {
                        let b = buffer.map { UnsafePointer($0) + group * depth * columns.count }
                            ?? input + group * inPerGroup * plane + columns.lowerBound
                        sgemm(m: outPerGroup, n: columns.count, k: depth,
                              a: problem.weights + group * outPerGroup * depth, lda: depth, b: b, ldb: ldb,
                              c: problem.outputRow(image, group * outPerGroup) + columns.lowerBound, ldc: plane, accumulate: true)
                    }
                }
                if !finished { problem.finish(image: image, channels: channels, columns: columns) }
            }
        }
        return
    }

    // Pieces of output channels (groups == 1, so the weights are packed): im2col every image once, then
    // each worker runs its rows of weights over every image while they are in cache.
    guard let packedWeights else { preconditionFailure("channel pieces need packed weights") }
    // Whole panels of rows, spread evenly over the threads (the packed GEMM's sums do not depend on the split).
    let panelRows = packedWeights.kernel.panelRows
    let panels = (problem.outChannels + panelRows - 1) / panelRows
    let channelPieces = min(threads, panels)
    func pieceChannels(_ piece: Int) -> Range<Int> {
        min(problem.outChannels, piece * panels / channelPieces * panelRows)
            ..< min(problem.outChannels, (piece + 1) * panels / channelPieces * panelRows)
    }
    let columnBuffer: UnsafeMutablePointer<Float>? = pointwise ? nil : .allocate(capacity: problem.batch * depth * plane)
    defer { columnBuffer?.deallocate() }
    if let columnBuffer {
        parallelChunks(problem.batch * depth, problem.context) { rows in
            var row = rows.lowerBound
            while row < rows.upperBound {
                let image = row / depth, last = min(rows.upperBound, (image + 1) * depth)
                im2colRows(source: problem.inputImage(image), height: problem.height, width: problem.width, geometry: geometry,
                           outputHeight: problem.outputHeight, outputWidth: problem.outputWidth,
                           rows: (row - image * depth)..<(last - image * depth), columns: columnBuffer + image * depth * plane)
                row = last
            }
        }
    }
    parallelChunks(channelPieces * problem.batch, problem.context) { items in
        let workspace = UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: plane))
        defer { workspace.deallocate() }
        for item in items {
            let piece = item / problem.batch, image = item % problem.batch
            let channels = pieceChannels(piece)
            if channels.isEmpty { continue }
            let b = columnBuffer.map { UnsafePointer($0) + image * depth * plane } ?? problem.inputImage(image)
            let finished = packedGemm(packedWeights, rows: channels, columns: plane, b: b, ldb: plane,
                                      c: problem.outputRow(image, channels.lowerBound), ldc: plane, accumulate: false,
                                      workspace: workspace, epilogue: problem.epilogue(image: image, channels: channels, column: 0))
            if !finished { problem.finish(image: image, channels: channels, columns: 0..<plane) }
        }
    }
}

/// The output positions o in 0..<outputCount whose input index o*stride + offset lies in 0..<inputCount.
@inline(__always)
func validRange(outputCount: Int, stride: Int, offset: Int, inputCount: Int) -> Range<Int> {
    let low = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let last = inputCount - 1 - offset
    let high = last < 0 ? 0 : min(outputCount, last / stride + 1)
    return low < high ? low..<high : 0..<0
}

/// source C x H x W → columns (C·KH·KW) x pixels.count: row (c, ky, kx), column p - pixels.lowerBound holds
/// input[c, oy*sy - pt + ky*dy, ox*sx - pl + kx*dx] for output pixel p = oy·OW + ox, zero where it reads padding.
/// With `rows`, only those rows, written from `columns` on (the AMX path makes two at a time).
func im2col(source: UnsafePointer<Float>, channels: Int, height: Int, width: Int, geometry: ConvGeometry,
            outputWidth: Int, pixels: Range<Int>, columns: UnsafeMutablePointer<Float>, rows: Range<Int>? = nil) {
    let kernelArea = geometry.kernelHeight * geometry.kernelWidth, count = pixels.count
    let strideY = geometry.strideY, strideX = geometry.strideX
    let rows = rows ?? 0..<(channels * kernelArea)
    for row in rows {
        let channel = row / kernelArea, ky = (row % kernelArea) / geometry.kernelWidth, kx = row % geometry.kernelWidth
        let channelPlane = source + channel * height * width
        let destination = columns + (row - rows.lowerBound) * count - pixels.lowerBound
        let offsetX = kx * geometry.dilationX - geometry.padLeft
        if strideX == 1 && strideY == 1 && outputWidth == width && abs(offsetX) < width {
            // Stride 1 with output rows as wide as the input's (the "same" 1x7, 7x1 and 3x3 layers): output pixel p
            // reads input p + shift, so the row is one copy of the plane shifted, zeros where the window's input row
            // lies outside the plane, and the |dx| columns per row that the shift takes from the neighbouring row
            // zeroed afterwards (a copy and a fill per output row cost 10% of an Inception-v3 pass at 17x17).
            let dy = ky * geometry.dilationY - geometry.padTop, dx = offsetX, shift = dy * width + dx
            let low = min(pixels.upperBound, max(pixels.lowerBound, max(0, -dy) * width, -shift))
            let high = max(low, min(pixels.upperBound, (height - dy) * width, height * width - shift))
            fillFloats(destination + pixels.lowerBound, count: low - pixels.lowerBound, with: 0)
            copyFloats(from: channelPlane + low + shift, to: destination + low, count: high - low)
            fillFloats(destination + high, count: pixels.upperBound - high, with: 0)
            if dx != 0 && low < high {
                var rowStart = low / width * width
                while rowStart < high {
                    let edge = dx > 0 ? (rowStart + width - dx)..<(rowStart + width) : rowStart..<(rowStart - dx)
                    for p in edge.clamped(to: low..<high) { destination[p] = 0 }
                    rowStart += width
                }
            }
            continue
        }
        let inside = validRange(outputCount: outputWidth, stride: strideX, offset: offsetX, inputCount: width)
        var pixel = pixels.lowerBound
        while pixel < pixels.upperBound {
            let oy = pixel / outputWidth, lineStart = oy * outputWidth
            let first = pixel - lineStart, end = min(outputWidth, pixels.upperBound - lineStart)   // ox in first..<end
            let line = destination + lineStart
            let iy = oy * strideY - geometry.padTop + ky * geometry.dilationY
            if iy < 0 || iy >= height || inside.isEmpty {
                fillFloats(line + first, count: end - first, with: 0)
            } else {
                let inputLine = channelPlane + iy * width + offsetX
                let low = max(first, inside.lowerBound), high = min(end, inside.upperBound)
                if low > first || high < end {   // some of the line reads padding: zeros first, then the inside
                    fillFloats(line + first, count: end - first, with: 0)
                }
                if low < high {
                    if strideX == 1 {
                        copyFloats(from: inputLine + low, to: line + low, count: high - low)
                    } else {
                        // Stride 2 (the stems: ResNet's and GoogLeNet's 7x7, the EfficientNets' and Inception's 3x3)
                        // 16 outputs at a time (lane by lane, this loop was 4% of a GoogLeNet pass).
                        copyStrided(from: inputLine, stride: strideX, to: line, columns: low..<high, rowEnd: width - offsetX)
                    }
                }
            }
            pixel = lineStart + end
        }
    }
}

/// Rows `rows` of the whole-plane im2col of one image: columns is (C·KH·KW) x (OH·OW).
func im2colRows(source: UnsafePointer<Float>, height: Int, width: Int, geometry: ConvGeometry,
                outputHeight: Int, outputWidth: Int, rows: Range<Int>, columns: UnsafeMutablePointer<Float>) {
    let kernelArea = geometry.kernelHeight * geometry.kernelWidth, plane = outputHeight * outputWidth
    for row in rows {
        let channel = row / kernelArea
        // One channel's single-row im2col is the plain im2col of that row with a 1-channel kernel offset.
        var single = geometry
        single.kernelHeight = 1; single.kernelWidth = 1
        let ky = (row % kernelArea) / geometry.kernelWidth, kx = row % geometry.kernelWidth
        single.padTop = geometry.padTop - ky * geometry.dilationY
        single.padLeft = geometry.padLeft - kx * geometry.dilationX
        im2col(source: source + channel * height * width, channels: 1, height: height, width: width, geometry: single,
               outputWidth: outputWidth, pixels: 0..<plane, columns: columns + row * plane)
    }
}
