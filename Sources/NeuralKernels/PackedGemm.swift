// Single-precision GEMM over a left operand packed once: C[M x N] (+)= A[M x K] · B[K x N].
//
// The loop structure is Goto & van de Geijn's ("Anatomy of High-Performance Matrix Multiplication",
// ACM TOMS 34(3), 2008) as BLIS lays it out (Van Zee & van de Geijn, ACM TOMS 41(3), 2015):
//   for each block of ≤ columnBlock columns of B and C          (jc; the packed B block lives in L2/L3)
//     for each block of ≤ depthBlock rows of B (= columns of A)  (pc; packs B[pc, jc] once)
//       for each block of rowBlock rows of A                     (ic; its packed panels stay in L2)
//         for each nr-column panel of the packed B block         (jr; nr · kc floats stay in L1)
//           for each mr-row panel of A in the block              (ir)
//             micro-kernel: an mr x nr tile of C in registers, kc rank-1 updates
// With a shallow depth block (kc ≤ 128: 1x1 layers with few input channels) the two inner loops swap: each row
// panel runs along its row of column panels, so C's and the residual's lines stream in a dozen sequential rows
// (which the hardware prefetcher follows) rather than 128 bytes of each of 144 rows, while the packed B block
// (kc · nc floats, at most 128 · 2048) is read from L2.
// The register tile follows the vector unit (`GemmKernel`): 6 x 16 in twelve 8-lane accumulators for
// AVX2's sixteen ymm registers, 12 x 32 in twenty-four 16-lane accumulators for AVX-512's thirty-two zmm
// registers (BLIS's skx sgemm kernel holds the same 24 accumulators as 32 x 12). AVX-512's tiles are one
// generic function (`GemmTile`, specialised for the vector type and the tile shape); AVX2's keep named
// accumulators, which the 16-register allocator handles without spilling (see GemmKernel.fullTile).
// A is a convolution's weights (or Winograd-transformed filters): it is packed once, when the layer is
// first run, into mr-row panels per depth block (`PackedMatrix`). OpenBLAS repacks A on every call, which
// cost ~12% of a ResNet-50 pass and much more on late layers with few pixels, where A is large.
// B (im2col columns, input planes or Winograd tiles) is packed per call into nr-column panels, unless the call has
// few rows of A (GemmBlocking.inPlaceRows, AVX-512): then the tiles read B's rows where they are, ldb floats apart,
// as the same values in the same order (the same bits), and the copy that few row panels would reuse is not made.
//
// Each element of C is the sum over k in ascending order, one fused multiply-add per k: in registers within
// a depth block, then added to C block after block. The depth blocks depend on K only, so the result depends
// neither on how a caller splits rows or columns across threads, nor on N, nor on the kernel: the AVX2 and
// AVX-512 paths give the same bits. Edge tiles (fewer than mr rows or nr columns) are computed in full over
// zero padding and only their valid part is stored, except a last row panel of at most 8 rows on AVX-512, which
// a row tile (`GemmRowTile`, 4 or 8 rows) computes without the zero rows, and a plane's last few columns (≤ nr/4),
// which a column tile (`GemmColumnTile`: vectors down the panel's rows, one multiply-add per column and k) computes without
// padding. On AVX-512 the last depth block can also finish its tiles in registers (`GemmEpilogue`: bias,
// residual, activation) before their one store, in the order the separate output pass applies them.

import COpenBLAS
import Foundation

/// The packed GEMM's register tile, chosen by the CPU's vector unit (never by a model number).
public enum GemmKernel: String, Sendable, Codable, CaseIterable {
    /// 6 x 16 (narrow 6 x 8): 8-lane vectors, twelve accumulators of AVX2's sixteen ymm registers.
    case avx2
    /// 12 x 32 (narrow 12 x 16): 16-lane vectors, twenty-four accumulators of AVX-512's thirty-two zmm registers.
    case avx512

    /// Rows of A per panel (mr).
    public var panelRows: Int { self == .avx2 ? 6 : 12 }
    /// Columns of B per panel (nr).
    public var panelColumns: Int { self == .avx2 ? 16 : 32 }
    /// A last panel of at most this many columns is packed and multiplied half as wide (a 7x7 plane's 49
    /// pixels are 3 panels of 16 and one of 8 on AVX2, not 4 of 16).
    public var narrowColumns: Int { panelColumns / 2 }
    /// Whether a call with `rows` rows of A reads B's rows where they are (`ldb` floats apart) instead of packing each
    /// depth block of them first (`packColumns`): on AVX-512, for at most GemmBlocking.inPlaceRows rows, when every
    /// full and narrow panel of `panels` is whole (a tile then reads nothing past its columns, so nothing past B).
    func readsInPlace(rows: Int, panels: [ColumnPanel]) -> Bool {
        self == .avx512 && rows <= GemmBlocking.inPlaceRows
            && panels.allSatisfy { $0.shape == .columnTile || $0.width == ($0.shape == .full ? panelColumns : narrowColumns) }
    }

    /// A last panel of at most this many columns is multiplied by a column tile (`GemmColumnTile`), which
    /// costs one multiply-add per column and k instead of a narrow tile's one per row and k: on AVX-512 a
    /// 7x7 plane's 49 pixels are panels of 32, 16 and 1 (37 multiply-adds per k and 12 rows, not 48 for two
    /// panels of 32), a 14x14 plane's 196 six of 32 and one of 4, a 17x17 plane's 289 nine of 32 and one of 1.
    public var tailColumns: Int { panelColumns / 4 }

    /// The kernel for this machine: AVX-512 when the build targets it (Package.swift's CARCINOMA_AVX512,
    /// from the building machine's flags) and the running CPU reports avx512f/bw/dq/vl; AVX2's otherwise.
    public static let native: GemmKernel = {
        #if CARCINOMA_AVX512
        if CPUFeatures.current.hasAVX512 { return .avx512 }
        #endif
        return .avx2
    }()

    /// The kernels whose instructions this machine runs natively (the tests check each against the naive twins).
    public static var supported: [GemmKernel] { native == .avx512 ? [.avx2, .avx512] : [.avx2] }

    /// C[mr x nr] (+)= A panel (depth x mr) · B panel (depth x nr) and its narrow twin.
    /// AVX-512's tiles are the generic GemmTile; AVX2's keep their twelve accumulators in explicitly named
    /// variables (avx2MicroKernel): with only sixteen ymm registers, LLVM schedules the generic form's
    /// broadcasts ahead of their multiply-adds and spills accumulators (seen in a haswell build), while the
    /// named form compiles to the textbook register tile. Both add the same products in the same order.
    var fullTile: MicroKernel {
        self == .avx2 ? avx2MicroKernel : GemmTile<12, 2, SIMD16<Float>>.multiply
    }
    var narrowTile: MicroKernel {
        self == .avx2 ? avx2NarrowKernel : GemmTile<12, 1, SIMD16<Float>>.multiply
    }

    /// The full and narrow tiles that finish their values with `activation` (FinishingTile), or nil for AVX2:
    /// its named-accumulator kernels have only four ymm registers to spare for the epilogue (a SiLU would spill),
    /// and this machine cannot time them, so AVX2 keeps the separate pass.
    func finishingTiles(_ activation: Activation) -> (full: FinishingKernel, narrow: FinishingKernel)? {
        guard self == .avx512 else { return nil }
        switch activation {
        case .identity: return (FinishingTile<12, 2, IdentityLanes>.multiply, FinishingTile<12, 1, IdentityLanes>.multiply)
        case .relu: return (FinishingTile<12, 2, ReLULanes>.multiply, FinishingTile<12, 1, ReLULanes>.multiply)
        case .relu6: return (FinishingTile<12, 2, ReLU6Lanes>.multiply, FinishingTile<12, 1, ReLU6Lanes>.multiply)
        case .silu: return (FinishingTile<12, 2, SiLULanes>.multiply, FinishingTile<12, 1, SiLULanes>.multiply)
        case .sigmoid: return (FinishingTile<12, 2, SigmoidLanes>.multiply, FinishingTile<12, 1, SigmoidLanes>.multiply)
        }
    }

    /// The row tile (GemmRowTile) for a last panel of `rows` rows of a full (or narrow) panel of columns, finishing
    /// its values with `activation`; nil where the full tile over zero rows runs instead (AVX2, whose 6-row panels
    /// waste little, and rows > 8 of AVX-512's 12).
    func rowTile(rows: Int, narrow: Bool, activation: Activation) -> RowKernel? {
        guard self == .avx512, rows <= 8 else { return nil }
        let tiles = switch activation {
        case .identity: GemmKernel.identityRowTiles
        case .relu: GemmKernel.reluRowTiles
        case .relu6: GemmKernel.relu6RowTiles
        case .silu: GemmKernel.siluRowTiles
        case .sigmoid: GemmKernel.sigmoidRowTiles
        }
        return tiles[rows <= 4 ? 0 : 1][narrow ? 1 : 0]
    }
    private static let identityRowTiles = rowTiles(IdentityLanes.self), reluRowTiles = rowTiles(ReLULanes.self)
    private static let relu6RowTiles = rowTiles(ReLU6Lanes.self), siluRowTiles = rowTiles(SiLULanes.self)
    private static let sigmoidRowTiles = rowTiles(SigmoidLanes.self)

    /// [4 rows, 8 rows][full, narrow] with one activation.
    private static func rowTiles<A: LaneActivation>(_: A.Type) -> [[RowKernel]] {
        [[GemmRowTile<4, 2, A>.multiply, GemmRowTile<4, 1, A>.multiply],
         [GemmRowTile<8, 2, A>.multiply, GemmRowTile<8, 1, A>.multiply]]
    }

    /// How many row panels a column tile of `columns` columns covers at once (independent accumulators to
    /// hide the multiply-add latency, within the vector registers), and its kernel for that many panels
    /// (`panels` == 1: the remainder of a row block).
    func tailPanels(columns: Int) -> Int {
        self == .avx2 ? (columns <= 2 ? 4 : 2) : (columns <= 6 ? 4 : 3)
    }
    func tailTile(columns: Int, panels: Int) -> ColumnKernel {
        let tiles = self == .avx2 ? GemmKernel.avx2ColumnTiles : GemmKernel.avx512ColumnTiles
        return tiles[columns - 1][panels == 1 ? 0 : 1]
    }

    // [columns - 1] = [one panel, tailPanels(columns) panels]: each shape is its own specialisation.
    private static let avx2ColumnTiles: [[ColumnKernel]] = [
        [GemmColumnTile<6, 1, 1, SIMD8<Float>>.multiply, GemmColumnTile<6, 4, 1, SIMD8<Float>>.multiply],
        [GemmColumnTile<6, 1, 2, SIMD8<Float>>.multiply, GemmColumnTile<6, 4, 2, SIMD8<Float>>.multiply],
        [GemmColumnTile<6, 1, 3, SIMD8<Float>>.multiply, GemmColumnTile<6, 2, 3, SIMD8<Float>>.multiply],
        [GemmColumnTile<6, 1, 4, SIMD8<Float>>.multiply, GemmColumnTile<6, 2, 4, SIMD8<Float>>.multiply],
    ]
    private static let avx512ColumnTiles: [[ColumnKernel]] = [
        [GemmColumnTile<12, 1, 1, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 1, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 2, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 2, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 3, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 3, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 4, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 4, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 5, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 5, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 6, SIMD16<Float>>.multiply, GemmColumnTile<12, 4, 6, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 7, SIMD16<Float>>.multiply, GemmColumnTile<12, 3, 7, SIMD16<Float>>.multiply],
        [GemmColumnTile<12, 1, 8, SIMD16<Float>>.multiply, GemmColumnTile<12, 3, 8, SIMD16<Float>>.multiply],
    ]

    /// The panels a block of `columns` columns of B is cut into, from its first column on: full panels of nr
    /// columns, and at the end a narrow panel (≤ nr/2 columns, packed nr/2 wide) and/or a column-tile panel
    /// (≤ nr/4 columns, packed nr/2 wide) wherever they cost fewer multiply-adds than one more full panel.
    /// The panel starting at column j is packed at j · depth, so the block fits in ⌈columns / nr⌉ · nr · depth.
    func panels(columns: Int) -> [ColumnPanel] {
        var result: [ColumnPanel] = []
        var j = 0
        while j < columns {
            let remaining = columns - j
            let panel: ColumnPanel
            if remaining <= tailColumns {
                panel = ColumnPanel(start: j, width: remaining, shape: .columnTile)
            } else if remaining <= narrowColumns || (remaining < panelColumns && remaining - narrowColumns <= tailColumns) {
                panel = ColumnPanel(start: j, width: min(remaining, narrowColumns), shape: .narrow)
            } else {
                panel = ColumnPanel(start: j, width: min(remaining, panelColumns), shape: .full)
            }
            result.append(panel)
            j += panel.width
        }
        return result
    }
}

/// One panel of packed B columns: `width` columns from `start`, multiplied by the full tile (packed nr wide),
/// the narrow tile or a column tile (both packed nr/2 wide).
struct ColumnPanel: Equatable {
    enum Shape { case full, narrow, columnTile }
    let start: Int
    let width: Int
    let shape: Shape
}

/// The vector units the running CPU reports (Linux: the flags line of /proc/cpuinfo, which the kernel fills
/// from CPUID, so a flag is listed only when the OS also saves that register state).
public struct CPUFeatures: Sendable {
    public let flags: Set<String>
    public let modelName: String

    public var hasAVX2: Bool { flags.isSuperset(of: ["avx2", "fma"]) }
    public var hasAVX512: Bool { flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "fma"]) }
    public var hasAVX512BF16: Bool { flags.contains("avx512_bf16") }
    public var hasAMX: Bool { flags.contains("amx_tile") }

    /// "AVX-512", "AVX2" or "SSE" (what the vector kernels can use), for the bench and --version.
    public var vectorUnit: String { hasAVX512 ? "AVX-512" : hasAVX2 ? "AVX2+FMA" : "SSE" }

    public static let current: CPUFeatures = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return CPUFeatures(flags: [], modelName: "unknown") }
        let lines = info.split(separator: "\n")
        func value(_ key: String) -> String? {
            lines.first { $0.hasPrefix(key) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return CPUFeatures(flags: Set((value("flags") ?? "").split(separator: " ").map(String.init)), modelName: value("model name") ?? "unknown")
    }()
}

/// C[mr x nr] (+)= A panel · B panel, the panel's rows of B `bStride` floats apart (packed: nr or nr/2; in place: ldb).
typealias MicroKernel = (_ depth: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ bStride: Int,
                         _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool) -> Void
/// C[rows x Columns] (+)= consecutive packed A panels (panelStride floats apart) · a B panel of bStride-float rows.
/// With `finishing` (an epilogue whose rows count from the tile's first row: its bias and residual pointers at that
/// row's, the residual at the tile's first column), the values are finished as GemmEpilogue finishes them before their store.
typealias ColumnKernel = (_ depth: Int, _ a: UnsafePointer<Float>, _ panelStride: Int, _ b: UnsafePointer<Float>, _ bStride: Int,
                          _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ rows: Int, _ accumulate: Bool,
                          _ finishing: GemmEpilogue?) -> Void

/// GemmRowTile.multiply: C[rows x nr] (+)= the first rows of a 12-row A panel · a B panel, finished (bias from the
/// tile's first row, residual, activation) when bias is not nil.
typealias RowKernel = (_ depth: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ bStride: Int, _ c: UnsafeMutablePointer<Float>,
                       _ ldc: Int, _ rows: Int, _ accumulate: Bool, _ bias: UnsafePointer<Float>?,
                       _ residual: UnsafePointer<Float>?, _ residualStride: Int) -> Void

/// FinishingTile.multiply: a MicroKernel that also adds bias (from the tile's first row) and the residual
/// (nil or the tile's first element, rows residualStride apart) and applies its activation before storing.
typealias FinishingKernel = (_ depth: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ bStride: Int,
                             _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ accumulate: Bool, _ bias: UnsafePointer<Float>,
                             _ residual: UnsafePointer<Float>?, _ residualStride: Int) -> Void

/// A convolution's output pass, for packedGemm to apply to the final values: C[r, j] = activation((C[r, j] +
/// bias[r]) + residual[r, j]) (fusedPass's operations, Elementwise.swift). bias is indexed by the absolute row of
/// A (rows.lowerBound first), residual (optional) points at the element (rows.lowerBound, 0) like c, its rows
/// residualStride floats apart.
struct GemmEpilogue {
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let residualStride: Int
    let activation: Activation

    /// The pass from memory, for the values no finishing tile stored: `count` values of row `row` (absolute) at
    /// column `column`, read from `source`, written to `destination`.
    @inline(__always)
    func finish(row: Int, firstRow: Int, column: Int, from source: UnsafePointer<Float>,
                into destination: UnsafeMutablePointer<Float>, count: Int) {
        fusedPass(from: source, bias: bias[row], residual: residual(row: row, firstRow: firstRow, column: column),
                  into: destination, count: count, activation: activation)
    }

    /// The pass from memory over a whole C of rows 0 ..< rows (`count` values each, rows ldc floats apart, in place), for
    /// a caller whose packedGemm had no finishing tiles (it returned false).
    func finish(rows: Int, of c: UnsafeMutablePointer<Float>, ldc: Int, count: Int) {
        for row in 0..<rows {
            finish(row: row, firstRow: 0, column: 0, from: c + row * ldc, into: c + row * ldc, count: count)
        }
    }

    /// The residual's element for row `row` (absolute) at column `column`, nil without a residual.
    @inline(__always)
    func residual(row: Int, firstRow: Int, column: Int) -> UnsafePointer<Float>? {
        residual.map { $0 + (row - firstRow) * residualStride + column }
    }
}

/// Cache-block sizes (AVX2 / AVX-512 machines with ≥ 32 KiB L1 and ≥ 512 KiB L2). The depth blocks are the
/// same for every kernel, so every kernel sums in the same order.
enum GemmBlocking {
    static let maximumDepthBlock = 256
    static let rowBlock = 144                // rows of A per block: 144 · 256 floats = 144 KiB in L2 (24 or 12 panels)
    static let columnBlock = 2048
    /// Depth blocks of at most this many k walk the tiles row panel by row panel (see packedGemm; 256, every
    /// block, measured no better than 128 on ResNet-50 and GoogLeNet, and its medians worse).
    static let rowOrderDepth = 128
    /// Calls with at most this many rows of A (24 AVX-512 panels) read B in place (GemmKernel.readsInPlace): packing
    /// copies all of B once per call and pays only if many row panels then read the copy. Per layer, one thread, AMD
    /// Zen 4, in place against packed: 1x1 layers with 24-192 output channels 0.75-0.96 of the time (Lite0's
    /// projections: 672 -> 112 at 14x14 0.95, 1152 -> 192 at 7x7 0.96, 240 -> 40 at 28x28 0.89, 144 -> 24 at 56x56
    /// 0.81, at 128x128 0.75; ResNet-50's 256 -> 64 at 56x56 0.91), 256-2048 channels 0.98-1.01; but a 2048^2 GEMM
    /// (171 row panels, rows 8 KiB apart) took 1.07-1.18x as long in place.
    static let inPlaceRows = 288

    /// K split into nearly equal blocks of at most maximumDepthBlock, each a multiple of 8 but the last.
    static func depthBlocks(_ depth: Int) -> [Range<Int>] {
        let count = max(1, (depth + maximumDepthBlock - 1) / maximumDepthBlock)
        let size = ((depth + count - 1) / count + 7) / 8 * 8
        return stride(from: 0, to: max(depth, 1), by: size).map { $0..<min(depth, $0 + size) }
    }

    /// Floats of workspace one `packedGemm` call with `columns` columns needs (either kernel).
    static func workspaceCount(columns: Int) -> Int {
        let widest = GemmKernel.avx512
        let panels = (min(columns, columnBlock) + widest.panelColumns - 1) / widest.panelColumns
        return maximumDepthBlock * panels * widest.panelColumns + widest.panelRows * widest.panelColumns + alignmentSlack
    }

    /// How far ahead (floats) the AVX-512 tiles ask for the packed weights they will read: 32 k of a 12-row panel,
    /// past its end into the next panel, which the loops read next. A layer's weights come from L3 (a pass's
    /// weights do not stay in L2), and the hardware prefetcher did not keep up with the one stream of 48 bytes per
    /// k: per layer, one thread, this and no prefetch alternating pass by pass in one process, the layers with
    /// large weights ran 10-12% faster (ResNet-50's 2048 -> 512, 1024 -> 2048 and 3x3 512 -> 512 at 7x7, Lite0's
    /// 1152 -> 320), those with few (64 -> 256 at 56x56) as before; all convolutions together 3-5% (16 k ahead did
    /// about as well, 8 k less).
    static let weightPrefetchDistance = 384

    /// Floats of slack in a workspace so that the packed panels can start on a 64-byte boundary (a cache line:
    /// otherwise every 16-lane load of B straddles two lines).
    static let alignmentSlack = 16

    /// The first 64-byte boundary at or after `pointer`.
    @inline(__always)
    static func cacheLineAligned<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        UnsafeMutablePointer(bitPattern: (Int(bitPattern: pointer) + 63) & ~63)!
    }
}

/// A row-major M x K matrix rearranged for `packedGemm` with one kernel: for each depth block (pc ..< pc + kc),
/// the ⌈M / mr⌉ panels of mr rows, each kc x mr (k-major), rows past M zero. Block pc starts at pc · mr · panels.
public struct PackedMatrix: Sendable {
    public let rows: Int
    public let depth: Int
    public let kernel: GemmKernel
    let depthBlocks: [Range<Int>]
    let values: [Float]

    var panelCount: Int { (rows + kernel.panelRows - 1) / kernel.panelRows }

    /// Packs A (rows x depth, leading dimension lda).
    init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, lda: Int, kernel: GemmKernel = .native) {
        let panelRows = kernel.panelRows
        let panels = (rows + panelRows - 1) / panelRows
        let blocks = GemmBlocking.depthBlocks(depth)
        // Slack after the last panel: a column tile loads a whole vector (8 or 16 lanes) for a panel's 6 or 12 rows.
        var values = [Float](repeating: 0, count: panels * panelRows * depth + 16)
        values.withUnsafeMutableBufferPointer { buffer in
            var destination = buffer.baseAddress!
            for block in blocks {
                for panel in 0..<panels {
                    for k in block {
                        for r in 0..<panelRows {
                            let row = panel * panelRows + r
                            if row < rows { destination[r] = a[row * lda + k] }
                        }
                        destination += panelRows
                    }
                }
            }
        }
        self.rows = rows
        self.depth = depth
        self.kernel = kernel
        self.depthBlocks = blocks
        self.values = values
    }

    init(_ a: [Float], rows: Int, depth: Int, kernel: GemmKernel = .native) {
        precondition(a.count >= rows * depth, "PackedMatrix: \(a.count) values for \(rows) x \(depth)")
        self = a.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, rows: rows, depth: depth, lda: depth, kernel: kernel) }
    }
}

/// C[rows x n] = A[rows, 0..<K] · B[K x n] (+ C when accumulate); `rows` must start on a panel (a multiple of
/// a.kernel.panelRows). c points at C's element (rows.lowerBound, 0); workspace holds
/// GemmBlocking.workspaceCount(columns: n) floats.
/// With an epilogue, the last depth block also applies it to every value it stores (finishing tiles for whole
/// tiles and column tiles, fusedPass from memory for edge tiles) and the call returns true; it returns false when the
/// kernel has no finishing tiles (AVX2) or there is no epilogue, and the caller applies it itself.
@discardableResult
func packedGemm(_ a: PackedMatrix, rows: Range<Int>, columns n: Int, b: UnsafePointer<Float>, ldb: Int,
                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: UnsafeMutablePointer<Float>,
                epilogue: GemmEpilogue? = nil) -> Bool {
    let kernel = a.kernel
    let panelRows = kernel.panelRows, panelColumns = kernel.panelColumns, narrowColumns = kernel.narrowColumns
    precondition(rows.lowerBound % panelRows == 0 && rows.upperBound <= a.rows, "packedGemm: rows \(rows) of \(a.rows)")
    let finishingTiles = epilogue.flatMap { kernel.finishingTiles($0.activation) }
    let epilogue = finishingTiles == nil ? nil : epilogue
    guard !rows.isEmpty, n > 0 else { return epilogue != nil }
    let fullTile = kernel.fullTile, narrowTile = kernel.narrowTile
    let panels = a.panelCount, rowBlockPanels = GemmBlocking.rowBlock / panelRows
    let firstPanel = rows.lowerBound / panelRows, endPanel = (rows.upperBound + panelRows - 1) / panelRows
    let workspace = GemmBlocking.cacheLineAligned(workspace)
    let tile = workspace + GemmBlocking.workspaceCount(columns: n) - GemmBlocking.alignmentSlack - panelRows * panelColumns
    a.values.withUnsafeBufferPointer { packedBuffer in
        let packed = packedBuffer.baseAddress!
        var jc = 0
        while jc < n {
            let nc = min(GemmBlocking.columnBlock, n - jc)
            let columnPanels = kernel.panels(columns: nc)
            let inPlace = kernel.readsInPlace(rows: rows.count, panels: columnPanels)
            for (index, block) in a.depthBlocks.enumerated() {
                let kc = block.count
                let add = accumulate || index > 0
                // The epilogue on the values this block stores for good.
                let finishing = index == a.depthBlocks.count - 1 ? epilogue : nil
                let bBlock = b + block.lowerBound * ldb + jc
                if !inPlace { packColumns(bBlock, ldb: ldb, depth: kc, panels: columnPanels, kernel: kernel, into: workspace) }
                let aBlock = packed + block.lowerBound * panels * panelRows
                // One tile of a full or narrow column panel; every row panel of ic ..< icEnd against a column-tile panel.
                @inline(__always) func runTile(_ panel: Int, _ columnPanel: ColumnPanel) {
                    let jr = columnPanel.start, width = columnPanel.width
                    let narrow = columnPanel.shape == .narrow
                    let microKernel = narrow ? narrowTile : fullTile
                    let tileColumns = narrow ? narrowColumns : panelColumns
                    let bPanel = inPlace ? bBlock + jr : UnsafePointer(workspace + jr * kc), bStride = inPlace ? ldb : tileColumns
                    let aPanel = aBlock + panel * kc * panelRows
                    let firstRow = panel * panelRows
                    let height = min(panelRows, rows.upperBound - firstRow)
                    let cTile = c + (firstRow - rows.lowerBound) * ldc + jc + jr
                    if height == panelRows && width == tileColumns {
                        if let finishing, let finishingTiles {
                            (narrow ? finishingTiles.narrow : finishingTiles.full)(
                                kc, aPanel, bPanel, bStride, cTile, ldc, add, finishing.bias + firstRow,
                                finishing.residual(row: firstRow, firstRow: rows.lowerBound, column: jc + jr), finishing.residualStride)
                        } else {
                            microKernel(kc, aPanel, bPanel, bStride, cTile, ldc, add)
                        }
                    } else if width == tileColumns,
                              let rowTile = kernel.rowTile(rows: height, narrow: narrow, activation: finishing?.activation ?? .identity) {
                        rowTile(kc, aPanel, bPanel, bStride, cTile, ldc, height, add, finishing.map { $0.bias + firstRow },
                                finishing?.residual(row: firstRow, firstRow: rows.lowerBound, column: jc + jr),
                                finishing?.residualStride ?? 0)
                    } else {
                        microKernel(kc, aPanel, bPanel, bStride, tile, tileColumns, false)
                        for r in 0..<height {
                            let source = tile + r * tileColumns, destination = cTile + r * ldc
                            if add {
                                for j in 0..<width { destination[j] += source[j] }
                            }
                            if let finishing {   // the edge tile's valid part, from the scratch tile or C
                                finishing.finish(row: firstRow + r, firstRow: rows.lowerBound, column: jc + jr,
                                                 from: add ? UnsafePointer(destination) : UnsafePointer(source), into: destination, count: width)
                            } else if !add {
                                copyFloats(from: source, to: destination, count: width)
                            }
                        }
                    }
                }
                @inline(__always) func runColumnTiles(_ columnPanel: ColumnPanel, _ ic: Int, _ icEnd: Int) {
                    let jr = columnPanel.start, width = columnPanel.width
                    let bPanel = inPlace ? bBlock + jr : UnsafePointer(workspace + jr * kc), bStride = inPlace ? ldb : narrowColumns
                    // Several row panels at once: independent accumulators for each.
                    let group = kernel.tailPanels(columns: width)
                    let groupTile = kernel.tailTile(columns: width, panels: group)
                    let singleTile = kernel.tailTile(columns: width, panels: 1)
                    var panel = ic
                    while panel < icEnd {
                        let count = icEnd - panel >= group ? group : 1
                        let firstRow = panel * panelRows, height = min(count * panelRows, rows.upperBound - firstRow)
                        let cTile = c + (firstRow - rows.lowerBound) * ldc + jc + jr
                        (count == group ? groupTile : singleTile)(
                            kc, aBlock + panel * kc * panelRows, kc * panelRows, bPanel, bStride, cTile, ldc, height, add,
                            finishing.map {
                                GemmEpilogue(bias: $0.bias + firstRow, residual: $0.residual(row: firstRow, firstRow: rows.lowerBound, column: jc + jr),
                                             residualStride: $0.residualStride, activation: $0.activation)
                            })
                        panel += count
                    }
                }
                var ic = firstPanel
                while ic < endPanel {
                    let icEnd = min(endPanel, ic + rowBlockPanels)
                    if kc <= GemmBlocking.rowOrderDepth {
                        // Few multiply-adds per stored value: each row panel along its rows, so that C's (and the
                        // residual's) lines are written and read as a dozen sequential streams, not a few rows of
                        // a 144-row column at a time.
                        for panel in ic..<icEnd {
                            for columnPanel in columnPanels where columnPanel.shape != .columnTile { runTile(panel, columnPanel) }
                        }
                        for columnPanel in columnPanels where columnPanel.shape == .columnTile { runColumnTiles(columnPanel, ic, icEnd) }
                    } else {
                        for columnPanel in columnPanels {
                            if columnPanel.shape == .columnTile {
                                runColumnTiles(columnPanel, ic, icEnd)
                            } else {
                                for panel in ic..<icEnd { runTile(panel, columnPanel) }
                            }
                        }
                    }
                    ic = icEnd
                }
            }
            jc += nc
        }
    }
    return epilogue != nil
}

/// B[depth x columns] (leading dimension ldb) → the panels `kernel.panels(columns:)` plans: panel p, from
/// column j, is packed at j · depth as depth rows of nr (full) or nr/2 (narrow, column tile) floats, zero past
/// its last column.
@inline(__always)
func packColumns(_ b: UnsafePointer<Float>, ldb: Int, depth: Int, panels: [ColumnPanel], kernel: GemmKernel,
                 into destination: UnsafeMutablePointer<Float>) {
    typealias Lanes = SIMD8<Float>
    let panelColumns = kernel.panelColumns
    for panel in panels {
        var target = destination + panel.start * depth
        let j = panel.start, width = panel.width
        if width == panelColumns {
            // Two vectors per row: 32 columns of AVX-512's tile, 16 of AVX2's (the rows' loop over a run-time count of
            // 8-lane vectors compiled to an inner loop per row: paired, 0.98-1.00 of the pass on ResNet-50, Lite0,
            // Inception-v3 and GoogLeNet at one and two threads with this one).
            if panelColumns == 2 * SIMD16<Float>.scalarCount {
                packPanel(SIMD16<Float>.self, from: b + j, ldb: ldb, depth: depth, into: target)
            } else {
                precondition(panelColumns == 2 * SIMD8<Float>.scalarCount, "packColumns: \(panelColumns)-column panels")
                packPanel(SIMD8<Float>.self, from: b + j, ldb: ldb, depth: depth, into: target)
            }
        } else {
            let stride = panel.shape == .full ? panelColumns : kernel.narrowColumns
            for k in 0..<depth {   // eight columns at a time, zeros past `width` (PartialVectors.swift)
                let source = b + k * ldb + j
                var q = 0
                while q < stride {
                    let chunk: Lanes = loadPrefix(source + q, count: max(0, min(Lanes.scalarCount, width - q)))
                    UnsafeMutableRawPointer(target + q).storeBytes(of: chunk, as: Lanes.self)
                    q += Lanes.scalarCount
                }
                target += stride
            }
        }
    }
}

/// `depth` rows of two vectors (a full panel: 32 columns of AVX-512's tile in SIMD16, 16 of AVX2's in SIMD8) from
/// rows ldb floats apart to consecutive ones, one fixed body per row.
@inline(__always)
func packPanel<Lanes: SIMD>(_: Lanes.Type, from b: UnsafePointer<Float>, ldb: Int, depth: Int,
                            into destination: UnsafeMutablePointer<Float>) where Lanes.Scalar == Float {
    let bytes = MemoryLayout<Lanes>.size
    var source = UnsafeRawPointer(b), target = UnsafeMutableRawPointer(destination)
    for _ in 0..<depth {
        let low = source.loadUnaligned(as: Lanes.self), high = source.loadUnaligned(fromByteOffset: bytes, as: Lanes.self)
        target.storeBytes(of: low, as: Lanes.self)
        target.storeBytes(of: high, toByteOffset: bytes, as: Lanes.self)
        source += ldb * MemoryLayout<Float>.stride
        target += 2 * bytes
    }
}

/// The micro-kernel, written once: C[Rows x Vectors·lanes] (+)= A panel (depth x Rows) · B panel
/// (depth x Vectors·lanes), with Rows · Vectors accumulators. Per k: Vectors loads of B, Rows broadcasts of A,
/// Rows · Vectors multiply-adds (vfmadd231ps where the target has FMA, see Package.swift; each lane is one
/// multiply-add per k, so the sum for an element is the same whatever the vector width or tile shape).
/// Rows and Vectors are generic values so that the loops over them have constant trip counts and unroll into
/// straight-line code with every accumulator in a register (Package.swift raises LLVM's unroll threshold for
/// the numeric targets). The loop over k is not unrolled: unrolled by four, LLVM scheduled the four steps'
/// broadcasts and loads together and the 12 x 32 tile ran out of zmm registers (24 accumulators): it kept an
/// accumulator and several broadcasts on the stack, a load, multiply-add and store per k (66-95 stack accesses in
/// each finishing tile, 20 in the plain one; `scripts/check_spills.sh` counts them, RegisterSpillTests runs it).
/// Rolled, none; paired (both loops alternating pass by pass in one process, batch 1, Emerald Rapids), the pass
/// took 0.92-0.97 of the time on ResNet-50, EfficientNet-Lite0, Inception-v3 and GoogLeNet at one and two threads.
enum GemmTile<let Rows: Int, let Vectors: Int, Lanes: SIMD> where Lanes.Scalar == Float {
    @inline(never)
    static func multiply(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let lanes = Lanes.scalarCount
        let sums = products(depth: depth, a: a, b: b, bStride: bStride, c: c, ldc: ldc)
        for r in 0..<Rows {
            let row = c + r * ldc
            for v in 0..<Vectors {
                var value = sums[r][v]
                if accumulate { value += UnsafeRawPointer(row + v * lanes).loadUnaligned(as: Lanes.self) }
                UnsafeMutableRawPointer(row + v * lanes).storeBytes(of: value, as: Lanes.self)
            }
        }
    }

    /// The tile's sums over the panel's depth, in registers; C's lines (c, ldc) are prefetched for the store, and
    /// `later`'s tile (rows laterStride floats apart) for reading 32 values of k before the end. Without `later`
    /// the loop is the plain kernel's. A panel holds `aStride` floats per k (Rows, or mr for a row tile reading the
    /// first Rows of a wider panel), B `bStride` floats per k (a packed panel's width, or B's own rows read in place).
    @inline(__always)
    static func products(depth: Int, a: UnsafePointer<Float>, aStride: Int = Rows, b: UnsafePointer<Float>, bStride: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, later: UnsafePointer<Float>? = nil,
                         laterStride: Int = 0) -> InlineArray<Rows, InlineArray<Vectors, Lanes>> {
        let lanes = Lanes.scalarCount
        // C's lines asked for now, to arrive during the multiply-adds: a tile of a large C (the 4096^2 benchmark:
        // rows 16 KiB apart, all in one set of the first-level cache) is otherwise fetched from L3 at the stores.
        for r in 0..<Rows { for v in 0..<Vectors { carcinoma_prefetch_for_write(c + r * ldc + v * lanes) } }
        var sums = InlineArray<Rows, InlineArray<Vectors, Lanes>>(repeating: InlineArray(repeating: Lanes()))
        var pa = a, pb = b
        // One k: Vectors loads of B, then for each row a broadcast of A and Vectors multiply-adds.
        @inline(__always) func rankOneUpdate() {
            var column = InlineArray<Vectors, Lanes>(repeating: Lanes())
            for v in 0..<Vectors { column[v] = UnsafeRawPointer(pb + v * lanes).loadUnaligned(as: Lanes.self) }
            carcinoma_prefetch_for_read(pa + GemmBlocking.weightPrefetchDistance)
            for r in 0..<Rows {
                let broadcast = Lanes(repeating: pa[r])
                for v in 0..<Vectors { sums[r][v] = multiplyAdd(sums[r][v], broadcast, column[v]) }
            }
            pa += aStride; pb += bStride
        }
        guard let later else {
            for _ in 0..<depth { rankOneUpdate() }
            return sums
        }
        // ~400 cycles before the stores: prefetched at the start, the tile's stream of B (128 bytes per k) could
        // evict the lines from L1 first, and they would compete with C's for the fill buffers. A row that does not
        // start on a cache line touches one line more, which its last value's prefetch asks for.
        let tail = min(depth, 32)
        for _ in 0..<(depth - tail) { rankOneUpdate() }
        for r in 0..<Rows {
            let row = later + r * laterStride
            for v in 0..<Vectors { carcinoma_prefetch_for_read(row + v * lanes) }
            carcinoma_prefetch_for_read(row + Vectors * lanes - 1)
        }
        for _ in 0..<tail { rankOneUpdate() }
        return sums
    }
}

/// GemmTile on 16-lane vectors that also finishes the values before its single store, for the last depth
/// block of a convolution (GemmEpilogue): C = Activation((sums (+ C) + bias[r]) + residual), the operations
/// of fusedPass (Elementwise.swift) in its order, so the bits are those of the separate pass it replaces.
/// That pass reloaded every output value once more after the GEMM had stored it (4.6% of a one-thread
/// ResNet-50 at 512x512, ~4% of EfficientNet-Lite0, perf); here the values are still in the accumulators.
/// Finishing each tile from memory right after its store was slower still (its just-written lines stall
/// the reloads). The activation is a type so that each one is its own specialisation, its arithmetic
/// inlined into the store loop and never a switch; bias points at the tile's first row, residual at its
/// first element (rows residualStride floats apart) or is nil.
enum FinishingTile<let Rows: Int, let Vectors: Int, A: LaneActivation> {
    @inline(never)
    static func multiply(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int, c: UnsafeMutablePointer<Float>,
                         ldc: Int, accumulate: Bool, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                         residualStride: Int) {
        let lanes = Vector.scalarCount
        // The residual's lines are asked for shortly before the stores (shim.h).
        let sums = GemmTile<Rows, Vectors, Vector>.products(depth: depth, a: a, b: b, bStride: bStride, c: c, ldc: ldc,
                                                             later: residual, laterStride: residualStride)
        // The residual test hoisted out of the stores: two unrolled store loops.
        if let residual {
            for r in 0..<Rows {
                let row = c + r * ldc, added = residual + r * residualStride, shift = Vector(repeating: bias[r])
                for v in 0..<Vectors {
                    var value = sums[r][v]
                    if accumulate { value += row.vector(at: v * lanes) }
                    row.store(A.apply((value + shift) + added.vector(at: v * lanes)), at: v * lanes)
                }
            }
        } else {
            for r in 0..<Rows {
                let row = c + r * ldc, shift = Vector(repeating: bias[r])
                for v in 0..<Vectors {
                    var value = sums[r][v]
                    if accumulate { value += row.vector(at: v * lanes) }
                    row.store(A.apply(value + shift), at: v * lanes)
                }
            }
        }
    }
}

/// The row tile, for a last row panel of fewer than mr rows (M not a multiple of 12: 64 output channels are five
/// panels and 4 rows): GemmTile's loop on the first `Rows` (4 or 8 ≥ rows) of the zero-padded 12-row panel, so
/// 64 channels cost 64 + 0 rows of multiply-adds, not 72, and the tile stores its `rows` rows straight into C
/// (finished as FinishingTile finishes them when `bias` is given), not through a scratch tile and a copy. Each
/// value gets the same multiply-add per k in the same order, C added and the epilogue applied as the full tile
/// does: the same bits.
enum GemmRowTile<let Rows: Int, let Vectors: Int, A: LaneActivation> {
    @inline(never)
    static func multiply(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int, c: UnsafeMutablePointer<Float>,
                         ldc: Int, rows: Int, accumulate: Bool, bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?,
                         residualStride: Int) {
        let lanes = Vector.scalarCount
        let sums = GemmTile<Rows, Vectors, Vector>.products(depth: depth, a: a, aStride: GemmKernel.avx512.panelRows, b: b,
                                                             bStride: bStride, c: c, ldc: ldc, later: residual, laterStride: residualStride)
        for r in 0..<Rows where r < rows {
            let row = c + r * ldc
            for v in 0..<Vectors {
                var value = sums[r][v]
                if accumulate { value += row.vector(at: v * lanes) }
                if let bias {
                    value = value + Vector(repeating: bias[r])
                    if let residual { value = value + (residual + r * residualStride).vector(at: v * lanes) }
                    value = A.apply(value)
                }
                row.store(value, at: v * lanes)
            }
        }
    }
}

/// The column tile, for a last panel of a few columns: C[Panels·Rows x Columns] (+)= Panels consecutive A
/// panels (depth x Rows each, `panelStride` floats apart) · B panel (depth x Columns, rows `bStride` floats
/// apart). The vectors run down a panel's Rows rows (Lanes ≥ Rows: the lanes past Rows load whatever follows
/// and are never stored), one accumulator per panel and column; per k, Panels loads of A, Columns broadcasts
/// of B and Panels · Columns multiply-adds. Each element gets the same multiply-add per k, in the same
/// order, as in GemmTile (the product a·b is commutative), so a column gives the same bits whichever tile
/// computes it. Only the first `rows` rows are stored, finished (GemmEpilogue's operations, in registers) with `finishing`.
enum GemmColumnTile<let Rows: Int, let Panels: Int, let Columns: Int, Lanes: DepthwiseLanes> {
    @inline(never)
    static func multiply(depth: Int, a: UnsafePointer<Float>, panelStride: Int, b: UnsafePointer<Float>, bStride: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, accumulate: Bool, finishing: GemmEpilogue?) {
        var sums = InlineArray<Panels, InlineArray<Columns, Lanes>>(repeating: InlineArray(repeating: Lanes()))
        var pa = a, pb = b
        @inline(__always) func rankOneUpdate() {
            for p in 0..<Panels {
                let column = UnsafeRawPointer(pa + p * panelStride).loadUnaligned(as: Lanes.self)
                for j in 0..<Columns { sums[p][j] = multiplyAdd(sums[p][j], column, Lanes(repeating: pb[j])) }
            }
            pa += Rows; pb += bStride
        }
        repeatUnrolledByFour(depth, rankOneUpdate)
        for p in 0..<Panels {
            let valid = max(0, min(Rows, rows - p * Rows)), first = c + p * Rows * ldc
            guard let finishing else {
                for r in 0..<valid {
                    let row = first + r * ldc
                    for j in 0..<Columns { row[j] = accumulate ? sums[p][j][r] + row[j] : sums[p][j][r] }
                }
                continue
            }
            // The epilogue in the accumulators, each lane a row: (sum (+ C) + bias) + residual, then the activation (the
            // order and the vector activation of fusedPass). Calling fusedPass on each row's few values cost ~1% of
            // EfficientNet-Lite0's pass, whose 7x7 and 14x14 planes end in a column tile.
            var bias = Lanes()
            for r in 0..<valid { bias[r] = finishing.bias[p * Rows + r] }
            for j in 0..<Columns {
                var value = sums[p][j]
                if accumulate {
                    var old = Lanes()
                    for r in 0..<valid { old[r] = first[r * ldc + j] }
                    value += old
                }
                value = value + bias
                if let residual = finishing.residual {
                    var added = Lanes()
                    for r in 0..<valid { added[r] = residual[(p * Rows + r) * finishing.residualStride + j] }
                    value = value + added
                }
                value = Lanes.activated(value, finishing.activation)
                for r in 0..<valid { first[r * ldc + j] = value[r] }
            }
        }
    }
}

/// C[6 x 16] (+)= A panel (depth x 6) · B panel (depth x 16) for AVX2: twelve 8-lane accumulators, one
/// broadcast of A and two loads of B per k, the same multiply-add per k and lane as GemmTile. Like GemmTile it asks
/// for C's lines at the start (a row of 16 values that does not start on a line touches two: its first and last
/// value's), so that they arrive during the multiply-adds: the AVX2 build (znver2), AMD Zen 4, 4096^2 on two threads
/// 156-191 -> 201-206 GFLOP/s (OpenBLAS's Haswell kernel 197-213), 2048^2 on one 98-106 -> 108-112 (BENCHMARKS.md,
/// session 22). GemmTile's prefetch of the packed weights is left out: in the loop it made LLVM spill two
/// accumulators with sixteen ymm registers (the pass halved).
@inline(never)
func avx2MicroKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias Lanes = SIMD8<Float>
    @inline(__always) func load(_ pointer: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self) }
    @inline(__always) func store(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self)
    }
    for r in 0..<6 { carcinoma_prefetch_for_write(c + r * ldc); carcinoma_prefetch_for_write(c + r * ldc + 15) }
    var c00 = Lanes(), c01 = Lanes(), c10 = Lanes(), c11 = Lanes(), c20 = Lanes(), c21 = Lanes()
    var c30 = Lanes(), c31 = Lanes(), c40 = Lanes(), c41 = Lanes(), c50 = Lanes(), c51 = Lanes()
    var pa = a, pb = b
    // One k: two vectors of B, six broadcasts of A, twelve multiply-adds.
    @inline(__always) func rankOneUpdate() {
        let b0 = load(pb), b1 = load(pb + 8)
        var s = Lanes(repeating: pa[0]); c00 = multiplyAdd(c00, s, b0); c01 = multiplyAdd(c01, s, b1)
        s = Lanes(repeating: pa[1]); c10 = multiplyAdd(c10, s, b0); c11 = multiplyAdd(c11, s, b1)
        s = Lanes(repeating: pa[2]); c20 = multiplyAdd(c20, s, b0); c21 = multiplyAdd(c21, s, b1)
        s = Lanes(repeating: pa[3]); c30 = multiplyAdd(c30, s, b0); c31 = multiplyAdd(c31, s, b1)
        s = Lanes(repeating: pa[4]); c40 = multiplyAdd(c40, s, b0); c41 = multiplyAdd(c41, s, b1)
        s = Lanes(repeating: pa[5]); c50 = multiplyAdd(c50, s, b0); c51 = multiplyAdd(c51, s, b1)
        pa += 6; pb += bStride
    }
    repeatUnrolledByFour(depth, rankOneUpdate)
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc
    if accumulate {
        c00 += load(c); c01 += load(c + 8); c10 += load(r1); c11 += load(r1 + 8)
        c20 += load(r2); c21 += load(r2 + 8); c30 += load(r3); c31 += load(r3 + 8)
        c40 += load(r4); c41 += load(r4 + 8); c50 += load(r5); c51 += load(r5 + 8)
    }
    store(c00, c); store(c01, c + 8); store(c10, r1); store(c11, r1 + 8)
    store(c20, r2); store(c21, r2 + 8); store(c30, r3); store(c31, r3 + 8)
    store(c40, r4); store(c41, r4 + 8); store(c50, r5); store(c51, r5 + 8)
}

/// C[6 x 8] (+)= A panel (depth x 6) · B panel (depth x 8): AVX2's kernel for a last panel of at most 8 columns,
/// with avx2MicroKernel's prefetches.
@inline(never)
func avx2NarrowKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, bStride: Int,
                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias Lanes = SIMD8<Float>
    @inline(__always) func load(_ pointer: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(pointer).loadUnaligned(as: Lanes.self) }
    @inline(__always) func store(_ value: Lanes, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Lanes.self)
    }
    for r in 0..<6 { carcinoma_prefetch_for_write(c + r * ldc); carcinoma_prefetch_for_write(c + r * ldc + 7) }
    var c0 = Lanes(), c1 = Lanes(), c2 = Lanes(), c3 = Lanes(), c4 = Lanes(), c5 = Lanes()
    var pa = a, pb = b
    for _ in 0..<depth {
        let b0 = load(pb)
        c0 = multiplyAdd(c0, Lanes(repeating: pa[0]), b0); c1 = multiplyAdd(c1, Lanes(repeating: pa[1]), b0)
        c2 = multiplyAdd(c2, Lanes(repeating: pa[2]), b0); c3 = multiplyAdd(c3, Lanes(repeating: pa[3]), b0)
        c4 = multiplyAdd(c4, Lanes(repeating: pa[4]), b0); c5 = multiplyAdd(c5, Lanes(repeating: pa[5]), b0)
        pa += 6; pb += bStride
    }
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc
    if accumulate {
        c0 += load(c); c1 += load(r1); c2 += load(r2); c3 += load(r3); c4 += load(r4); c5 += load(r5)
    }
    store(c0, c); store(c1, r1); store(c2, r2); store(c3, r3); store(c4, r4); store(c5, r5)
}

/// body() `count` times, unrolled by four: less loop overhead between a micro-kernel's multiply-adds.
@inline(__always)
func repeatUnrolledByFour(_ count: Int, _ body: () -> Void) {
    var remaining = count
    while remaining >= 4 {
        body(); body(); body(); body()
        remaining -= 4
    }
    while remaining > 0 {
        body()
        remaining -= 1
    }
}

/// sum + x · y per lane: one fused multiply-add where the target has FMA (Package.swift's CARCINOMA_FMA),
/// a multiply and an add otherwise (rather than a call to fmaf per lane).
@inline(__always)
func multiplyAdd<Lanes: SIMD>(_ sum: Lanes, _ x: Lanes, _ y: Lanes) -> Lanes where Lanes.Scalar == Float {
    #if CARCINOMA_FMA
    return sum.addingProduct(x, y)
    #else
    return sum + x * y
    #endif
}
