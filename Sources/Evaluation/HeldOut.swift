// Scoring a submission against labels that were held out from training (the demo holds out every
// `*_3` tile): how many rows carry the true label, next to what chance gets on the same rows.

import Foundation

public struct HeldOutScore: Sendable, Equatable {
    /// The submission file and the labels file it was scored against.
    public let submission: String
    public let truth: String
    public let correct: Int
    public let total: Int
    /// Classes among the scored rows' true labels.
    public let classCount: Int
    /// Accuracy of always answering the most common true label of the scored rows (1/K when balanced).
    public let chanceAccuracy: Double

    public var accuracy: Double { total > 0 ? Double(correct) / Double(total) : .nan }

    public var summary: String {
        String(format: "%d of %d held-out images right (accuracy %.3f); chance (always the most common of their %d classes): %.3f, %.1f of %d",
               correct, total, accuracy, classCount, chanceAccuracy, chanceAccuracy * Double(total), total)
    }
}

extension Submission {
    /// Scores `submission` (`id,label` rows as `submit` writes them) against `truth`, a labels file in the
    /// same format holding the true label of every submission row. Ids match exactly or by file stem
    /// (`tumor_3_a.png` in the labels = `tumor_3_a` in the submission); labels compare as written
    /// (names for named labels). A row without a true label is an error naming it.
    public static func score(_ submission: URL, truth: LabelTable, format: LabelsFormat) throws -> HeldOutScore {
        let file = submission.path
        let text: String
        do { text = try String(contentsOf: submission, encoding: .utf8) } catch {
            throw EvaluationError.badFile(file: file, line: 0, problem: "cannot read: \(error.localizedDescription)")
        }
        var trueLabel: [String: String] = [:]
        for (id, label) in zip(truth.ids, truth.labels) {
            let name = truth.name(ofClass: label)
            trueLabel[id] = name
            let stem = (id as NSString).deletingPathExtension
            if trueLabel[stem] == nil { trueLabel[stem] = name }
        }
        let records = try CSVRecords.parse(text, file: file)
        guard let header = records.first, header.fields == [format.idColumn, format.labelColumn] else {
            throw EvaluationError.badFile(file: file, line: records.first?.line ?? 0,
                                          problem: "expected the header `\(format.idColumn),\(format.labelColumn)`")
        }
        var correct = 0, total = 0
        var counts: [String: Int] = [:]
        for record in records.dropFirst() {
            guard record.fields.count == 2 else {
                throw EvaluationError.badFile(file: file, line: record.line, problem: "expected 2 fields, found \(record.fields.count)")
            }
            guard let expected = trueLabel[record.fields[0]] else {
                throw EvaluationError.badFile(file: file, line: record.line, problem: "id `\(record.fields[0])` has no true label in \(truth.file)")
            }
            total += 1
            counts[expected, default: 0] += 1
            if record.fields[1] == expected { correct += 1 }
        }
        guard total > 0 else { throw EvaluationError.badFile(file: file, line: 0, problem: "no rows to score") }
        return HeldOutScore(submission: file, truth: truth.file, correct: correct, total: total, classCount: counts.count,
                            chanceAccuracy: Double(counts.values.max() ?? 0) / Double(total))
    }
}
