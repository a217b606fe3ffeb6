// Matching the labels' ids to the feature rows' image ids. Feature ids are whatever extraction
// recorded (OxML: `img_441.png`), label ids whatever the labels file holds (OxML: `441`). Three
// rules are tried in order and the first that finds every labelled id wins:
//   exact       `441` = `441`
//   stem        `tumor_1.png` = `tumor_1` (directories and the extension dropped)
//   number      `img_441.png` = `441` (the trailing digits of the stem; used only when unambiguous)
// Submissions use the label ids' style, so OxML rows come out as `441`.

import Foundation

public struct Alignment: Sendable, Equatable {
    public enum Rule: String, Sendable, Codable { case exact, stem, number }
    public let rule: Rule
    /// For each labels row, its feature row.
    public let featureRowOfLabel: [Int]
    /// Feature rows with no label, in feature order: the images to predict.
    public let unlabelledFeatureRows: [Int]
    /// The submission id (label-id style) of every feature row.
    public let submissionIDs: [String]
}

public enum IdentifierKey {
    /// `dir/img_441.png` → `img_441`.
    public static func stem(_ id: String) -> String {
        let name = id.split(separator: "/").last.map(String.init) ?? id
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    /// The trailing digits of the stem (`img_441.png` → `441`), without leading zeros; nil when none.
    public static func number(_ id: String) -> String? {
        let digits = String(stem(id).reversed().prefix { $0.isASCII && $0.isNumber }.reversed())
        guard !digits.isEmpty else { return nil }
        let trimmed = digits.drop { $0 == "0" }
        return trimmed.isEmpty ? "0" : String(trimmed)
    }
}

extension Alignment {
    /// Aligns `labels` to the feature rows named by `featureIDs` (read from `featureSource`).
    public static func align(featureIDs: [String], featureSource: String, labels: LabelTable) throws -> Alignment {
        var seen: [String: Int] = [:]
        for (row, id) in featureIDs.enumerated() {
            if let first = seen[id] {
                throw EvaluationError.identifierMismatch(problem: "\(featureSource) lists image id `\(id)` twice (rows \(first) and \(row))")
            }
            seen[id] = row
        }
        var bestFailure: (rule: Rule, missing: [Int])?
        var collisions: [String] = []
        for rule in [Rule.exact, .stem, .number] {
            let keyOfFeature: (String) -> String? = {
                switch rule {
                case .exact: return $0
                case .stem: return IdentifierKey.stem($0)
                case .number: return IdentifierKey.number($0)
                }
            }
            // Under the number rule a label id must be a bare number (`441`, `0441`): `tumor441`,
            // `441.9` or `slide7/441` are other ids, not image 441.
            let keyOfLabel: (String) -> String? = rule == .number
                ? { id in id.allSatisfy { $0.isASCII && $0.isNumber } ? IdentifierKey.number(id) : nil } : keyOfFeature
            var rowOfKey: [String: Int] = [:]
            var ambiguous = false
            for (row, id) in featureIDs.enumerated() {
                guard let key = keyOfFeature(id) else { continue }
                if let other = rowOfKey[key] {
                    ambiguous = true
                    collisions.append("`\(featureIDs[other])` and `\(id)` in \(featureSource) both match `\(key)` under the \(rule.rawValue) rule")
                    break
                }
                rowOfKey[key] = row
            }
            if ambiguous { continue }
            // Label ids must themselves be distinct under the rule.
            var labelKeys = Set<String>()
            var missing: [Int] = []
            var rows: [Int] = []
            var collision = false
            var labelIndexOfKey: [String: Int] = [:]
            for (index, id) in labels.ids.enumerated() {
                guard let key = keyOfLabel(id), let row = rowOfKey[key] else { missing.append(index); continue }
                if !labelKeys.insert(key).inserted {
                    collision = true
                    let other = labelIndexOfKey[key] ?? index
                    collisions.append("labels `\(labels.ids[other])` (line \(labels.lines[other])) and `\(id)` (line \(labels.lines[index])) "
                                      + "both match `\(featureIDs[row])` under the \(rule.rawValue) rule")
                    break
                }
                labelIndexOfKey[key] = index
                rows.append(row)
            }
            if collision { continue }
            if missing.isEmpty {
                let labelled = Set(rows)
                let unlabelled = featureIDs.indices.filter { !labelled.contains($0) }
                let submission = featureIDs.map { id -> String in
                    switch rule {
                    case .exact: return id
                    case .stem: return IdentifierKey.stem(id)
                    case .number: return IdentifierKey.number(id) ?? id
                    }
                }
                return Alignment(rule: rule, featureRowOfLabel: rows, unlabelledFeatureRows: unlabelled, submissionIDs: submission)
            }
            if missing.count < (bestFailure?.missing.count ?? Int.max) { bestFailure = (rule, missing) }
        }
        let missing = bestFailure?.missing ?? Array(labels.ids.indices)
        let first = missing[0]
        let listed = missing.prefix(5).map { "`\(labels.ids[$0])` (line \(labels.lines[$0]))" }.joined(separator: ", ")
        throw EvaluationError.badFile(file: labels.file, line: labels.lines[first],
            problem: "\(missing.count) of \(labels.ids.count) labelled ids have no feature row in \(featureSource): \(listed)"
                + (missing.count > 5 ? ", ..." : "")
                + "; feature ids look like `\(featureIDs.prefix(3).joined(separator: "`, `"))`"
                + (collisions.isEmpty ? "" : "; not used because ambiguous: " + collisions.joined(separator: "; ")))
    }
}
