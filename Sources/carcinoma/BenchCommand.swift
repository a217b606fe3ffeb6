// `carcinoma bench backbone|sgemm|cores`: wiring only; the timing lives in the Benchmarks target
// (BackboneBenchmark.swift, GemmBenchmark.swift, CoreDistance.swift). scripts/bench.sh puts these beside PyTorch's numbers.

import ArgumentParser
import Backbones
import Benchmarks
import Foundation
import NeuralKernels

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Timing entry points used by scripts/bench.sh: a backbone (synthetic weights), the machine's sgemm rate, the heads, how far apart two cores are.",
        subcommands: [BenchBackbone.self, BenchSgemm.self, BenchHeadsCommand.self, BenchCores.self]
    )
}

extension GemmKernel: ExpressibleByArgument {}

private func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct BenchBackbone: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backbone", abstract: "Images per second of one backbone.")

    @Option(help: "Backbone: \(BackboneName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var name: String = "resnet50"
    @Option(help: "Square input side in pixels.") var size: Int = 224
    @Option(help: "Images per forward pass.") var batch: Int = 1
    @Option(help: "Threads (GEMM and the other kernels).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Flag(inversion: .prefixedNo, help: "Winograd F(4x4, 3x3) / F(2x2, 3x3) for eligible 3x3 convolutions.") var winograd = true
    @Option(help: "The packed GEMM's register tile: \(GemmKernel.allCases.map(\.rawValue).joined(separator: ", ")) (default: this machine's).")
    var kernel: GemmKernel = .native
    @Option(help: "The convolutions' arithmetic: fp32, or bf16 / bf16x3 on Intel AMX or AVX512-BF16 (see `extract --precision`).")
    var precision: Precision = .float32
    @Flag(help: "Build the network and run one pass only (for peak-memory measurements).") var singlePass = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard BackboneName(rawValue: name) != nil else { throw ValidationError("unknown backbone '\(name)'") }
        try checkCount(size, "--size", CountLimits.benchSize)
        try checkCount(batch, "--batch", CountLimits.batch)
        try checkCount(threads, "--threads", CountLimits.threads)
        if let reason = precision.unsupportedReason { throw ValidationError(reason) }
    }

    func run() throws {
        guard let backbone = BackboneName(rawValue: name) else { throw ValidationError("unknown backbone '\(name)'") }
        if singlePass {
            let embedding = try runBackboneOnce(backbone, size: size, batch: batch, context: KernelContext(threadCount: threads, winograd: winograd, gemmKernel: kernel, precision: precision))
            print("\(name) \(size)x\(size) batch \(batch): one pass, embedding \(embedding.shape)")
            return
        }
        let result = try measureBackbone(backbone, size: size, batch: batch, context: KernelContext(threadCount: threads, winograd: winograd, gemmKernel: kernel, precision: precision))
        if json { try printJSON(result); return }
        print(String(format: "%@ %dx%d batch %d, %d threads: %.2f images/s (median %.4f s over %d runs; %.4f CPU s/image)",
                     result.name, size, size, batch, threads, result.imagesPerSecond, result.medianSeconds, result.runs,
                     result.cpuSecondsPerImage))
    }
}

struct BenchSgemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sgemm",
        abstract: "GEMM GFLOP/s on square matrices: OpenBLAS sgemm, or this engine's packed-weight GEMM.")

    @Option(help: "Matrix side.") var size: Int = 4096
    @Option(help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "openblas (cblas_sgemm) or packed (the convolutions' GEMM, A packed once).") var engine: String = "openblas"
    @Option(help: "The packed GEMM's register tile: \(GemmKernel.allCases.map(\.rawValue).joined(separator: ", ")) (default: this machine's).")
    var kernel: GemmKernel = .native
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard let chosen = GemmEngine(rawValue: engine) else {
            throw ValidationError("--engine must be one of \(GemmEngine.allCases.map(\.rawValue).joined(separator: ", ")), not '\(engine)'")
        }
        try checkCount(size, "--size", CountLimits.gemmSize)
        try checkCount(threads, "--threads", CountLimits.threads)
        let result = measureSgemm(size: size, context: KernelContext(threadCount: threads, gemmKernel: kernel), engine: chosen)
        if json { try printJSON(result); return }
        print(String(format: "%@ sgemm %d^2, %d threads: %.1f GFLOP/s (median %.4f s over %d runs)",
                     chosen == .packed ? "packed (\(kernel.rawValue))" : "openblas (\(OpenBLASCore.name))",
                     size, threads, result.gflopPerSecond, result.medianSeconds, result.runs))
    }
}

struct BenchCores: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cores",
        abstract: "The round trip of a cache line between two cores (ns): ~60 where they share a level-3 cache, several times that where they do not.")

    @Option(help: "The first core.") var first: Int = 0
    @Option(help: "The second core.") var second: Int = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard first >= 0, second >= 0, first != second else { throw ValidationError("--first and --second must be two different cores (0, 1, ...)") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard max(first, second) < cores else {
            throw ValidationError("this machine has \(cores) core\(cores == 1 ? "" : "s") (0..<\(cores)): no core \(max(first, second))")
        }
    }

    func run() throws {
        guard let result = measureCoreDistance(first: first, second: second) else {
            throw ValidationError("could not pin threads to cores \(first) and \(second) (a restricted cpuset?)")
        }
        if json { try printJSON(result); return }
        print(String(format: "cores %d and %d: a cache line's round trip %.0f ns (median of %d bursts of %d)",
                     first, second, result.roundTripNanoseconds, result.samples, result.roundTrips))
    }
}
