// Argument parsing and wiring only: every piece of logic lives in a library target.

import ArgumentParser
import Foundation
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

    /// ArgumentParser's `help X` prints the top-level help and exits 0 when X is no command; a script asking
    /// `help X` to learn whether X exists would be told yes: unknown topics are refused with a usage error.
    /// Then OpenBLAS gets the core that matches this CPU (a re-exec when it chose a generic one), freed tensor
    /// memory is kept for the next layer (TensorMemory), and the command line is parsed as usual.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "help", let problem = unknownHelpTopic(Array(arguments.dropFirst())) {
            FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
            Foundation.exit(ExitCode.validationFailure.rawValue)
        }
        OpenBLASCore.useTheMatchingCore()
        TensorMemory.keepFreedTensorMemory()
        main(nil)
    }

    /// The first name of `topic` that is not a subcommand of the one before it, as a message; nil when all are.
    static func unknownHelpTopic(_ topic: [String]) -> String? {
        var subcommands: [ParsableCommand.Type] = configuration.subcommands
        var path = "carcinoma"
        for name in topic where !name.hasPrefix("-") {
            var names: [String] = []
            var next: ParsableCommand.Type? = nil
            for command in subcommands {
                let commandName: String = command._commandName
                names.append(commandName)
                if commandName == name { next = command }
            }
            guard let found = next else {
                return "no command `\(path) \(name)`; " + (names.isEmpty ? "`\(path)` has no subcommands" : "commands: \(names.joined(separator: ", "))")
            }
            subcommands = found.configuration.subcommands
            path += " " + name
        }
        return nil
    }
}

/// The vector unit, GEMM kernel, OpenBLAS core and whether (on which unit) the opt-in bfloat16 precisions can run, for
/// --version and the bench.
var machineSummary: String {
    let cpu = CPUFeatures.current
    let bf16 = switch BFloat16Unit.native {
    case .amx: "bf16 available on AMX (--precision bf16, bf16x3)"
    case .avx512: "bf16 available on AVX512-BF16 (--precision bf16, bf16x3)"
    case nil: "no bf16 unit (--precision fp32 only)"
    }
    return "\(cpu.modelName); \(cpu.vectorUnit); GEMM kernel \(GemmKernel.native.rawValue); \(OpenBLASCore.summary); \(bf16)"
}

let toolVersion = "0.1.0"
