// `carcinoma backbones`: the weight sets and the preprocessing each is used with (Backbones' WeightSet.table),
// what every feature manifest records.

import ArgumentParser
import Backbones
import Foundation

struct BackbonesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backbones",
        abstract: "List the weight sets (--backbone names), their architecture and preprocessing (input size, mean/std, transform_input).")

    func run() throws {
        print(WeightSet.table(), terminator: "")
    }
}
