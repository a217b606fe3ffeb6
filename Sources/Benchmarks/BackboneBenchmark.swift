// Throughput of one backbone on synthetic weights, timed the way scripts/bench_backbones.py
// times PyTorch: the same deterministic input, one warm-up pass, then the median of at
// least 5 passes spanning at least 3 s.

import Backbones
import Dispatch
import Foundation
import NeuralKernels
import Weights

public struct BackboneMeasurement: Sendable, Codable {
    public var name: String
    public var size: Int
    public var batch: Int
    public var threads: Int
    public var winograd: Bool
    public var gemmKernel: GemmKernel
    /// The convolutions' arithmetic (fp32, or bf16 / bf16x3 on AMX or AVX512-BF16).
    public var precision: Precision
    public var runs: Int
    public var medianSeconds: Double
    public var imagesPerSecond: Double
    /// Median processor time (all threads) of a pass, per image: the work, whatever else the machine runs.
    public var cpuSecondsPerImage: Double
}

/// The benchmark input shared with scripts/bench_backbones.py: element i of the
/// N x 3 x size x size tensor is (i mod 255) / 255 - 0.5.
public func benchmarkInput(batch: Int, size: Int) -> Tensor {
    let count = batch * 3 * size * size
    return Tensor(shape: [batch, 3, size, size], storage: (0..<count).map { Float($0 % 255) / 255 - 0.5 })
}

public func measureBackbone(_ name: BackboneName, size: Int, batch: Int, context: KernelContext,
                            minimumRuns: Int = 5, minimumSeconds: Double = 3) throws -> BackboneMeasurement {
    let network = try makeBackbone(name, weights: SyntheticWeights.store(), context: context)
    let input = benchmarkInput(batch: batch, size: size)
    var cpuTimes: [Double] = []
    func once() -> Double {
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
        _ = network.embed(input)
        cpuTimes.append(processCPUSeconds() - cpuStart)
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }
    _ = once()
    cpuTimes = []
    var times: [Double] = []
    while times.count < minimumRuns || times.reduce(0, +) < minimumSeconds { times.append(once()) }
    let median = medianOf(times)
    return BackboneMeasurement(name: name.rawValue, size: size, batch: batch, threads: context.threadCount,
                               winograd: context.winograd, gemmKernel: context.gemmKernel, precision: context.precision, runs: times.count, medianSeconds: median, imagesPerSecond: Double(batch) / median,
                               cpuSecondsPerImage: medianOf(cpuTimes) / Double(batch))
}

/// Builds the network and runs one pass on the benchmark input (peak-memory measurements).
public func runBackboneOnce(_ name: BackboneName, size: Int, batch: Int, context: KernelContext) throws -> Tensor {
    let network = try makeBackbone(name, weights: SyntheticWeights.store(), context: context)
    return network.embed(benchmarkInput(batch: batch, size: size))
}
