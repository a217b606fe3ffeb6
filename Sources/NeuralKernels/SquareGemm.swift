// One GEMM C = A · B of size x size row-major matrices on either engine, run as the convolutions run it:
// OpenBLAS's sgemm (on as many threads as the caller's BLASThreads scope gives it), or this engine's packed
// GEMM (PackedGemm.swift: A packed once, as a layer's weights are; the columns of B and C split into one piece
// per thread, as conv2d splits a layer's pixels). The GEMM benchmark times `multiply`.

/// Which GEMM `SquareGemm` runs.
public enum GemmEngine: String, Sendable, Codable, CaseIterable {
    case openBLAS = "openblas"
    case packed
}

public final class SquareGemm {
    public let size: Int
    public let engine: GemmEngine
    public let context: KernelContext
    private let a: [Float]
    private let packed: PackedMatrix?
    private let columnsPerPiece: Int
    private let workspaces: [UnsafeMutablePointer<Float>]

    /// a: size x size, row-major (packed here for the packed engine).
    public init(a: [Float], size: Int, engine: GemmEngine, context: KernelContext) {
        precondition(a.count == size * size, "SquareGemm: \(a.count) values for \(size) x \(size)")
        self.size = size
        self.engine = engine
        self.context = context
        self.a = a
        packed = engine == .packed ? PackedMatrix(a, rows: size, depth: size, kernel: context.gemmKernel) : nil
        let threads = context.threadCount, panelColumns = context.gemmKernel.panelColumns
        columnsPerPiece = ((size + threads - 1) / threads + panelColumns - 1) / panelColumns * panelColumns
        workspaces = (0..<threads).map { [columnsPerPiece] _ in
            UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: columnsPerPiece))
        }
    }

    deinit { workspaces.forEach { $0.deallocate() } }

    /// C = A · B; b and c: size x size, row-major.
    public func multiply(b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        let size = size
        if let packed {
            let columnsPerPiece = columnsPerPiece, workspaces = workspaces
            parallelChunks(context.threadCount, context) { pieces in
                for piece in pieces {
                    let first = min(size, piece * columnsPerPiece), end = min(size, first + columnsPerPiece)
                    if first < end {
                        packedGemm(packed, rows: 0..<size, columns: end - first, b: b + first, ldb: size,
                                   c: c + first, ldc: size, accumulate: false, workspace: workspaces[piece])
                    }
                }
            }
        } else {
            a.withUnsafeBufferPointer { a in
                sgemm(m: size, n: size, k: size, a: a.baseAddress!, lda: size, b: b, ldb: size, c: c, ldc: size)
            }
        }
    }
}
