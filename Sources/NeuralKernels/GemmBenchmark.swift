// The machine's float32 GEMM rate, the ceiling the convolutions are measured against:
// C = A · B with square n x n matrices, 2 n^3 floating-point operations, on OpenBLAS or on this
// engine's own GEMM (PackedGemm.swift: A packed once, untimed, as a layer's weights are; the columns
// of B and C split into one piece per thread, as conv2d splits a layer's pixels).

import Dispatch

/// Which GEMM `measureSgemm` times.
public enum GemmEngine: String, Sendable, Codable, CaseIterable {
    case openBLAS = "openblas"
    case packed
}

public struct GemmMeasurement: Sendable, Codable {
    public var engine: GemmEngine
    public var size: Int
    public var threads: Int
    /// The packed GEMM's register tile (engine packed), or OpenBLAS's core name.
    public var kernel: String
    public var runs: Int
    public var medianSeconds: Double
    public var gflopPerSecond: Double
}

/// Times one GEMM of size x size matrices: one warm-up call, then the median of at least
/// `minimumRuns` calls spanning at least `minimumSeconds`.
public func measureSgemm(size: Int, context: KernelContext, engine: GemmEngine = .openBLAS,
                         minimumRuns: Int = 5, minimumSeconds: Double = 3) -> GemmMeasurement {
    var a = [Float](repeating: 0, count: size * size), b = a, c = a
    for i in 0..<a.count { a[i] = Float(i % 251) / 251 - 0.5; b[i] = Float(i % 241) / 241 - 0.5 }
    let packed = engine == .packed ? PackedMatrix(a, rows: size, depth: size, kernel: context.gemmKernel) : nil
    let threads = context.threadCount, panelColumns = context.gemmKernel.panelColumns
    let columnsPerPiece = ((size + threads - 1) / threads + panelColumns - 1) / panelColumns * panelColumns
    let workspaces = (0..<threads).map { _ in
        UnsafeMutablePointer<Float>.allocate(capacity: GemmBlocking.workspaceCount(columns: columnsPerPiece))
    }
    defer { workspaces.forEach { $0.deallocate() } }
    var times: [Double] = []
    // OpenBLAS on the context's threads for the timed calls (the packed engine never calls it).
    withBLASThreads(context) { a.withUnsafeBufferPointer { aBuffer in b.withUnsafeBufferPointer { bBuffer in c.withUnsafeMutableBufferPointer { cBuffer in
        let aBase = aBuffer.baseAddress!, bBase = bBuffer.baseAddress!, cBase = cBuffer.baseAddress!
        func once() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            if let packed {
                parallelChunks(threads, context) { pieces in
                    for piece in pieces {
                        let first = min(size, piece * columnsPerPiece), end = min(size, first + columnsPerPiece)
                        if first < end {
                            packedGemm(packed, rows: 0..<size, columns: end - first, b: bBase + first, ldb: size,
                                       c: cBase + first, ldc: size, accumulate: false, workspace: workspaces[piece])
                        }
                    }
                }
            } else {
                sgemm(m: size, n: size, k: size, a: aBase, lda: size, b: bBase, ldb: size, c: cBase, ldc: size)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        _ = once()
        while times.count < minimumRuns || times.reduce(0, +) < minimumSeconds { times.append(once()) }
    } } } }
    let median = medianOf(times)
    return GemmMeasurement(engine: engine, size: size, threads: threads,
                           kernel: engine == .packed ? context.gemmKernel.rawValue : OpenBLASCore.name, runs: times.count, medianSeconds: median,
                           gflopPerSecond: 2 * Double(size) * Double(size) * Double(size) / median * 1e-9)
}

/// The median of a non-empty sample.
public func medianOf(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
