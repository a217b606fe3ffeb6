// The machine's float32 GEMM rate, the ceiling the convolutions are measured against:
// C = A · B with square n x n matrices, 2 n^3 floating-point operations, on OpenBLAS or on this
// engine's own GEMM (NeuralKernels' SquareGemm runs either as the convolutions do).

import BLASThreads
import Dispatch
import NeuralKernels

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
    let gemm = SquareGemm(a: a, size: size, engine: engine, context: context)
    var times: [Double] = []
    // OpenBLAS on the context's threads for the timed calls (the packed engine never calls it).
    BLASThreads.with(context.threadCount) { b.withUnsafeBufferPointer { bBuffer in c.withUnsafeMutableBufferPointer { cBuffer in
        let bBase = bBuffer.baseAddress!, cBase = cBuffer.baseAddress!
        func once() -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            gemm.multiply(b: bBase, c: cBase)
            return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        }
        _ = once()
        while times.count < minimumRuns || times.reduce(0, +) < minimumSeconds { times.append(once()) }
    } } }
    let median = medianOf(times)
    return GemmMeasurement(engine: engine, size: size, threads: context.threadCount,
                           kernel: engine == .packed ? context.gemmKernel.rawValue : OpenBLASCore.name, runs: times.count, medianSeconds: median,
                           gflopPerSecond: 2 * Double(size) * Double(size) * Double(size) / median * 1e-9)
}
