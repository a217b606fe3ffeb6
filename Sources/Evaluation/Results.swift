// What a comparison produces: per-fold scores, mean ± sd, pooled out-of-fold metrics per model
// row, and the provenance a report needs. Serialised as results.json (format version below).

import Foundation
import FeatureStore
import Heads
import LinearAlgebra

public let resultsFormatVersion = 1

public struct MetricSummary: Sendable, Codable, Equatable {
    public let mean: Double
    /// Sample standard deviation (n - 1) across folds; 0 for a single fold.
    public let standardDeviation: Double

    public init(_ values: [Double]) {
        let n = Double(values.count)
        mean = values.isEmpty ? .nan : values.reduce(0, +) / n
        let m = mean
        standardDeviation = values.count > 1 ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot() : 0
    }
}

public struct FoldScore: Sendable, Codable, Equatable {
    public let repeatIndex: Int
    public let foldIndex: Int
    /// The hyperparameters chosen by the inner cross-validation.
    public let setting: String
    public let macroF1: Double
    public let microF1: Double
    public let weightedF1: Double
    public let balancedAccuracy: Double
    public let logLoss: Double
    public let perClassF1: [Double]
    public let neverPredicted: [Int]
    /// Test rows per class (classes in ascending order).
    public let testClassCounts: [Int]
    /// Offsets added to the log-probabilities (chosen on this fold's inner out-of-fold probabilities).
    public var offsets: [Double]? = nil
    /// An ensemble's member weights in this fold.
    public var memberWeights: [Double]? = nil
    /// What the fold's model reported and the fold showed (see Diagnostics.swift); nil in results written before they were kept.
    public var diagnostics: [Diagnostic]? = nil
}

public struct ResultRow: Sendable, Codable, Equatable {
    public let name: String
    public let kind: ModelKind
    public let head: String
    public let featureSets: [String]
    public let folds: [FoldScore]
    public let macroF1: MetricSummary
    public let microF1: MetricSummary
    public let weightedF1: MetricSummary
    public let balancedAccuracy: MetricSummary
    public let logLoss: MetricSummary
    /// Metrics of all out-of-fold predictions of all repeats together (confusion summed over repeats).
    public let pooled: ClassificationMetrics
    /// "offsets" when the row's labels come from per-fold class offsets (DecisionOffsets), else "argmax".
    public let decision: String?
    /// How often each hyperparameter setting was chosen across folds.
    public let chosenSettings: [String: Int]
    public let fitSeconds: Double
    /// 95% bootstrap percentile interval of the pooled macro F1 over resampled images (Significance).
    public var pooledMacroF1Interval: [Double]? = nil
    /// Corrected resampled t-test p-value against the best row on the same folds (nil for the best row).
    public var pValueVersusBest: Double? = nil
    /// The best row, or p ≥ Significance.alpha against it.
    public var indistinguishableFromBest: Bool? = nil
    /// Each warning of the folds and the number of folds it appeared in; nil in results written before they were kept.
    public var diagnostics: [DiagnosticTally]? = nil

    public init(outcome: ModelOutcome, labels: [Int], fitSeconds: Double) {
        let classes = outcome.classes
        var scores: [FoldScore] = []
        var truth: [Int] = [], predicted: [Int] = [], probabilityValues: [Double] = []
        var chosen: [String: Int] = [:]
        var imageOfPrediction: [Int] = []
        for fold in outcome.folds {
            imageOfPrediction += fold.fold.testRows
            let foldTruth = fold.fold.testRows.map { labels[$0] }
            let metrics = ClassificationMetrics(classes: classes, truth: foldTruth, probabilities: fold.testProbabilities)
            scores.append(FoldScore(repeatIndex: fold.fold.repeatIndex, foldIndex: fold.fold.foldIndex, setting: fold.setting,
                                    macroF1: metrics.macroF1, microF1: metrics.microF1, weightedF1: metrics.weightedF1,
                                    balancedAccuracy: metrics.balancedAccuracy, logLoss: metrics.logLoss ?? .nan,
                                    perClassF1: metrics.perClassF1, neverPredicted: metrics.neverPredicted,
                                    testClassCounts: metrics.support, offsets: fold.offsets, memberWeights: fold.memberWeights,
                                    diagnostics: fold.diagnostics + metrics.neverPredicted.map { label in
                                        Diagnostic.classNeverPredicted(label, support: classes.firstIndex(of: label).map { metrics.support[$0] } ?? 0,
                                                                       repeatIndex: fold.fold.repeatIndex, foldIndex: fold.fold.foldIndex)
                                    }))
            truth += foldTruth
            predicted += argmaxLabels(fold.testProbabilities, classes: classes)
            probabilityValues += fold.testProbabilities.values
            chosen[fold.setting, default: 0] += 1
        }
        name = outcome.name
        decision = outcome.folds.contains { $0.offsets != nil } ? DecisionRule.offsets.rawValue : DecisionRule.argmax.rawValue
        kind = outcome.kind
        head = outcome.head
        featureSets = outcome.featureSets
        folds = scores
        macroF1 = MetricSummary(scores.map(\.macroF1))
        microF1 = MetricSummary(scores.map(\.microF1))
        weightedF1 = MetricSummary(scores.map(\.weightedF1))
        balancedAccuracy = MetricSummary(scores.map(\.balancedAccuracy))
        logLoss = MetricSummary(scores.map(\.logLoss))
        pooled = ClassificationMetrics(classes: classes, truth: truth, predicted: predicted,
                                       probabilities: Matrix(rows: truth.count, columns: classes.count, values: probabilityValues))
        chosenSettings = chosen
        self.fitSeconds = fitSeconds
        diagnostics = DiagnosticTally.tally(scores.map { $0.diagnostics ?? [] })
        let position = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let interval = Significance.bootstrapMacroF1Interval(
            predictions: imageOfPrediction.indices.map { (imageOfPrediction[$0], position[truth[$0]] ?? 0, position[predicted[$0]] ?? 0) },
            imageCount: labels.count, classCount: classes.count)
        pooledMacroF1Interval = [interval.low, interval.high]
    }
}

/// Provenance of one feature set (from its manifest when there is one).
public struct FeatureSetInfo: Sendable, Codable, Equatable {
    public let name: String
    public let source: String
    public let rows: Int
    public let width: Int
    public let backbone: String?
    public let view: String?
    public let viewParameters: [String: String]?
    public let tta: String?
    public let weightsFile: String?
    public let weightsSHA256: String?
    public let dataset: String?
    public let extractorVersion: String?

    public init(_ set: FeatureSet) {
        name = set.name
        source = set.source?.path ?? "(memory)"
        rows = set.rowCount
        width = set.width
        backbone = set.manifest?.backbone
        view = set.manifest?.view
        viewParameters = set.manifest?.viewParameters
        tta = set.manifest?.tta
        weightsFile = set.manifest?.weightsFile
        weightsSHA256 = set.manifest?.weightsSHA256
        dataset = set.manifest?.dataset
        extractorVersion = set.manifest?.toolVersion
    }
}

public struct LabelsInfo: Sendable, Codable, Equatable {
    public let file: String
    public let idColumn: String
    public let labelColumn: String
    public let groupColumn: String?
    public let namedLabels: Bool
    public let alignmentRule: String
    public let labelledCount: Int
    public let unlabelledCount: Int
}

public struct ComparisonResults: Sendable, Codable, Equatable {
    public var formatVersion: Int = resultsFormatVersion
    public let toolVersion: String
    public let created: String
    public let host: String
    public let settings: CrossValidationSettings
    public let labels: LabelsInfo
    public let classes: [Int]
    public let classNames: [String]
    public let classCounts: [Int]
    public let featureSets: [FeatureSetInfo]
    /// head name → its grid, as printed settings.
    public let headGrids: [String: [String]]
    /// Sorted by pooled-fold mean macro F1, best first.
    public let rows: [ResultRow]
    public let wallSeconds: Double
    /// How the stack rows combined their members; nil without stack rows (and in results written before it was kept).
    public var stacking: StackingMethod? = nil

    public static let fileName = "results.json"

    public func write(to directory: URL) throws {
        try writeAtomically(try encoded(), to: directory.appendingPathComponent(Self.fileName))
    }

    /// The bytes of results.json: pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

    public static func read(from directory: URL) throws -> ComparisonResults {
        let url = directory.hasDirectoryPath || !directory.path.hasSuffix(".json") ? directory.appendingPathComponent(fileName) : directory
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw EvaluationError.badFile(file: url.path, line: 0, problem: "cannot read (run `carcinoma compare --out` first): \(error.localizedDescription)")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            let results = try decoder.decode(ComparisonResults.self, from: data)
            guard results.formatVersion == resultsFormatVersion else {
                throw EvaluationError.badFile(file: url.path, line: 0, problem: "results format \(results.formatVersion), this tool reads \(resultsFormatVersion)")
            }
            try results.validate(file: url.path)
            return results
        } catch let error as EvaluationError { throw error } catch {
            throw EvaluationError.badFile(file: url.path, line: 0, problem: "not a results file: \(error)")
        }
    }

    /// The comparison table as aligned text, best first.
    /// "best", "≈ (p=0.41)" for a row indistinguishable from the best, "(p=0.003)" otherwise; "" when not tested.
    public static func sameAsBestText(_ row: ResultRow) -> String {
        guard let same = row.indistinguishableFromBest else { return "" }
        guard let p = row.pValueVersusBest else { return same ? "best" : "" }
        return (same ? "≈ " : "") + String(format: p < 0.001 ? "(p=%.1e)" : "(p=%.3f)", p)
    }

    public static func intervalText(_ row: ResultRow) -> String {
        guard let interval = row.pooledMacroF1Interval, interval.count == 2 else { return "" }
        return String(format: " [%.3f, %.3f]", interval[0], interval[1])
    }

    public func table(limit: Int? = nil) -> String {
        var lines: [[String]] = [["model", "macro F1 (mean ± sd)", "≈ best (p)", "pooled macro F1 [95% CI]", "accuracy", "balanced acc", "log loss", "never predicted"]]
        for row in rows.prefix(limit ?? rows.count) {
            let never = row.pooled.neverPredicted.map { classNames[classes.firstIndex(of: $0) ?? 0] }
            lines.append([row.name,
                          String(format: "%.3f ± %.3f", row.macroF1.mean, row.macroF1.standardDeviation),
                          Self.sameAsBestText(row),
                          String(format: "%.3f", row.pooled.macroF1) + Self.intervalText(row),
                          String(format: "%.3f", row.microF1.mean),
                          String(format: "%.3f", row.balancedAccuracy.mean),
                          String(format: "%.3f", row.logLoss.mean),
                          never.isEmpty ? "" : never.joined(separator: ",")])
        }
        let widths = (0..<lines[0].count).map { c in lines.map { $0[c].count }.max() ?? 0 }
        return lines.map { line in
            line.enumerated().map { c, cell in c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                                                      : String(repeating: " ", count: widths[c] - cell.count) + cell }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
