// Depthwise convolution (one input channel per group, any channel multiplier OC/IC):
//   input N x IC x H x W, weight OC x 1 x KH x KW → N x OC x OH x OW.
// Called by conv2d (Convolution.swift) when IC/groups == 1. Planes narrower than 16 outputs (32 when strided) run
// with channels in the vector lanes instead (DepthwiseChannelLanes.swift, `DepthwiseLayout`); this file is the kernel
// of the wider planes, with output columns in the lanes.
//
// Per (image, output channel), on one thread (channels are split across cores):
//  1. The input plane is copied once into "phase planes": the zero-padded plane, with column
//     stride sx split into sx phases (phase s holds padded columns s, s + sx, s + 2sx, ...).
//     Every tap (ky, kx) of every output position then reads a contiguous run: output x ..< x + lanes
//     reads phase (kx·dx) mod sx at column x + (kx·dx) div sx, row oy·sy + ky·dy. Padding, TF-SAME
//     asymmetric padding, stride and dilation all become plain offsets; no edge cases remain.
//  2. Output rows are cut into tiles of 8 or 16 columns (`Tile`, 8 for planes at most 8 wide; the last one of a
//     row partial); up to eight tiles are accumulated at once (independent chains, `DepthwiseGroup`), bias
//     first and then taps in (ky, kx) order, the naive twin's order (taps that read padding add exactly 0),
//     one multiply and one add per tap (not fused: bit-exact against the twin).
//  3. Without a residual, the activation is applied to each tile in registers before its store; with one,
//     residual and activation are applied to the finished plane in one vector pass (fusedPass) while it is
//     still in cache.
//
// The same phase planes serve max pooling (filled with -inf) and average pooling (Pooling.swift).

import CDepthwiseLanes
import Foundation

/// The tile vector of the depthwise and pooling kernels: 16 output columns where the build targets AVX-512
/// (one zmm register), 8 elsewhere (one ymm). Each lane is one output and its taps are summed in the same
/// order at either width, so the width changes no result; a row narrower than a tile costs the same
/// instructions at either width.
#if CARCINOMA_AVX512
typealias Tile = SIMD16<Float>
#else
typealias Tile = SIMD8<Float>
#endif

/// Zero- (or `fill`-) padded, column-phase-split copy of one H x W plane, for window kernels of
/// geometry (KH, KW, stride, dilation, padding top/left) producing OH x OW.
/// Layout: planes[(phase · paddedHeight + row) · rowLength + column], padded row r = input row r - padTop,
/// padded column column · stride + phase = input column + padLeft.
struct PhasePlanes {
    let strideX: Int
    let strideY: Int
    let dilationX: Int
    let paddedHeight: Int
    let rowLength: Int
    let tilesPerRow: Int
    /// Output columns per tile (the kernel's vector width: Tile's, or 8 for narrow planes).
    let lanes: Int

    init(outputHeight: Int, outputWidth: Int, kernelHeight: Int, kernelWidth: Int,
         strideY: Int, strideX: Int, dilationY: Int, dilationX: Int, lanes: Int = Tile.scalarCount) {
        self.strideX = strideX
        self.strideY = strideY
        self.dilationX = dilationX
        self.lanes = lanes
        paddedHeight = (outputHeight - 1) * strideY + (kernelHeight - 1) * dilationY + 1
        tilesPerRow = (outputWidth + lanes - 1) / lanes
        rowLength = tilesPerRow * lanes + ((kernelWidth - 1) * dilationX) / strideX
    }

    /// Floats a scratch buffer for `build` needs: the planes, and one tile of slack after the last row.
    var count: Int { strideX * paddedHeight * rowLength + Tile.scalarCount }

    /// Offset of output tile `tile`'s base (its first output column, row oy·sy of phase 0) in the planes.
    @inline(__always)
    func tileBase(_ tile: TileCursor) -> Int {
        tile.row * strideY * rowLength + tile.column * lanes
    }

    /// Offset of tap (ky, kx) from a tile's base (its first output column in row oy·sy of phase 0).
    func tapOffset(ky: Int, kx: Int, dilationY: Int) -> Int {
        let column = kx * dilationX
        return ((column % strideX) * paddedHeight + ky * dilationY) * rowLength + column / strideX
    }

    /// Fills `planes` (`count` floats) from input (height x width), `fill` wherever the padded window lies
    /// outside it. Rows are written in order, and the padding runs as whole tiles: a run's last tile may
    /// spill into the next row (written afterwards) or the slack, but never calls memset for a few floats.
    func build(from input: UnsafePointer<Float>, height: Int, width: Int, padTop: Int, padLeft: Int,
               fill: Float, into planes: UnsafeMutablePointer<Float>) {
        let fillTile = Tile(repeating: fill), lanes = Tile.scalarCount
        @inline(__always) func fillRun(_ line: UnsafeMutablePointer<Float>, _ columns: Range<Int>) {
            var column = columns.lowerBound
            while column < columns.upperBound {
                UnsafeMutableRawPointer(line + column).storeBytes(of: fillTile, as: Tile.self)
                column += lanes
            }
        }
        for phase in 0..<strideX {
            let inside = validRange(outputCount: rowLength, stride: strideX, offset: phase - padLeft, inputCount: width)
            for row in 0..<paddedHeight {
                let line = planes + (phase * paddedHeight + row) * rowLength
                let inputRow = row - padTop
                guard inputRow >= 0 && inputRow < height && !inside.isEmpty else {
                    fillRun(line, 0..<rowLength)
                    continue
                }
                let inputLine = input + inputRow * width + phase - padLeft
                fillRun(line, 0..<inside.lowerBound)   // before the copy, which overwrites any spill
                if strideX == 1 {
                    copyFloats(from: inputLine + inside.lowerBound, to: line + inside.lowerBound, count: inside.count)
                } else {
                    // inputLine[width - (phase - padLeft)] is past the input row.
                    copyStrided(from: inputLine, stride: strideX, to: line, columns: inside, rowEnd: width - (phase - padLeft))
                }
                fillRun(line, inside.upperBound..<rowLength)
            }
        }
    }
}

/// destination[j] = source[j · stride] for j in `columns`, where source[rowEnd] is the first float past the row.
/// Stride 2 (the stride-2 depthwise layers and pools, the stems' im2col): 16 columns at a time are the even lanes of
/// 32 consecutive floats, while those stay inside the row, the last 16 overlapping the ones before (a row of 112
/// outputs is 7 vectors, not 6 and 16 scalar copies); rows of 8 to 15 the same way 8 at a time. Only a last column
/// whose pair would end past the row, and rows of fewer than 8, are copied float by float.
@inline(never)
func copyStrided(from source: UnsafePointer<Float>, stride: Int, to destination: UnsafeMutablePointer<Float>,
                 columns: Range<Int>, rowEnd: Int) {
    var column = columns.lowerBound
    // The last 16 columns whose 32 floats stay in the row; the vectors before it may overlap it (same values).
    let last = min(columns.upperBound - 16, (rowEnd - 32) >> 1)
    if stride == 2 && last >= column {
        while column < last {
            UnsafeMutableRawPointer(destination + column).storeBytes(of: evenFloats(at: source + 2 * column), as: SIMD16<Float>.self)
            column += 16
        }
        UnsafeMutableRawPointer(destination + last).storeBytes(of: evenFloats(at: source + 2 * last), as: SIMD16<Float>.self)
        column = last + 16
    }
    // Rows of 8 to 15 outputs (the 28 → 14 and 14 → 7 stride-2 layers' planes) the same way, 8 at a time.
    let lastEight = min(columns.upperBound - 8, (rowEnd - 16) >> 1)
    if stride == 2 && lastEight >= column {
        while column < lastEight {
            UnsafeMutableRawPointer(destination + column).storeBytes(of: evenFloats(at: source + 2 * column), as: SIMD8<Float>.self)
            column += 8
        }
        UnsafeMutableRawPointer(destination + lastEight).storeBytes(of: evenFloats(at: source + 2 * lastEight), as: SIMD8<Float>.self)
        column = lastEight + 8
    }
    while column < columns.upperBound {
        destination[column] = source[column * stride]
        column += 1
    }
}

/// Floats 0, 2, 4, … 14 (SIMD8) or … 30 (SIMD16) from `pointer`: the low halves of sixteen 64-bit lanes (x86-64 and arm64 are little-endian),
/// truncated eight at a time, which compiles to a load and one two-register permute (vpermt2d) on AVX-512. The even
/// lanes of a loaded SIMD32 (evenLanes) became sixteen scalar loads and inserts once inlined into the plane build, and
/// one truncation of all sixteen 64-bit lanes a permute patched by six broadcasts and a masked move.
@inline(__always)
func evenFloats(at pointer: UnsafePointer<Float>) -> SIMD8<Float> {
    unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<UInt64>.self)), to: SIMD8<Float>.self)
}

@inline(__always)
func evenFloats(at pointer: UnsafePointer<Float>) -> SIMD16<Float> {
    let low = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<UInt64>.self)
    let high = UnsafeRawPointer(pointer + 16).loadUnaligned(as: SIMD8<UInt64>.self)
    return unsafeBitCast(SIMD16<UInt32>(lowHalf: SIMD8(truncatingIfNeeded: low), highHalf: SIMD8(truncatingIfNeeded: high)),
                         to: SIMD16<Float>.self)
}

/// Output tile (row, column-in-tiles) of a plane, walked in row-major order: the next tile's position
/// by an increment and a compare, not by dividing the tile index (a 64-bit divide costs tens of cycles,
/// more than the taps of a 3x3 tile).
struct TileCursor {
    var row = 0
    var column = 0
    let tilesPerRow: Int

    init(tilesPerRow: Int) { self.tilesPerRow = tilesPerRow }

    /// This tile, and the cursor moved to the next one.
    @inline(__always)
    mutating func next() -> TileCursor {
        let current = self
        column += 1
        if column == tilesPerRow { column = 0; row += 1 }
        return current
    }
}

extension UnsafePointer where Pointee == Float {
    @inline(always) func tile(at offset: Int) -> Tile { vector(at: offset, as: Tile.self) }

    @inline(always) func vector<Lanes: SIMD>(at offset: Int, as: Lanes.Type) -> Lanes where Lanes.Scalar == Float {
        UnsafeRawPointer(self + offset).loadUnaligned(as: Lanes.self)
    }
}

/// Reads `count` (≤ the tile's lanes) floats, zeros after.
@inline(always)
func loadTile(_ values: UnsafePointer<Float>, count: Int) -> Tile {
    loadPrefix(values, count: count)
}

/// Writes the first `count` (≤ the vector's lanes) lanes.
@inline(always)
func storeTile<Lanes: SIMD>(_ tile: Lanes, to values: UnsafeMutablePointer<Float>, count: Int) where Lanes.Scalar == Float {
    switch Lanes.scalarCount {   // resolved when the caller is specialised
    case 16: storePrefix(unsafeBitCast(tile, to: SIMD16<Float>.self), to: values, count: count)
    case 8: storePrefix(unsafeBitCast(tile, to: SIMD8<Float>.self), to: values, count: count)
    default: for lane in 0..<count { values[lane] = tile[lane] }
    }
}

/// One input channel per group (depthwise, channel multiplier OC/IC), see the header; small planes and strided
/// windows run with channels in the lanes instead (`DepthwiseLayout`, DepthwiseChannelLanes.swift). Planes at most
/// 8 outputs wide (7x7 and smaller) run 8-lane tiles where Tile is wider: a 16-lane tile would compute 16 columns for 7.
/// laneWeights gives the layer's `channelLaneWeights(lanes: Tile.scalarCount)`, asked for only by the channel lanes.
func depthwiseConvolution(source: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                          laneWeights: () -> [Float], residual: UnsafePointer<Float>?,
                          batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, geometry: ConvGeometry,
                          outputHeight: Int, outputWidth: Int,
                          outputRow: (Int, Int) -> UnsafeMutablePointer<Float>,
                          activation: Activation, context: KernelContext, layout: DepthwiseLayout = .automatic) {
    // On AVX-512 (and in an AVX2 build, 8 lanes wide), a 3x3 layer on wide output rows without a residual, its
    // activation none, ReLU or ReLU6, reads the input rows where they are (CDepthwiseLanes' band kernel, as the
    // inverted bottleneck's bands do): no padded plane per channel, no transposes. One thread, AMD Zen 4: 144 channels
    // 3x3 at 56x56 0.182-0.183 -> 0.173 ms, 240 3x3 stride 2 from 64x64 0.238 -> 0.193; slower on narrower rows (240
    // 3x3 stride 2 from 28x28 0.037 -> 0.052) and with 5x5 windows (240 5x5 at 28x28 0.155 -> 0.250), which keep the
    // kernels below.
    if layout == .automatic && residual == nil, let clamp = bandKernelClamp(activation),
       bandKernelWindow(geometry, lanes: Tile.scalarCount) == 3, outputWidth >= (geometry.strideX == 1 ? 48 : 32) {
        let outPerGroup = outChannels / geometry.groups
        parallelChunks(batch * outChannels, context) { items in
            for item in items {
                let image = item / outChannels, channel = item % outChannels
                depthwiseBand(lanes: Tile.scalarCount, source + (image * inChannels + channel / outPerGroup) * height * width,
                              0, height, width, geometry.padTop, geometry.padLeft, geometry.strideY, 3, weights + channel * 9,
                              bias[channel], clamp, 0, outputHeight, outputWidth, outputRow(image, channel))
            }
        }
        return
    }
    let channelLanes = switch layout {
    case .automatic: DepthwiseLayout.prefersChannelLanes(geometry, outputWidth: outputWidth)
    case .planes: false
    case .channelLanes: true
    }
    if channelLanes {
        laneWeights().withUnsafeBufferPointer { prepared in
            depthwiseChannelLanes(source: source, laneWeights: prepared.baseAddress!, residual: residual, batch: batch,
                                  inChannels: inChannels, height: height, width: width, outChannels: outChannels, geometry: geometry,
                                  outputHeight: outputHeight, outputWidth: outputWidth, outputRow: outputRow, activation: activation,
                                  context: context)
        }
    } else if Tile.scalarCount > 8 && outputWidth <= 8 {
        depthwiseTiles(SIMD8<Float>.self, source: source, weights: weights, bias: bias, residual: residual, batch: batch,
                       inChannels: inChannels, height: height, width: width, outChannels: outChannels, geometry: geometry,
                       outputHeight: outputHeight, outputWidth: outputWidth, outputRow: outputRow, activation: activation,
                       context: context)
    } else {
        depthwiseTiles(Tile.self, source: source, weights: weights, bias: bias, residual: residual, batch: batch,
                       inChannels: inChannels, height: height, width: width, outChannels: outChannels, geometry: geometry,
                       outputHeight: outputHeight, outputWidth: outputWidth, outputRow: outputRow, activation: activation,
                       context: context)
    }
}

/// The depthwise kernel on tiles of `Lanes` output columns. Each output is bias + Σ taps in (ky, kx) order, one
/// multiply and one add per tap, whatever the tile width.
func depthwiseTiles<Lanes: DepthwiseLanes>(_ lanesType: Lanes.Type, source: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                                 batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, geometry: ConvGeometry,
                                 outputHeight: Int, outputWidth: Int,
                                 outputRow: (Int, Int) -> UnsafeMutablePointer<Float>,
                                 activation: Activation, context: KernelContext) {
    let outPerGroup = outChannels / geometry.groups
    let kernelHeight = geometry.kernelHeight, kernelWidth = geometry.kernelWidth, taps = kernelHeight * kernelWidth
    let strideY = geometry.strideY
    let plane = outputHeight * outputWidth
    let lanes = Lanes.scalarCount
    let layout = PhasePlanes(outputHeight: outputHeight, outputWidth: outputWidth, kernelHeight: kernelHeight,
                             kernelWidth: kernelWidth, strideY: strideY, strideX: geometry.strideX,
                             dilationY: geometry.dilationY, dilationX: geometry.dilationX, lanes: lanes)
    var tapOffsets = [Int]()
    for ky in 0..<kernelHeight { for kx in 0..<kernelWidth { tapOffsets.append(layout.tapOffset(ky: ky, kx: kx, dilationY: geometry.dilationY)) } }
    let tilesPerRow = layout.tilesPerRow, tileCount = outputHeight * tilesPerRow
    let window = DepthwisePlane<Lanes>.rowBlockedWindow(geometry)

    tapOffsets.withUnsafeBufferPointer { offsetBuffer in
    let offsets = offsetBuffer.baseAddress!
    parallelChunks(batch * outChannels, context) { items in
        var scratch = uninitialisedFloats(layout.count)
        scratch.withUnsafeMutableBufferPointer { scratchBuffer in
            let planes = scratchBuffer.baseAddress!
            var builtFor = -1
            for item in items {
                let image = item / outChannels, channel = item % outChannels
                let inputIndex = image * inChannels + channel / outPerGroup
                if inputIndex != builtFor {
                    layout.build(from: source + inputIndex * height * width, height: height, width: width,
                                 padTop: geometry.padTop, padLeft: geometry.padLeft, fill: 0, into: planes)
                    builtFor = inputIndex
                }
                let output = outputRow(image, channel)
                // Without a residual the activation is applied in registers, before the store; with one, after
                // the residual, in a pass over the finished plane (the order PyTorch applies them).
                let tiles = DepthwisePlane<Lanes>(
                    input: UnsafePointer(planes), output: output, kernel: weights + channel * taps, offsets: offsets, taps: taps,
                    start: Lanes(repeating: bias[channel]), layout: layout, outputWidth: outputWidth, plane: plane,
                    activation: residual == nil ? activation : .identity, window: window)
                tiles.run(tileCount: tileCount)
                // Residual and activation over the finished plane while it is in cache (one vector pass).
                if let residual {
                    fusedPass(from: output, bias: 0, residual: residual + item * plane, into: output, count: plane, activation: activation)
                }
            }
        }
    }
    }
}

/// One channel's output plane for DepthwiseGroup: its phase planes, weights, bias and where it goes.
struct DepthwisePlane<Lanes: DepthwiseLanes> {
    let input: UnsafePointer<Float>          // the phase planes (PhasePlanes layout)
    let output: UnsafeMutablePointer<Float>  // OH x OW, row-major
    let kernel: UnsafePointer<Float>         // KH x KW
    let offsets: UnsafePointer<Int>          // taps, (ky, kx) order: each tap's offset from a tile's base
    let taps: Int
    let start: Lanes                         // the bias in every lane
    let layout: PhasePlanes
    let outputWidth: Int
    let plane: Int                           // OH · OW
    let activation: Activation
    /// 3 or 5 for a 3x3 or 5x5 window at stride 1 without dilation (run in row bands, `DepthwiseRows`), else 0.
    let window: Int

    /// The `window` of DepthwisePlane for a geometry.
    static func rowBlockedWindow(_ g: ConvGeometry) -> Int {
        let plain = g.strideY == 1 && g.strideX == 1 && g.dilationY == 1 && g.dilationX == 1 && g.kernelHeight == g.kernelWidth
        return plain && (g.kernelHeight == 3 || g.kernelHeight == 5) ? g.kernelHeight : 0
    }
}

extension DepthwisePlane {
    /// Every tile of the plane: bands of four rows where the window allows (`DepthwiseRows`), then the remaining
    /// tiles in groups of eight and the rest as one group.
    @inline(__always)
    func run(tileCount: Int) {
        let tilesPerRow = layout.tilesPerRow, outputHeight = tileCount / tilesPerRow
        var cursor = TileCursor(tilesPerRow: tilesPerRow)
        // Planes one tile wide (14 x 14 and smaller) keep the groups of eight: a band of one column holds only four
        // sums, too few to hide the adds' latency (measured slower).
        if window != 0 && outputHeight >= 4 && tilesPerRow >= 2 {
            let bandRows = outputHeight / 4 * 4
            for row in stride(from: 0, to: bandRows, by: 4) {
                // Right to left: a row's last tile, stored whole, runs into the next row's first tile, which must be
                // stored after it (every other tile of a row is inside the row).
                var column = tilesPerRow
                while column >= 2 {
                    column -= 2
                    if window == 3 { DepthwiseRows<2, 3, Lanes>.accumulate(self, row: row, column: column) }
                    else { DepthwiseRows<2, 5, Lanes>.accumulate(self, row: row, column: column) }
                }
                if column == 1 {   // an odd number of tiles per row: the first one alone
                    if window == 3 { DepthwiseRows<1, 3, Lanes>.accumulate(self, row: row, column: 0) }
                    else { DepthwiseRows<1, 5, Lanes>.accumulate(self, row: row, column: 0) }
                }
            }
            cursor.row = bandRows
        }
        var remaining = tileCount - cursor.row * tilesPerRow
        while remaining >= 8 {
            DepthwiseGroup<8, Lanes>.accumulate(self, &cursor)
            remaining -= 8
        }
        switch remaining {
        case 7: DepthwiseGroup<7, Lanes>.accumulate(self, &cursor)
        case 6: DepthwiseGroup<6, Lanes>.accumulate(self, &cursor)
        case 5: DepthwiseGroup<5, Lanes>.accumulate(self, &cursor)
        case 4: DepthwiseGroup<4, Lanes>.accumulate(self, &cursor)
        case 3: DepthwiseGroup<3, Lanes>.accumulate(self, &cursor)
        case 2: DepthwiseGroup<2, Lanes>.accumulate(self, &cursor)
        case 1: DepthwiseGroup<1, Lanes>.accumulate(self, &cursor)
        default: break
        }
    }
}

/// Four output rows x `Columns` tiles of a stride-1 `Window` x `Window` convolution at once: each input vector is
/// loaded once and added, with its weight, into every output row whose window covers it (a 3x3 window loads 18
/// vectors for 36 taps of a column, a 5x5 one 40 for 100), where DepthwiseGroup loads one per tap. The unaligned
/// 16-lane loads, most of them split across two cache lines, not the multiplies and adds, bounded the tile groups
/// (fused multiply-adds did not speed them up). Input rows are walked downwards and columns kx inside, so each
/// output still adds its taps in (ky, kx) order: the same sums as DepthwiseGroup and the naive twin. Stores as in
/// DepthwiseGroup, rows in order and columns left to right.
enum DepthwiseRows<let Columns: Int, let Window: Int, Lanes: DepthwiseLanes> {
    @inline(__always)
    static func accumulate(_ p: DepthwisePlane<Lanes>, row: Int, column: Int) {
        let lanes = Lanes.scalarCount, rowLength = p.layout.rowLength
        let base = p.input + row * rowLength + column * lanes
        var sums = InlineArray<4, InlineArray<Columns, Lanes>>(repeating: InlineArray(repeating: p.start))
        for inputRow in 0..<(3 + Window) {          // rows + Window - 1 input rows
            for kx in 0..<Window {
                var inputs = InlineArray<Columns, Lanes>(repeating: Lanes())
                for c in 0..<Columns { inputs[c] = (base + inputRow * rowLength + c * lanes).vector(at: kx, as: Lanes.self) }
                for j in 0..<4 {
                    let ky = inputRow - j
                    if ky >= 0 && ky < Window {
                        let weight = Lanes(repeating: p.kernel[ky * Window + kx])
                        for c in 0..<Columns { sums[j][c] = tapAdd(sums[j][c], weight, inputs[c]) }
                    }
                }
            }
        }
        for j in 0..<4 {
            for c in 0..<Columns {
                let value = Lanes.activated(sums[j][c], p.activation)
                let position = (row + j) * p.outputWidth + (column + c) * lanes
                if position + lanes <= p.plane {
                    UnsafeMutableRawPointer(p.output + position).storeBytes(of: value, as: Lanes.self)
                } else {
                    storeTile(value, to: p.output + position, count: min(lanes, p.outputWidth - (column + c) * lanes))
                }
            }
        }
    }
}

/// `Count` consecutive tiles (row-major, from `cursor`) of one plane at once: Count independent sums, so that
/// the multiply-adds of a tap are not waiting for the previous tap's add (a lone tile of a 7x7 plane was
/// bound by the add's latency, 25 taps x 4 cycles). The remainder of a plane runs as one narrower group, not
/// tile by tile. A tile whose whole vector fits in the plane is stored whole, even where it runs past its row:
/// the values past the row belong to later tiles, which are stored afterwards; only a tile at the end of the
/// plane is stored lane by lane.
enum DepthwiseGroup<let Count: Int, Lanes: DepthwiseLanes> {
    @inline(__always)
    static func accumulate(_ p: DepthwisePlane<Lanes>, _ cursor: inout TileCursor) {
        let lanes = Lanes.scalarCount
        var bases = InlineArray<Count, UnsafePointer<Float>>(repeating: p.input)
        var positions = InlineArray<Count, Int>(repeating: 0)
        for i in 0..<Count {
            let tile = cursor.next()
            bases[i] = p.input + p.layout.tileBase(tile)
            positions[i] = tile.row * p.outputWidth + tile.column * lanes
        }
        var sums = InlineArray<Count, Lanes>(repeating: p.start)
        for tap in 0..<p.taps {
            let weight = Lanes(repeating: p.kernel[tap]), offset = p.offsets[tap]
            for i in 0..<Count { sums[i] = tapAdd(sums[i], weight, bases[i].vector(at: offset, as: Lanes.self)) }
        }
        for i in 0..<Count {
            let value = Lanes.activated(sums[i], p.activation), position = positions[i]
            if position + lanes <= p.plane {
                UnsafeMutableRawPointer(p.output + position).storeBytes(of: value, as: Lanes.self)
            } else {
                storeTile(value, to: p.output + position, count: min(lanes, p.outputWidth - position % p.outputWidth))
            }
        }
    }
}

/// A tile vector of the depthwise kernel with its activation (SIMD8 and SIMD16 each call their own
/// Activation.apply: generic SIMD arithmetic would not vectorise the exponential, see `exponential`).
protocol DepthwiseLanes: SIMD where Scalar == Float {
    static func activated(_ x: Self, _ activation: Activation) -> Self
}

extension SIMD8: DepthwiseLanes where Scalar == Float {
    @inline(always) static func activated(_ x: Self, _ activation: Activation) -> Self { activation.apply(x) }
}

extension SIMD16: DepthwiseLanes where Scalar == Float {
    @inline(always) static func activated(_ x: Self, _ activation: Activation) -> Self { activation.apply(x) }
}

/// sum + weight · input, rounded twice (no fused multiply-add): the naive twin's arithmetic, so the tiles are bit-exact.
@inline(__always)
private func tapAdd<Lanes: SIMD>(_ sum: Lanes, _ weight: Lanes, _ input: Lanes) -> Lanes where Lanes.Scalar == Float {
    sum + weight * input
}
