// Argument parsing and wiring only: every piece of logic lives in a library target.

import ArgumentParser
import NeuralKernels

@main
struct Carcinoma: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carcinoma",
        abstract: "Frozen CNN embeddings and classical heads for small-data histopathology.",
        version: "\(toolVersion) (\(machineSummary))",
        subcommands: [WeightsCommand.self, BackbonesCommand.self, ExtractCommand.self, FeaturesCommand.self, CompareCommand.self, SubmitCommand.self,
                      ReportCommand.self, BenchCommand.self]
    )

    /// OpenBLAS first gets the core that matches this CPU (a re-exec when it chose a generic one), then the
    /// command line is parsed as usual.
    static func main() {
        OpenBLASCore.useTheMatchingCore()
        main(nil)
    }
}

/// The vector unit, GEMM kernel and OpenBLAS core in use, for --version and the bench.
var machineSummary: String {
    let cpu = CPUFeatures.current
    return "\(cpu.modelName); \(cpu.vectorUnit); GEMM kernel \(GemmKernel.native.rawValue); \(OpenBLASCore.summary)"
}

let toolVersion = "0.1.0"
