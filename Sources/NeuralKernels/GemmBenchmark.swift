// The machine's float32 GEMM rate, the ceiling the convolutions are measured against:
// C = A · B with square n x n matrices on OpenBLAS, 2 n^3 floating-point operations.

import Dispatch

public struct GemmMeasurement: Sendable, Codable {
    public var size: Int
    public var threads: Int
    public var runs: Int
    public var medianSeconds: Double
    public var gflopPerSecond: Double
}

/// Times cblas_sgemm on size x size matrices: one warm-up call, then the median of at least
/// `minimumRuns` calls spanning at least `minimumSeconds`.
public func measureSgemm(size: Int, context: KernelContext, minimumRuns: Int = 5, minimumSeconds: Double = 3) -> GemmMeasurement {
    var a = [Float](repeating: 0, count: size * size), b = a, c = a
    for i in 0..<a.count { a[i] = Float(i % 251) / 251 - 0.5; b[i] = Float(i % 241) / 241 - 0.5 }
    useBLASThreads(context)
    var times: [Double] = []
    a.withUnsafeBufferPointer { aBuffer in b.withUnsafeBufferPointer { bBuffer in c.withUnsafeMutableBufferPointer { cBuffer in
        func once() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            sgemm(m: size, n: size, k: size, a: aBuffer.baseAddress!, lda: size, b: bBuffer.baseAddress!, ldb: size,
                  c: cBuffer.baseAddress!, ldc: size)
            return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        _ = once()
        while times.count < minimumRuns || times.reduce(0, +) < minimumSeconds { times.append(once()) }
    } } }
    let median = medianOf(times)
    return GemmMeasurement(size: size, threads: context.threadCount, runs: times.count, medianSeconds: median,
                           gflopPerSecond: 2 * Double(size) * Double(size) * Double(size) / median * 1e-9)
}

/// The median of a non-empty sample.
public func medianOf(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
