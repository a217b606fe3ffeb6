// Options shared by `compare` and `submit`: where the features and the labels are and how to read them.

import ArgumentParser
import Evaluation
import FeatureStore
import Foundation

struct LabelledFeatureOptions: ParsableArguments {
    @Option(help: "A feature cache folder (every .npy with its .json manifest) or one .npy file.")
    var features: String

    @Option(help: "For a bare .npy without a manifest: a text file of image ids, one per line, in row order.")
    var ids: String?

    @Option(help: "Labels CSV: one row per labelled image.")
    var labels: String

    @Option(help: "Column of the labels CSV holding the image id.")
    var idColumn: String = "id"

    @Option(help: "Column of the labels CSV holding the label.")
    var labelColumn: String = "malignant"

    @Option(help: "Optional column of group ids: rows sharing one stay in the same fold (e.g. the slide of a tile).")
    var groupColumn: String?

    @Flag(help: "Labels are names (e.g. tumor, stroma): mapped to classes 0, 1, ... in sorted name order.")
    var labelNames = false

    @Option(help: "Integer labels accepted, comma-separated (OxML: -1 no carcinoma, 0 benign, 1 malignant), or `any` for every integer. Not used with --label-names.")
    var allowedLabels: String = defaultAllowedLabels

    @Option(help: "Only these feature sets of the folder (comma-separated names, e.g. efficientnet_lite0-native).")
    var featureSet: String?

    var format: LabelsFormat {
        LabelsFormat(idColumn: idColumn, labelColumn: labelColumn, groupColumn: groupColumn,
                     allowedLabels: (try? parseAllowedLabels(allowedLabels)) ?? nil, namedLabels: labelNames)
    }

    func validate() throws {
        if ids != nil && !features.hasSuffix(".npy") { throw ValidationError("--ids goes with a single .npy file in --features") }
        _ = try parseAllowedLabels(allowedLabels)
    }
}

/// The OxML label set, enforced by `compare` and `submit` unless `--allowed-labels` says otherwise.
let defaultAllowedLabels = "-1,0,1"

/// `--allowed-labels`: a comma-separated set of integers, or `any` (nil: every integer accepted).
func parseAllowedLabels(_ text: String) throws -> Set<Int>? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    if trimmed.lowercased() == "any" { return nil }
    var labels = Set<Int>()
    for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
        guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--allowed-labels: `\(part)` is not an integer (give e.g. -1,0,1, or `any`)")
        }
        labels.insert(value)
    }
    return labels
}

extension LabelledFeatureOptions {

    func prepare() throws -> PreparedComparison {
        try loadComparison(features: features, ids: ids, labels: labels, format: format, featureSet: featureSet)
    }
}

/// Reads the feature sets (a folder, or one .npy with optional ids) and the labels, and aligns them.
func loadComparison(features: String, ids: String?, labels: String, format: LabelsFormat, featureSet: String?) throws -> PreparedComparison {
    let url = URL(fileURLWithPath: features)
    var sets = features.hasSuffix(".npy") ? [try FeatureSet.load(npy: url, ids: ids.map { URL(fileURLWithPath: $0) })]
                                          : try FeatureSet.loadDirectory(url)
    if let featureSet {
        let wanted = featureSet.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let available = sets.map(\.name)
        for name in wanted where !available.contains(name) {
            throw ValidationError("no feature set `\(name)` in \(features); available: \(available.joined(separator: ", "))")
        }
        sets = sets.filter { wanted.contains($0.name) }
    }
    let table = try LabelTable.read(URL(fileURLWithPath: labels), format: format)
    return try Comparison.prepare(featureSets: sets, labels: table)
}

struct CrossValidationOptions: ParsableArguments {
    @Option(help: "Folds of the stratified cross-validation.")
    var folds: Int = 8

    @Option(help: "Repeats of the cross-validation, each with a seed derived from --seed.")
    var repeats: Int = 1

    @Option(help: "Seed of the folds and of every head.")
    var seed: UInt64 = 0

    @Option(help: "Folds of the inner cross-validation that picks hyperparameters.")
    var innerFolds: Int = 4

    @Option(help: "Outer folds fit at the same time.")
    var threads: Int = 2

    func validate() throws {
        if folds < 2 { throw ValidationError("--folds must be at least 2") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if innerFolds < 2 { throw ValidationError("--inner-folds must be at least 2") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    var settings: CrossValidationSettings {
        CrossValidationSettings(foldCount: folds, repeats: repeats, seed: seed, innerFoldCount: innerFolds, threads: threads)
    }
}

/// Prints a progress line to standard error (the table goes to standard output).
func report(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
