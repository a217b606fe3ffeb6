// `carcinoma backbones`: the preprocessing table every feature manifest records, for users to read.

import ArgumentParser
import Backbones
import Foundation

struct BackbonesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backbones",
        abstract: "List the backbones and the preprocessing each applies (input size, mean/std, transform_input).")

    func run() throws {
        func format(_ values: [Float]) -> String { values.map { String(format: "%.4f", $0) }.joined(separator: ", ") }
        print("backbone             input  mean                      std                       transform_input")
        for name in BackboneName.allCases {
            let p = name.preprocessing
            let cells = [name.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0),
                         String(p.inputSize).padding(toLength: 6, withPad: " ", startingAt: 0),
                         format(p.mean).padding(toLength: 25, withPad: " ", startingAt: 0),
                         format(p.std).padding(toLength: 25, withPad: " ", startingAt: 0),
                         p.transformInput ? "yes" : "no"]
            print(cells.joined(separator: " "))
        }
    }
}
