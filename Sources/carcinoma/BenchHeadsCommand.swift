// `carcinoma bench heads`: wiring only; the timing loop is Benchmarks' `benchmark` (HeadsBenchmark.swift).

import ArgumentParser
import Benchmarks
import Foundation
import Heads

struct BenchHeadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heads",
        abstract: "Fit + predict every head on the folds of a data set JSON (written by scripts/bench_heads.py); prints JSON results."
    )

    @Option(name: .long, help: "Folded data set JSON: {name, features, labels, folds}.")
    var data: String

    @Option(name: .long, help: "Comma-separated heads (softmax,svm_linear,svm_rbf,gaussian_process,gradient_boosted_trees); default all.")
    var heads: String?

    @Option(name: .long, help: "Solver of the softmax head: lbfgs (default) or adam.")
    var softmaxSolver: SoftmaxRegression.Solver = .lbfgs

    @Option(name: .long, help: "PCA components after standardisation (default none).")
    var pca: Int?

    func validate() throws {
        if let pca { try checkCount(pca, "--pca", CountLimits.components) }
    }

    func run() throws {
        let dataset = try FoldedDataset.load(URL(fileURLWithPath: data))
        var selected = try benchmarkHeads(softmaxSolver: softmaxSolver)
        if let heads {
            let names = heads.split(separator: ",").map(String.init)
            let known = Set(selected.map(\.name))
            if let unknown = names.first(where: { !known.contains($0) }) {
                throw ValidationError("unknown head \(unknown); known: \(selected.map(\.name).joined(separator: ","))")
            }
            selected = selected.filter { names.contains($0.name) }
        }
        let results = try benchmark(dataset, heads: selected, pcaComponents: pca)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(results), as: UTF8.self))
    }
}
