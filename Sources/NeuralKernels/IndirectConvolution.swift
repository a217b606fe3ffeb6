// Convolutions with few input channels without im2col: the stems (3 -> 64 7x7 stride 2 of ResNet-50 and
// GoogLeNet, 3 -> 32 / 24 3x3 stride 2 of Inception-v3 and the EfficientNets) on the AVX-512 register tile,
// its B vectors loaded straight from the input rather than from an im2col block packed once more.
//
// A stride-2 window reads every other column, so no 16 consecutive outputs read 16 consecutive inputs. The
// input is first split into column phases (PhasePlanes, the depthwise kernel's layout): per channel and phase
// φ < strideX, the padded rows' columns φ, φ + sx, φ + 2sx, … . In that layout output pixels ox ..< ox + 32 of
// output row oy read, for the tap (c, ky, kx), 32 consecutive floats of phase kx mod sx of channel c, row
// oy·sy + ky, from column ox + kx / sx: one offset per tap (the same for every output pixel, "indirection" in XNNPACK's words: Dukhan,
// "The Indirect Convolution Algorithm", 2019), added to the tile's base. The tile then runs as GemmTile does:
// per tap two vector loads of B, twelve broadcasts of the packed weights, twenty-four multiply-adds.
//
// The im2col path wrote K = IC·KH·KW rows of every output pixel (147 floats per pixel for a 7x7 stem), then
// packed them once more for the tile: a third of a stem's time (perf, ResNet-50's 3 -> 64 at 224, one thread:
// the tiles 61%, im2col and its stride-2 copies 16%, the packing 14%). The phase layout is one pass over the
// input. Paired harness (im2col and this path alternating pass by pass, Emerald Rapids), the stem's time on this
// path over im2col's, one / two threads: ResNet-50 0.59 / 0.68, GoogLeNet 0.68 / 0.66, Inception-v3 0.79 / 0.88,
// EfficientNet-V2-S 0.83 / 0.83, EfficientNet-Lite0 0.67 / 0.80.
//
// Same sums as the im2col path: the taps in im2col's row order (c, ky, kx), one multiply-add per tap from zero,
// then bias and activation as FinishingTile / GemmRowTile apply them: the same bits (IndirectConvolutionTests).
// Only one depth block (K ≤ GemmBlocking.maximumDepthBlock), as on the im2col path for these K, and only where
// the tiles are AVX-512's (AVX2 keeps im2col: its 6 x 16 tile is spelled out register by register).

import COpenBLAS

/// Whether conv2d runs an ungrouped convolution on the indirect path: AVX-512 tiles, at most 4 input channels (an
/// image's), stride 1 or 2 across, no dilation, a window larger than 1x1, no residual, and K = IC·KH·KW within one
/// depth block. With more channels the taps' B vectors come from many planes, no longer from the first-level
/// cache: EfficientNet-V2-S's 24 -> 96 3x3 stride 2 (K = 216) ran 1.3x as long as on im2col (paired harness).
func indirectConvolutionApplies(_ geometry: ConvGeometry, inChannels: Int, kernel: GemmKernel, hasResidual: Bool) -> Bool {
    kernel == .avx512 && !hasResidual && geometry.groups == 1 && inChannels <= 4
        && geometry.dilationX == 1 && geometry.dilationY == 1 && (1...2).contains(geometry.strideX)
        && geometry.kernelHeight * geometry.kernelWidth > 1
        && inChannels * geometry.kernelHeight * geometry.kernelWidth <= GemmBlocking.maximumDepthBlock
}

/// The convolution of `problem` (indirectConvolutionApplies) with its weights packed for the AVX-512 tiles.
/// Pieces are bands of output rows of every image, so the result depends neither on the thread count nor on the batch.
func indirectConvolution(_ problem: ConvolutionProblem, weights: PackedMatrix) {
    switch problem.activation {
    case .identity: indirectConvolution(problem, weights: weights, IdentityLanes.self)
    case .relu: indirectConvolution(problem, weights: weights, ReLULanes.self)
    case .relu6: indirectConvolution(problem, weights: weights, ReLU6Lanes.self)
    case .silu: indirectConvolution(problem, weights: weights, SiLULanes.self)
    case .sigmoid: indirectConvolution(problem, weights: weights, SigmoidLanes.self)
    }
}

private func indirectConvolution<A: LaneActivation>(_ problem: ConvolutionProblem, weights: PackedMatrix, _: A.Type) {
    let geometry = problem.geometry
    precondition(weights.kernel == .avx512 && weights.depthBlocks.count == 1, "the indirect path takes one AVX-512 depth block")
    // Each channel in the depthwise kernel's column-phase layout (Depthwise.swift), with tiles 32 outputs wide: its
    // rows cover every window and a row's last tile, so a tile's loads never leave its row. A piece of work is a band
    // of `bandRows` output rows of one image: it lays out the input rows its windows read (in a buffer that stays in
    // L2), then runs its tiles. Laying out whole images first sent them through memory: EfficientNet-Lite0's stem at
    // 512 x 512 (3.5 MB of planes), one thread, took 2.3 ms in the network against 1.4 ms alone.
    let bandRows = min(problem.outputHeight, IndirectBlocking.bandRows)
    let bands = (problem.outputHeight + bandRows - 1) / bandRows
    let layout = PhasePlanes(outputHeight: bandRows, outputWidth: problem.outputWidth,
                             kernelHeight: geometry.kernelHeight, kernelWidth: geometry.kernelWidth,
                             strideY: geometry.strideY, strideX: geometry.strideX, dilationY: 1, dilationX: 1, lanes: 32)
    let perChannel = layout.count, perBand = problem.inChannels * perChannel
    let inputPlane = problem.height * problem.width
    // The taps in im2col's row order (c, ky, kx): the order of the packed weights' depth.
    var offsets: [Int] = []
    offsets.reserveCapacity(weights.depth)
    for channel in 0..<problem.inChannels {
        for ky in 0..<geometry.kernelHeight {
            for kx in 0..<geometry.kernelWidth { offsets.append(channel * perChannel + layout.tapOffset(ky: ky, kx: kx, dilationY: 1)) }
        }
    }
    let panelRows = GemmKernel.avx512.panelRows, depth = weights.depth, panels = weights.panelCount
    let outputWidth = problem.outputWidth
    weights.values.withUnsafeBufferPointer { packed in
    offsets.withUnsafeBufferPointer { taps in
        parallelChunks(problem.batch * bands, problem.context) { items in
            let source = UnsafeMutablePointer<Float>.allocate(capacity: perBand)
            defer { source.deallocate() }
            for item in items {
                let image = item / bands, firstOutputRow = item % bands * bandRows
                // Padded row r of the band is input row firstOutputRow · sy - padTop + r (zeros outside the image).
                for channel in 0..<problem.inChannels {
                    layout.build(from: problem.inputImage(image) + channel * inputPlane, height: problem.height, width: problem.width,
                                 padTop: geometry.padTop - firstOutputRow * geometry.strideY, padLeft: geometry.padLeft, fill: 0,
                                 into: source + channel * perChannel)
                }
                for oy in firstOutputRow..<min(problem.outputHeight, firstOutputRow + bandRows) {
                    var tile = TileCursor(tilesPerRow: layout.tilesPerRow)
                    tile.row = oy - firstOutputRow
                    for _ in 0..<layout.tilesPerRow {
                        let ox = tile.column * layout.lanes, width = min(layout.lanes, outputWidth - ox)
                        let tileSource = UnsafePointer(source + layout.tileBase(tile.next()))
                        for panel in 0..<panels {
                            let firstRow = panel * panelRows, rows = min(panelRows, problem.outChannels - firstRow)
                            let a = packed.baseAddress! + panel * depth * panelRows
                            let c = problem.outputRow(image, firstRow) + oy * outputWidth + ox
                            let bias = problem.bias + firstRow
                            switch (rows, width > 16) {
                            case (9..., true): IndirectTile<12, 2, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            case (9..., false): IndirectTile<12, 1, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            case (5..., true): IndirectTile<8, 2, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            case (5..., false): IndirectTile<8, 1, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            case (_, true): IndirectTile<4, 2, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            case (_, false): IndirectTile<4, 1, A>.run(depth, a, tileSource, taps.baseAddress!, c, problem.plane, rows, width, bias)
                            }
                        }
                    }
                }
            }
        }
    } }
}

enum IndirectBlocking {
    /// Output rows per piece of the indirect path: a 3x3 stride-2 stem's band reads 9 input rows (one shared with the
    /// next band), a 7x7's 13 (5 shared); 3 channels of either stay within a core's L2.
    static let bandRows = 4
}

/// C[rows x width] = A(sums + bias) for the first `Rows` rows of a 12-row packed weight panel (`rows` ≤ Rows of them
/// stored) and `width` ≤ Vectors·16 output pixels whose tap k reads source + offsets[k] onward. Per tap: Vectors
/// loads, Rows broadcasts, Rows·Vectors multiply-adds from zero in tap order, as GemmTile; then the epilogue of
/// FinishingTile (the sums plus bias, then the activation). Lanes past `width` are computed and never stored.
enum IndirectTile<let Rows: Int, let Vectors: Int, A: LaneActivation> {
    @inline(never)
    static func run(_ depth: Int, _ a: UnsafePointer<Float>, _ source: UnsafePointer<Float>, _ offsets: UnsafePointer<Int>,
                    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ width: Int, _ bias: UnsafePointer<Float>) {
        let lanes = Vector.scalarCount
        // C's lines asked for now, to arrive during the multiply-adds (as GemmTile does): with K = 27 (the 3x3
        // stems) a tile has only ~300 cycles of them, and its 24 lines would otherwise be fetched at the stores.
        for r in 0..<Rows where r < rows { for v in 0..<Vectors { carcinoma_prefetch_for_write(c + r * ldc + v * lanes) } }
        let sums = IndirectSums<Rows, Vectors, Vector>.products(depth, a, source, offsets)
        guard width == Vectors * lanes else {
            return storePartial(sums, c, ldc, rows, width, bias)
        }
        // Whole vectors: FinishingTile's store loop (kept apart from the partial one, or the activation's lane
        // selects compile to per-lane inserts and extracts).
        for r in 0..<Rows where r < rows {
            let row = c + r * ldc, shift = Vector(repeating: bias[r])
            for v in 0..<Vectors { row.store(A.apply(sums[r][v] + shift), at: v * lanes) }
        }
    }

    /// The last tile of an output row: its first `width` columns only.
    @inline(never)
    static func storePartial(_ sums: InlineArray<Rows, InlineArray<Vectors, Vector>>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                             _ rows: Int, _ width: Int, _ bias: UnsafePointer<Float>) {
        let lanes = Vector.scalarCount
        for r in 0..<Rows where r < rows {
            let row = c + r * ldc, shift = Vector(repeating: bias[r])
            for v in 0..<Vectors {
                let count = min(lanes, width - v * lanes)
                guard count > 0 else { continue }
                storePrefix(A.apply(sums[r][v] + shift), to: row + v * lanes, count: count)
            }
        }
    }
}

/// IndirectTile's sums, in registers (a function of the shape alone, as GemmTile.products: generic over the
/// activation too, the accumulators stayed in memory).
enum IndirectSums<let Rows: Int, let Vectors: Int, Lanes: SIMD> where Lanes.Scalar == Float {
    @inline(__always)
    static func products(_ depth: Int, _ a: UnsafePointer<Float>, _ source: UnsafePointer<Float>,
                         _ offsets: UnsafePointer<Int>) -> InlineArray<Rows, InlineArray<Vectors, Lanes>> {
        let lanes = Lanes.scalarCount, panelRows = GemmKernel.avx512.panelRows
        var sums = InlineArray<Rows, InlineArray<Vectors, Lanes>> { _ in InlineArray<Vectors, Lanes> { _ in Lanes() } }
        var pa = a
        for k in 0..<depth {
            let pb = source + offsets[k]
            var column = InlineArray<Vectors, Lanes>(repeating: Lanes())
            for v in 0..<Vectors { column[v] = UnsafeRawPointer(pb + v * lanes).loadUnaligned(as: Lanes.self) }
            for r in 0..<Rows {
                let broadcast = Lanes(repeating: pa[r])
                for v in 0..<Vectors { sums[r][v] = multiplyAdd(sums[r][v], broadcast, column[v]) }
            }
            pa += panelRows
        }
        return sums
    }
}
