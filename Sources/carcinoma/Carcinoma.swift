// Argument parsing and wiring only: every piece of logic lives in a library target.

import ArgumentParser

@main
struct Carcinoma: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carcinoma",
        abstract: "Frozen CNN embeddings and classical heads for small-data histopathology.",
        version: toolVersion,
        subcommands: [WeightsCommand.self, BackbonesCommand.self, ExtractCommand.self, FeaturesCommand.self, CompareCommand.self, SubmitCommand.self,
                      ReportCommand.self, BenchCommand.self]
    )
}

let toolVersion = "0.1.0"
