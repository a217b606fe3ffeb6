// What `compare` and `submit` read before any model is fit: the feature sets (a cache folder or one
// .npy), optionally narrowed to named sets and block selections, aligned with the labels; and, for a
// submission, the check that the features' unlabelled images are exactly the images to predict.

import Foundation
import FeatureStore

extension PreparedComparison {
    /// Reads the feature sets and the labels and aligns them (`Comparison.prepare`).
    /// - features: a cache folder (every .npy with its manifest) or one .npy file; `ids` names the rows
    ///   of a bare .npy.
    /// - featureSets: only these sets of the folder (every one when nil).
    /// - blocks: block selections of multi-stage sets, `;`-separated, each `all` or names joined by `+`;
    ///   each selection becomes its own set `<set>[a+b]`. Sets without blocks are used whole.
    public static func load(features: URL, ids: URL? = nil, labels: URL, format: LabelsFormat,
                            featureSets: [String]? = nil, blocks: String? = nil) throws -> PreparedComparison {
        var sets = features.pathExtension == "npy" ? [try FeatureSet.load(npy: features, ids: ids)]
                                                   : try FeatureSet.loadDirectory(features)
        if let blocks {
            let selections = blockSelections(blocks)
            guard !selections.isEmpty else { throw EvaluationError.invalidSetting(key: "--blocks", problem: "names no block") }
            sets = try sets.flatMap { set -> [FeatureSet] in
                guard set.manifest?.blocks != nil else { return [set] }
                return try selections.map { try set.selectingBlocks($0) }
            }
        }
        if let featureSets {
            let available = sets.map(\.name)
            for name in featureSets where !available.contains(name) {
                throw EvaluationError.invalidSetting(key: "--feature-set",
                                                     problem: "no feature set `\(name)` in \(features.path); available: \(available.joined(separator: ", "))")
            }
            sets = sets.filter { featureSets.contains($0.name) }
        }
        return try Comparison.prepare(featureSets: sets, labels: LabelTable.read(labels, format: format))
    }

    /// `"all;a+b"` → `[["all"], ["a", "b"]]` (empty selections dropped).
    public static func blockSelections(_ text: String) -> [[String]] {
        text.split(separator: ";").map { $0.split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
    }

    /// Throws unless the unlabelled feature rows are exactly `expected` (the images of `imagesFolder`
    /// minus the labelled ids, `Submission.expectedIDs`), naming up to eight ids missing on either side.
    public func requireUnlabelledIDs(_ expected: [String], imagesFolder: String) throws {
        guard expected != unlabelledIDs else { return }
        throw EvaluationError.identifierMismatch(problem: "the features' unlabelled images differ from \(imagesFolder) minus the labels"
            + identifierDifference(expected, onlyInFirst: "no features for", unlabelledIDs, onlyInSecond: "not in the folder", limit: 8))
    }
}

/// `"; <onlyInFirst>: a, b; <onlyInSecond>: c"`: the ids of each list that the other lacks (sorted, at most
/// `limit` each), a part left out when it is empty; "" when the two hold the same ids.
public func identifierDifference(_ first: [String], onlyInFirst: String, _ second: [String], onlyInSecond: String,
                                 limit: Int) -> String {
    let firstOnly = Set(first).subtracting(second).sorted().prefix(limit)
    let secondOnly = Set(second).subtracting(first).sorted().prefix(limit)
    return (firstOnly.isEmpty ? "" : "; \(onlyInFirst): \(firstOnly.joined(separator: ", "))")
        + (secondOnly.isEmpty ? "" : "; \(onlyInSecond): \(secondOnly.joined(separator: ", "))")
}
