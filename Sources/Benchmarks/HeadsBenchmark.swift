// Timing of every head on fixed folds (the Swift side of scripts/bench_heads.py): per fold,
// Pipeline(standardise [+ PCA], head).fit on the training rows, predict on the test rows; fit+predict
// wall time summed over folds, macro F1 mean and population standard deviation over folds. Macro F1 is
// Evaluation's (ClassificationMetrics: the mean over all classes of the data set, as scikit-learn's
// f1_score(labels=classes, average="macro") and as the comparison table), so a benchmark and a table agree.

import Evaluation
import Foundation
import Heads
import LinearAlgebra

/// A data set with its folds, as scripts/bench_heads.py and scripts/fixtures/heads_fixtures.py write it:
/// {"name", "features": [[Double]], "labels": [Int], "folds": [[test row indices]]}.
public struct FoldedDataset: Decodable, Sendable {
    public let name: String
    public let features: [[Double]]
    public let labels: [Int]
    public let folds: [[Int]]

    public static func load(_ url: URL) throws -> FoldedDataset {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw HeadsError.shapeMismatch(head: "benchmark", detail: "cannot read \(url.path): \(error.localizedDescription)")
        }
        let set: FoldedDataset
        do { set = try JSONDecoder().decode(FoldedDataset.self, from: data) } catch {
            throw HeadsError.shapeMismatch(head: "benchmark", detail: "\(url.path) is not a folded data set: \(error)")
        }
        let width = set.features.first?.count ?? 0
        if let bad = set.features.firstIndex(where: { $0.count != width }) {
            throw HeadsError.shapeMismatch(head: "benchmark", detail: "\(url.path): row \(bad) has \(set.features[bad].count) values, row 0 has \(width)")
        }
        guard set.labels.count == set.features.count else {
            throw HeadsError.shapeMismatch(head: "benchmark", detail: "\(url.path): \(set.features.count) rows but \(set.labels.count) labels")
        }
        for (f, fold) in set.folds.enumerated() {
            if let bad = fold.first(where: { $0 < 0 || $0 >= set.labels.count }) {
                throw HeadsError.shapeMismatch(head: "benchmark", detail: "\(url.path): fold \(f) names row \(bad) of \(set.labels.count)")
            }
        }
        return set
    }

    public var matrix: Matrix { Matrix(rows: features.count, columns: features.first?.count ?? 0, values: features.flatMap { $0 }) }
}

public struct HeadBenchmarkResult: Codable, Sendable {
    public let head: String
    public let macroF1Mean: Double
    public let macroF1StandardDeviation: Double
    public let foldMacroF1: [Double]
    public let seconds: Double
    /// CPU seconds of the whole process (all threads) over the same fit + predict spans: unlike wall
    /// time it does not grow while the process waits for a busy machine's cores.
    public let cpuSeconds: Double
}

/// The heads as benchmarked, named as scripts/bench_heads.py names their scikit-learn counterparts.
/// GP uses no optimiser restarts here, like scikit-learn's default, so the times compare like for like.
public func benchmarkHeads(softmaxSolver: SoftmaxRegression.Solver = .lbfgs) throws -> [(name: String, head: any Classifier)] {
    [("softmax", try SoftmaxRegression(solver: softmaxSolver)),
     ("svm_linear", try SupportVectorMachine(kernel: .linear)),
     ("svm_rbf", try SupportVectorMachine(kernel: .rbf(gamma: .scale))),
     ("gaussian_process", try GaussianProcessClassifier(restarts: 0)),
     ("gradient_boosted_trees", try GradientBoostedTrees())]
}

/// Runs `heads` on every fold of `dataset` (standardised inside each fold; PCA to `pcaComponents` after it when given).
public func benchmark(_ dataset: FoldedDataset, heads: [(name: String, head: any Classifier)], pcaComponents: Int? = nil) throws -> [HeadBenchmarkResult] {
    let x = dataset.matrix
    let classes = Array(Set(dataset.labels)).sorted()
    var results = [HeadBenchmarkResult]()
    for (name, head) in heads {
        var steps: [any FeatureTransform] = [Standardizer()]
        if let pcaComponents { steps.append(try PCA(components: .count(pcaComponents))) }
        let pipeline = Pipeline(steps: steps, head: head)
        var seconds = 0.0, cpuSeconds = 0.0
        var scores = [Double]()
        for test in dataset.folds {
            let testSet = Set(test)
            let train = (0..<dataset.labels.count).filter { !testSet.contains($0) }
            let trainX = x.selectingRows(train), testX = x.selectingRows(test)
            let trainLabels = train.map { dataset.labels[$0] }
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
            let model = try pipeline.fit(trainX, labels: trainLabels, sampleWeights: nil)
            let predicted = try model.predict(testX)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            cpuSeconds += processCPUSeconds() - cpuStart
            scores.append(ClassificationMetrics(classes: classes, truth: test.map { dataset.labels[$0] }, predicted: predicted).macroF1)
        }
        let mean = scores.reduce(0, +) / Double(scores.count)
        let sd = (scores.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(scores.count)).squareRoot()
        results.append(HeadBenchmarkResult(head: name, macroF1Mean: mean, macroF1StandardDeviation: sd, foldMacroF1: scores, seconds: seconds, cpuSeconds: cpuSeconds))
    }
    return results
}
