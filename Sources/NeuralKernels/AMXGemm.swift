// The opt-in reduced-precision path: convolutions as GEMMs on bfloat16 operands (Sources/CAMX), on Intel AMX's
// tiles or with AVX512-BF16 (`BFloat16Unit`).
//
// `Precision.float32` is the engine everywhere else in this module and the default. On a CPU with AMX
// (amx_tile, amx_bf16: Intel Xeon 4th generation and later), ungrouped convolutions may instead multiply
// bfloat16 operands with float32 sums (TDPBF16PS, 16 x 16 x 32 per instruction, about ten times the
// float32 FMA rate of the same core); on one with AVX512-BF16 but no AMX (AMD Zen 4, Intel Cooper Lake) the
// same packed operands go through VDPBF16PS (32 multiply-adds per instruction, twice an FMA's; on Zen 4, two threads,
// bf16 ran at 1.2-1.35x float32's speed on ResNet-50 and Inception-v3, whose float32 paths keep Winograd, 1.0-1.15x
// on V2-S and Lite0 at 512 or batch 8, 0.95-1.1x on GoogLeNet and Lite0 224/1; bf16x3 at about half: BENCHMARKS.md):
//   .bfloat16    weights and inputs rounded to bfloat16 (8 significant bits): the fastest; an embedding
//                differs from float32's by a cosine of about 0.9997 (Lite0 on OxML crops).
//   .bfloat16x3  each value split into hi = bf16(x) and lo = bf16(x - hi), and a·b summed as
//                hi·hi + lo(a)·hi(b) + hi(a)·lo(b) (the "bf16x3" split of oneDNN / Henry, Tang & Heinecke,
//                "Leveraging the bfloat16 Artificial Intelligence Datatype For Higher-Precision Computations",
//                ARITH 2019): 16 significant bits, three times the tile work of .bfloat16.
// Depthwise convolutions, pooling, elementwise passes and fully connected layers stay float32. Winograd is
// not used (its transforms would add their rounding to bfloat16's).
//
// As on the float32 path, the result does not depend on the thread count or the batch: each element is
// summed over the same chunks of the expanded depth in the same order, whichever worker computes its tile.

import CAMX
import Foundation

/// The arithmetic of the convolutions' GEMMs.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case float32 = "fp32"
    case bfloat16 = "bf16"
    case bfloat16x3 = "bf16x3"

    /// bfloat16 products per float32 product (1 or 3); 0 for float32.
    var terms: Int32 {
        switch self {
        case .float32: return 0
        case .bfloat16: return 1
        case .bfloat16x3: return 3
        }
    }

    /// How a cache name and a feature manifest record it: nil for float32 (as before the option existed), else the raw value.
    public var recordedName: String? { self == .float32 ? nil : rawValue }

    /// Whether this machine runs it: float32 everywhere; the bfloat16 kinds on a CPU with AMX tiles whose OS
    /// grants the tile state to this process (Linux ≥ 5.16), or with AVX512-BF16 (`BFloat16Unit`).
    public var isSupported: Bool { self == .float32 || BFloat16Unit.native != nil }

    /// Why this machine cannot run it, for an error message (nil when it can).
    public var unsupportedReason: String? {
        isSupported ? nil : "--precision \(rawValue) cannot run here: \(BFloat16Unit.unavailableReason)"
    }
}

/// What multiplies the packed bfloat16 operands: Intel AMX's tiles (TDPBF16PS, a 16 x 16 x 32 product per
/// instruction), or AVX512-BF16's VDPBF16PS on zmm registers (AMD Zen 4 and later, Intel Cooper Lake and later: 32
/// multiply-adds per instruction, twice an FMA's). Both read the same packed operands and sum in float32; the order of
/// the sums within a pair of products is the hardware's, so the two units may differ in the last bits.
public enum BFloat16Unit: String, Sendable, CaseIterable {
    case amx, avx512

    /// The machine's unit: AMX where the CPU has it and the OS grants it, else AVX512-BF16 where the CPU has it.
    public static let native: BFloat16Unit? = AMX.isAvailable ? .amx : avx512Available ? .avx512 : nil

    /// Every unit this machine runs (the tests check each one).
    public static var supported: [BFloat16Unit] { (AMX.isAvailable ? [.amx] : []) + (avx512Available ? [.avx512] : []) }

    static let avx512Available: Bool = {
        let cpu = CPUFeatures.current
        return cpu.hasAVX512 && cpu.hasAVX512BF16
    }()

    static var unavailableReason: String {
        let cpu = CPUFeatures.current
        return "it needs AVX512-BF16 (AMD Zen 4 and later, Intel Cooper Lake, Sapphire Rapids and later) or Intel AMX; this CPU "
            + "(\(cpu.modelName)) has \(cpu.vectorUnit) without them"
    }
}

/// AMX on this machine: the build, the CPU's flags, then Linux's permission for the tile state, asked once.
enum AMX {
    static var isAvailable: Bool { unavailableReason == nil }

    static let unavailableReason: String? = {
        let cpu = CPUFeatures.current
        guard cpu.hasAMX, cpu.flags.contains("amx_bf16"), cpu.hasAVX512, cpu.hasAVX512BF16 else {
            return "it needs Intel AMX (amx_tile, amx_bf16) and AVX512-BF16; this CPU (\(cpu.modelName)) has \(cpu.vectorUnit) without them"
        }
        #if CARCINOMA_AVX512
        guard carcinoma_amx_request_permission() == 0 else {
            return "the operating system did not grant this process the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM; Linux ≥ 5.16 is needed)"
        }
        return nil
        #else
        return "this build does not target AVX-512 (CARCINOMA_TARGET_CPU); rebuild for this machine"
        #endif
    }()

    /// Columns per panel and rows per panel of the packed operands; expanded depth per chunk.
    static let panel = 32
    /// Tile rows are 64 bytes: on 64-byte boundaries each is one cache line, not two (measured: ResNet-50 at 224,
    /// one thread, 25.7 → 31.3 images/s with bf16). An array's storage (which never moves while it is not
    /// mutated) is over-allocated by this many values and used from its first boundary (GemmBlocking.cacheLineAligned).
    static let alignmentSlack = 32

    /// Panels of `AMX.panel` needed for `count` rows or columns.
    static func panels(_ count: Int) -> Int { (count + panel - 1) / panel }

    /// Chunks of the expanded depth summed in the tiles before C goes back to memory (512 values: a 32 KiB
    /// slice of an A panel and of a B panel; 12 to 24 measured the same on ResNet-50, 8 and fewer slower).
    static let chunksPerBlock = 16
}

/// A row-major M x K matrix (a convolution's weights) packed once for the AMX GEMM: 32-row panels of
/// bfloat16 chunks (see camx.h), with `terms` bfloat16 values per float.
public struct AMXPackedMatrix: Sendable {
    public let rows: Int
    public let depth: Int
    let terms: Int32
    let chunks: Int
    let values: [UInt16]

    var panelCount: Int { AMX.panels(rows) }

    init(_ a: [Float], rows: Int, depth: Int, precision: Precision) {
        precondition(precision != .float32 && a.count >= rows * depth, "AMXPackedMatrix: \(a.count) values for \(rows) x \(depth)")
        let terms = precision.terms
        let chunks = (Int(terms) * depth + 31) / 32
        let panels = AMX.panels(rows)
        var values = [UInt16](repeating: 0, count: panels * chunks * 1024 + AMX.alignmentSlack)
        a.withUnsafeBufferPointer { source in
            values.withUnsafeMutableBufferPointer {
                carcinoma_amx_pack_a(source.baseAddress!, depth, rows, depth, terms, GemmBlocking.cacheLineAligned($0.baseAddress!))
            }
        }
        self.rows = rows
        self.depth = depth
        self.terms = terms
        self.chunks = chunks
        self.values = values
    }
}

/// Buffers of one worker of the AMX path for up to `columns` columns, in the calling thread's scratch memory
/// (valid until that thread asks for scratch again).
struct AMXWorkspace {
    let columns: Int
    let packedB: UnsafeMutablePointer<UInt16>
    /// C for every row panel x every column panel, leading dimension `paddedColumns`.
    let product: UnsafeMutablePointer<Float>
    /// Two rows of im2col columns.
    let rowPair: UnsafeMutablePointer<Float>
    var paddedColumns: Int { AMX.panels(columns) * AMX.panel }

    init(for a: AMXPackedMatrix, columns: Int) {
        self.columns = columns
        let panels = AMX.panels(columns)
        let packedBytes = panels * a.chunks * 2048, productBytes = a.panelCount * AMX.panel * panels * AMX.panel * 4
        let base = ThreadScratch.bytes(packedBytes + productBytes + 2 * panels * AMX.panel * 4)
        packedB = base.assumingMemoryBound(to: UInt16.self)
        product = (base + packedBytes).assumingMemoryBound(to: Float.self)
        rowPair = (base + packedBytes + productBytes).assumingMemoryBound(to: Float.self)
    }
}

/// Scratch memory per thread, kept between calls and grown when a call needs more: a pass makes dozens of
/// parallel regions whose buffers of a few MiB each were mapped and unmapped by malloc every time, and the two
/// workers then queued on the process's memory-map lock (bf16 on ResNet-50 at 224: 0.032 CPU s per image on one
/// thread, 0.057 on two). Freed when the thread exits.
enum ThreadScratch {
    final class Block {
        var base: UnsafeMutableRawPointer?
        var capacity = 0
        deinit { base?.deallocate() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { block in
            if let block { Unmanaged<Block>.fromOpaque(block).release() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// At least `count` bytes on a 64-byte boundary, owned by the calling thread until its next call.
    static func bytes(_ count: Int) -> UnsafeMutableRawPointer {
        let block: Block
        if let existing = pthread_getspecific(key) {
            block = Unmanaged<Block>.fromOpaque(existing).takeUnretainedValue()
        } else {
            block = Block()
            pthread_setspecific(key, Unmanaged.passRetained(block).toOpaque())
        }
        if block.capacity < count {
            block.base?.deallocate()
            block.capacity = max(count, 2 * block.capacity)
            block.base = UnsafeMutableRawPointer.allocate(byteCount: block.capacity, alignment: 64)
        }
        return block.base!
    }
}

/// Packs B[K x columns] for amxMultiply, two rows at a time: `rows(k)` gives rows k and k + 1 (nil past the last).
@inline(__always)
func amxPackColumns(_ a: AMXPackedMatrix, columns: Int, workspace: AMXWorkspace,
                    rows: (Int) -> (UnsafePointer<Float>, UnsafePointer<Float>?)) {
    precondition(columns <= workspace.columns, "amxPackColumns: \(columns) columns for \(workspace.columns)")
    carcinoma_amx_clear_last_chunks(columns, a.chunks, workspace.packedB)
    var k = 0
    while k < a.depth {
        let (first, second) = rows(k)
        carcinoma_amx_pack_b_rows(first, second, k, columns, a.terms, a.chunks, workspace.packedB)
        k += 2
    }
}

/// product[rows of panels p0..<p1, 0..<columns] = A[p0·32 ..< p1·32, 0..<K] · B, B packed in the workspace by
/// amxPackColumns; the product has leading dimension workspace.paddedColumns, row 0 = row p0·32. Rows past A's
/// and columns past `columns` hold values to ignore.
func amxMultiply(_ a: AMXPackedMatrix, panels: Range<Int>, columns: Int, workspace: AMXWorkspace, unit: BFloat16Unit) {
    precondition(columns <= workspace.columns && panels.upperBound <= a.panelCount, "amxMultiply: \(columns) columns, panels \(panels)")
    guard columns > 0, !panels.isEmpty else { return }
    let columnPanels = AMX.panels(columns)
    a.values.withUnsafeBufferPointer { packed in
        let first = GemmBlocking.cacheLineAligned(UnsafeMutablePointer(mutating: packed.baseAddress!)) + panels.lowerBound * a.chunks * 1024
        var chunk = 0
        while chunk < a.chunks {
            let count = min(AMX.chunksPerBlock, a.chunks - chunk)
            switch unit {
            case .amx:
                carcinoma_amx_gemm(first, panels.count, workspace.packedB, columnPanels, a.chunks, chunk, count,
                                   workspace.product, workspace.paddedColumns, chunk > 0 ? 1 : 0)
            case .avx512:
                carcinoma_bf16_gemm_avx512(first, panels.count, workspace.packedB, columnPanels, a.chunks, chunk, count,
                                           workspace.product, workspace.paddedColumns, chunk > 0 ? 1 : 0,
                                           a.rows - panels.lowerBound * AMX.panel, columns)
            }
            chunk += count
        }
    }
}

/// A convolution (groups == 1, not depthwise) on AMX: per image, pieces of output pixels (im2col unless 1x1),
/// each multiplied by every output channel's packed weights; when there are fewer pieces than workers (small
/// planes at batch 1) the output channels are split too, each worker packing the piece's columns itself.
/// Then bias, residual and activation on the way from the product buffer to the output.
func amxConvolution(_ problem: ConvolutionProblem, weights: AMXPackedMatrix, pointwise: Bool) {
    let geometry = problem.geometry, plane = problem.plane, threads = problem.context.threadCount
    let depth = weights.depth, outChannels = problem.outChannels
    // Pieces of about 1 MiB of packed columns and of products, in whole panels; shape-dependent only.
    let budget = max(2 * AMX.panel, (1 << 18) / max(depth, outChannels) / AMX.panel * AMX.panel)
    // (at least 64 columns: a 7x7 plane is one piece whose output channels the workers share)
    let pieces = (plane + budget - 1) / budget
    let columnsPerPiece = AMX.panels((plane + pieces - 1) / pieces) * AMX.panel
    let rowPanels = weights.panelCount
    let rowGroups = problem.batch * pieces >= threads ? 1 : min(rowPanels, (threads + problem.batch * pieces - 1) / (problem.batch * pieces))
    parallelChunks(problem.batch * pieces * rowGroups, problem.context) { items in
        // im2col two rows at a time into a small buffer, packed at once (no piece-sized float copy of the columns).
        let workspace = AMXWorkspace(for: weights, columns: columnsPerPiece)
        let rowPair = pointwise ? nil : workspace.rowPair
        for item in items {
            let group = item % rowGroups, image = item / rowGroups / pieces, piece = item / rowGroups % pieces
            let columns = min(plane, piece * columnsPerPiece)..<min(plane, (piece + 1) * columnsPerPiece)
            if columns.isEmpty { continue }
            let input = problem.inputImage(image), count = columns.count
            amxPackColumns(weights, columns: count, workspace: workspace) { k in
                let second = k + 1 < depth
                guard let rowPair else {
                    return (input + k * plane + columns.lowerBound, second ? input + (k + 1) * plane + columns.lowerBound : nil)
                }
                im2col(source: input, channels: problem.inChannels, height: problem.height, width: problem.width, geometry: geometry,
                       outputWidth: problem.outputWidth, pixels: columns, columns: rowPair, rows: k..<(second ? k + 2 : k + 1))
                return (UnsafePointer(rowPair), second ? UnsafePointer(rowPair + count) : nil)
            }
            let panels = (group * rowPanels / rowGroups)..<((group + 1) * rowPanels / rowGroups)
            amxMultiply(weights, panels: panels, columns: count, workspace: workspace, unit: problem.context.bfloat16Unit)
            problem.finish(image: image, channels: (panels.lowerBound * AMX.panel)..<min(outChannels, panels.upperBound * AMX.panel),
                           columns: columns, from: workspace.product, sourceStride: workspace.paddedColumns)
        }
    }
}
