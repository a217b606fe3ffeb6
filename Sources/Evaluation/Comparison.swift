// The whole comparison: every feature set × head by nested cross-validation on shared folds, then
// the ensembles as further rows, then results.json and the out-of-fold probabilities.

import Foundation
import FeatureStore
import Heads
import LinearAlgebra

/// A feature set aligned to the labels: labelled rows in labels order, unlabelled rows in submission order.
public struct PreparedFeatures: Sendable {
    public let info: FeatureSetInfo
    public let data: LabelledData
}

public struct PreparedComparison: Sendable {
    public let labels: LabelTable
    public let featureSets: [PreparedFeatures]
    /// Submission ids of the unlabelled rows (sorted numerically when every id is a number).
    public let unlabelledIDs: [String]
    public let alignmentRule: Alignment.Rule

    public var classNames: [String] { labels.classes.map { labels.name(ofClass: $0) } }
}

public enum Comparison {
    /// Aligns every feature set to the labels; all sets must hold the same unlabelled images.
    public static func prepare(featureSets: [FeatureSet], labels: LabelTable) throws -> PreparedComparison {
        guard !featureSets.isEmpty else { throw EvaluationError.invalidSetting(key: "features", problem: "no feature sets given") }
        var prepared: [PreparedFeatures] = []
        var unlabelledIDs: [String]?
        var firstName = ""
        var rule = Alignment.Rule.exact
        for set in featureSets {
            let source = set.source.map { FeatureSet.manifestURL(for: $0).lastPathComponent } ?? set.name
            let alignment = try Alignment.align(featureIDs: set.ids, featureSource: source, labels: labels)
            rule = alignment.rule
            let ids = alignment.unlabelledFeatureRows.map { alignment.submissionIDs[$0] }
            let order = sortedIdentifierOrder(ids)
            let unlabelledRows = order.map { alignment.unlabelledFeatureRows[$0] }
            let sortedIDs = order.map { ids[$0] }
            if let expected = unlabelledIDs {
                if expected != sortedIDs {
                    throw EvaluationError.identifierMismatch(problem: "\(set.name) and \(firstName) hold different unlabelled images"
                        + identifierDifference(sortedIDs, onlyInFirst: "only in \(set.name)", expected, onlyInSecond: "only in \(firstName)", limit: 5))
                }
            } else {
                unlabelledIDs = sortedIDs
                firstName = set.name
            }
            let matrix = doubleMatrix(set)
            prepared.append(PreparedFeatures(
                info: FeatureSetInfo(set),
                data: LabelledData(labelled: matrix.selectingRows(alignment.featureRowOfLabel),
                                   unlabelled: unlabelledRows.isEmpty ? nil : matrix.selectingRows(unlabelledRows),
                                   labels: labels.labels, groups: labels.groups, classes: labels.classes)))
        }
        return PreparedComparison(labels: labels, featureSets: prepared, unlabelledIDs: unlabelledIDs ?? [], alignmentRule: rule)
    }

    /// Runs every feature set × head, then the ensembles. `predictUnlabelled` keeps each fold model's
    /// probabilities on the unlabelled rows (for a submission).
    public static func run(_ input: PreparedComparison, heads: [HeadSpecification], settings: CrossValidationSettings,
                           metaLearner: (any Classifier)?, ensembles: Bool = true, predictUnlabelled: Bool = false,
                           decision: DecisionRule = .argmax, stacking: StackingMethod = .selection,
                           labelsFormat: LabelsFormat = LabelsFormat(), toolVersion: String = "",
                           progress: (String) -> Void = { _ in }) throws -> (results: ComparisonResults, outcomes: [ModelOutcome]) {
        try run(input, headsFor: { _ in heads }, settings: settings, metaLearner: metaLearner, ensembles: ensembles,
                predictUnlabelled: predictUnlabelled, decision: decision, stacking: stacking,
                labelsFormat: labelsFormat, toolVersion: toolVersion, progress: progress)
    }

    /// As above with heads built per feature set (grids may depend on the feature width).
    public static func run(_ input: PreparedComparison, headsFor: (PreparedFeatures) throws -> [HeadSpecification], settings: CrossValidationSettings,
                           metaLearner: (any Classifier)?, ensembles: Bool = true, predictUnlabelled: Bool = false,
                           decision: DecisionRule = .argmax, stacking: StackingMethod = .selection,
                           labelsFormat: LabelsFormat = LabelsFormat(), toolVersion: String = "",
                           progress: (String) -> Void = { _ in }) throws -> (results: ComparisonResults, outcomes: [ModelOutcome]) {
        let start = Date()
        let labels = input.labels
        let folds = try StratifiedFolds.make(labels: labels.labels, groups: labels.groups, foldCount: settings.foldCount,
                                             repeats: settings.repeats, seed: settings.seed, className: { labels.name(ofClass: $0) })
        var outcomes: [ModelOutcome] = []
        var rows: [ResultRow] = []
        var headGrids: [String: [String]] = [:]
        var headNames: [String] = []
        func emit(_ outcome: ModelOutcome, since: Date) {
            let row = ResultRow(outcome: outcome, labels: labels.labels, fitSeconds: Date().timeIntervalSince(since))
            outcomes.append(outcome)
            rows.append(row)
            progress(String(format: "%@  macro F1 %.3f ± %.3f  (%.1f s)", outcome.name, row.macroF1.mean, row.macroF1.standardDeviation, row.fitSeconds))
        }
        // Rows under the decision rule; ensembles are always built from the members' plain probabilities.
        var plainSingles: [ModelOutcome] = []
        func record(_ outcome: ModelOutcome, since: Date) {
            if decision != .offsets { emit(outcome, since: since) }
            if decision != .argmax { emit(DecisionOffsets.applying(to: outcome, labels: labels.labels), since: since) }
        }
        let headsOfSet = try input.featureSets.map(headsFor)
        // Inner out-of-fold probabilities feed the stacking rows, the weights of the mean rows and the
        // decision offsets; without any of them a single-candidate head (nothing to select) is fit once per outer fold.
        let innerNeeded = stackingRowsPossible(ensembles: ensembles, metaLearner: metaLearner, singleCount: headsOfSet.map(\.count).reduce(0, +))
            || decision != .argmax || (ensembles && input.featureSets.count > 1)
        let skipping = uniqueInOrder(headsOfSet.flatMap { $0 }.filter {
            !CrossValidation.runsInnerCrossValidation($0, innerProbabilitiesNeeded: innerNeeded)
        }.map(\.name))
        if !skipping.isEmpty {
            progress("no stacking row, mean weights or decision offsets need inner probabilities: \(skipping.joined(separator: ", ")) (one candidate) fit once per outer fold, without inner cross-validation")
        }
        for (set, heads) in zip(input.featureSets, headsOfSet) {
            let data = predictUnlabelled ? set.data
                : LabelledData(labelled: set.data.labelled, unlabelled: nil, labels: set.data.labels, groups: set.data.groups, classes: set.data.classes)
            for head in heads {
                if headGrids[head.name] == nil { headGrids[head.name] = head.candidates.map(\.setting); headNames.append(head.name) }
                let begin = Date()
                let outcome = try CrossValidation.run(name: "\(set.info.name) / \(head.name)", featureSet: set.info.name, head: head,
                                                      data: data, folds: folds, settings: settings, innerProbabilitiesNeeded: innerNeeded,
                                                      progress: progress)
                plainSingles.append(outcome)
                record(outcome, since: begin)
            }
        }
        if ensembles {
            _ = try ensembleOutcomes(singles: plainSingles, featureSets: input.featureSets.map(\.info), heads: headNames,
                                     labels: labels.labels, metaLearner: metaLearner, stacking: stacking,
                                     threads: settings.threads, record: record)
        }
        let results = ComparisonResults(
            toolVersion: toolVersion,
            created: ISO8601DateFormatter().string(from: start),
            host: ProcessInfo.processInfo.hostName,
            settings: settings,
            labels: LabelsInfo(file: labels.file, idColumn: labelsFormat.idColumn, labelColumn: labelsFormat.labelColumn,
                               groupColumn: labelsFormat.groupColumn, namedLabels: labelsFormat.namedLabels,
                               alignmentRule: input.alignmentRule.rawValue, labelledCount: labels.ids.count,
                               unlabelledCount: input.unlabelledIDs.count),
            classes: labels.classes,
            classNames: input.classNames,
            classCounts: labels.classes.map { labels.count(ofClass: $0) },
            featureSets: input.featureSets.map(\.info),
            headGrids: headGrids,
            rows: markingSignificance(rows.enumerated().sorted { a, b in
                a.element.macroF1.mean != b.element.macroF1.mean ? a.element.macroF1.mean > b.element.macroF1.mean : a.offset < b.offset
            }.map(\.element), labelledCount: labels.labels.count),
            wallSeconds: Date().timeIntervalSince(start),
            stacking: outcomes.contains { $0.kind == .stack } ? stacking : nil)
        return (results, outcomes)
    }

    /// Whether `ensembleOutcomes` can make a stacking row (it needs every single model's inner probabilities):
    /// ensembles asked for, a meta-learner, and more than one single model.
    static func stackingRowsPossible(ensembles: Bool, metaLearner: (any Classifier)?, singleCount: Int) -> Bool {
        ensembles && metaLearner != nil && singleCount > 1
    }

    /// Rows sorted best first, each with its corrected t-test p-value against the best row and the
    /// "indistinguishable from the best" marker (p ≥ Significance.alpha).
    static func markingSignificance(_ sorted: [ResultRow], labelledCount: Int) -> [ResultRow] {
        guard let best = sorted.first else { return sorted }
        let pValues = Significance.pValues(rows: sorted, best: best, labelledCount: labelledCount)
        return zip(sorted, pValues).map { row, p in
            var marked = row
            marked.pValueVersusBest = p
            marked.indistinguishableFromBest = row.name == best.name ? true : p.map { $0 >= Significance.alpha }
            return marked
        }
    }

    /// The ensemble rows: per head, the mean across all feature sets, and (with several backbones) the
    /// mean across backbones for each view; a stack of all single models, and per head a stack across feature sets.
    static func ensembleOutcomes(singles: [ModelOutcome], featureSets: [FeatureSetInfo], heads: [String], labels: [Int],
                                 metaLearner: (any Classifier)?, stacking: StackingMethod = .selection, threads: Int,
                                 record: (ModelOutcome, Date) -> Void) throws -> [ModelOutcome] {
        var made: [ModelOutcome] = []
        func add(_ build: () throws -> ModelOutcome) throws {
            let begin = Date()
            let outcome = try build()
            record(outcome, begin)
            made.append(outcome)
        }
        let canStack = singles.allSatisfy { $0.folds.allSatisfy { $0.innerProbabilities != nil } }
        func stack(_ name: String, _ members: [ModelOutcome]) throws -> ModelOutcome {
            switch stacking {
            case .selection, .convex: return try Ensembles.weightedStack(name: name, members: members, labels: labels, method: stacking)
            case .softmax:
                guard let metaLearner else { throw EvaluationError.invalidSetting(key: "stacking", problem: "softmax stacking needs a meta-learner") }
                return try Ensembles.stack(name: name, members: members, labels: labels, metaLearner: metaLearner, threads: threads)
            }
        }
        if featureSets.count > 1 {
            for head in heads {
                let members = singles.filter { $0.head == head }
                try add { try Ensembles.mean(name: "mean of \(members.count) feature sets / \(head)", members: members, labels: labels) }
            }
            let views = uniqueInOrder(featureSets.compactMap(\.view))
            for view in views {
                let sets = featureSets.filter { $0.view == view }
                let backbones = Set(sets.compactMap(\.backbone))
                guard backbones.count > 1, backbones.count < featureSets.count else { continue }
                for head in heads {
                    let names = Set(sets.map(\.name))
                    let members = singles.filter { $0.head == head && names.contains($0.featureSets[0]) }
                    try add { try Ensembles.mean(name: "mean of \(backbones.count) backbones, \(view) / \(head)", members: members, labels: labels) }
                }
            }
            if metaLearner != nil, canStack, heads.count > 1 {
                for head in heads {
                    let members = singles.filter { $0.head == head }
                    try add { try stack("stack of \(members.count) feature sets / \(head)", members) }
                }
            }
        }
        if metaLearner != nil, canStack, singles.count > 1 {
            try add { try stack("stack of all \(singles.count) models", singles) }
        }
        return made
    }

    /// Long-format CSV: model, repeat, id, label, one probability column per class, predicted label.
    public static func outOfFoldCSV(outcomes: [ModelOutcome], labels: LabelTable) -> String {
        let classes = labels.classes
        var text = "model,repeat,id,label," + classes.map { "p_\(csvField(labels.name(ofClass: $0)))" }.joined(separator: ",") + ",predicted\n"
        for outcome in outcomes {
            let repeats = (outcome.folds.map(\.fold.repeatIndex).max() ?? -1) + 1
            for repeatIndex in 0..<repeats {
                var rowsOut: [(row: Int, probabilities: [Double])] = []
                for fold in outcome.folds where fold.fold.repeatIndex == repeatIndex {
                    for (position, row) in fold.fold.testRows.enumerated() {
                        rowsOut.append((row, (0..<classes.count).map { fold.testProbabilities[position, $0] }))
                    }
                }
                for item in rowsOut.sorted(by: { $0.row < $1.row }) {
                    let best = argmaxIndex(item.probabilities)
                    text += "\(csvField(outcome.name)),\(repeatIndex + 1),\(csvField(labels.ids[item.row])),"
                        + "\(csvField(labels.name(ofClass: labels.labels[item.row]))),"
                        + item.probabilities.map { String(format: "%.6f", $0) }.joined(separator: ",")
                        + ",\(csvField(labels.name(ofClass: classes[best])))\n"
                }
            }
        }
        return text
    }

    public static let outOfFoldFileName = "oof_probabilities.csv"

    /// Writes results.json and oof_probabilities.csv into `directory` (created when missing) as one
    /// group: when either cannot be written in full (a full disk, an unwritable folder) both previous
    /// files stay byte-identical and no temporary file is left; the error names the file.
    @discardableResult
    public static func writeOutputs(_ results: ComparisonResults, outcomes: [ModelOutcome], labels: LabelTable,
                                    to directory: URL) throws -> (results: URL, outOfFold: URL) {
        try createOutputFolder(directory)
        let resultsURL = directory.appendingPathComponent(ComparisonResults.fileName)
        let outOfFoldURL = directory.appendingPathComponent(outOfFoldFileName)
        let encoded: Data
        do { encoded = try results.encoded() } catch {
            throw EvaluationError.badFile(file: resultsURL.path, line: 0, problem: "cannot encode: \(error)")
        }
        try writeAtomically([(encoded, resultsURL), (Data(outOfFoldCSV(outcomes: outcomes, labels: labels).utf8), outOfFoldURL)])
        return (resultsURL, outOfFoldURL)
    }

    static func doubleMatrix(_ set: FeatureSet) -> Matrix {
        Matrix(rows: set.rowCount, columns: set.width, values: set.values.map(Double.init))
    }
}

/// Indices that sort ids numerically when every id is an integer, else lexicographically.
public func sortedIdentifierOrder(_ ids: [String]) -> [Int] {
    let numbers = ids.map { Int($0) }
    if numbers.allSatisfy({ $0 != nil }) {
        return ids.indices.sorted { (numbers[$0] ?? 0, $0) < (numbers[$1] ?? 0, $1) }
    }
    return ids.indices.sorted { (ids[$0], $0) < (ids[$1], $1) }
}

func csvField(_ text: String) -> String {
    text.contains(",") || text.contains("\"") || text.contains("\n") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}

/// Every single model's probabilities per outer fold: its inner out-of-fold probabilities (the rows
/// the ensemble rules choose weights on) and its test probabilities, for replaying ensemble rules
/// outside the toolkit (`compare --member-probabilities FILE`, read by scripts/ensemble_replay.py).
public struct MemberProbabilities: Codable, Sendable {
    public struct FoldProbabilities: Codable, Sendable {
        public let repeatIndex: Int
        public let foldIndex: Int
        /// Labelled rows (positions in `labels`) the fold trained on and tested on.
        public let trainRows: [Int]
        public let testRows: [Int]
        public let setting: String
        /// trainRows × classes, nil without inner cross-validation.
        public let inner: [[Double]]?
        /// testRows × classes.
        public let test: [[Double]]
    }
    public struct Member: Codable, Sendable {
        public let name: String
        public let head: String
        public let featureSet: String
        public let folds: [FoldProbabilities]
    }
    public let classes: [Int]
    /// Every labelled row's label, in labels-file order.
    public let labels: [Int]
    public let members: [Member]

    /// The single models of `outcomes` with argmax probabilities (rows with decision offsets are left out).
    public init(outcomes: [ModelOutcome], labels: [Int]) {
        func rows(_ matrix: Matrix) -> [[Double]] { (0..<matrix.rows).map { Array(matrix.row($0)) } }
        self.labels = labels
        classes = outcomes.first?.classes ?? []
        members = outcomes.filter { $0.kind == .single && $0.folds.allSatisfy { $0.offsets == nil } }.map { outcome in
            Member(name: outcome.name, head: outcome.head, featureSet: outcome.featureSets.first ?? "", folds: outcome.folds.map { fold in
                FoldProbabilities(repeatIndex: fold.fold.repeatIndex, foldIndex: fold.fold.foldIndex, trainRows: fold.fold.trainRows,
                                  testRows: fold.fold.testRows, setting: fold.setting, inner: fold.innerProbabilities.map(rows),
                                  test: rows(fold.testProbabilities))
            })
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}
