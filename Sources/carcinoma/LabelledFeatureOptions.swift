// Options shared by `compare` and `submit`: where the features and the labels are and how to read them.
// The reading itself is Evaluation's PreparedComparison.load.

import ArgumentParser
import Evaluation
import Foundation
import Weights

/// Where the features are and which of them to use (`compare`; `submit` declares `--features` itself,
/// since `submit --check` needs none).
struct LabelledFeatureOptions: ParsableArguments {
    @Option(help: "A feature cache folder (every .npy with its .json manifest) or one .npy file.")
    var features: String

    @OptionGroup var selection: FeatureSelectionOptions
    @OptionGroup var labelling: LabelsOptions

    var format: LabelsFormat { labelling.format }

    func validate() throws { try selection.check(features: features) }

    func prepare() throws -> PreparedComparison { try selection.prepare(features: features, labelling: labelling) }
}

/// How a labels CSV is read (`compare`, `submit`).
struct LabelsOptions: ParsableArguments {
    @Option(help: "Labels CSV: one row per labelled image.")
    var labels: String

    @Option(help: "Column of the labels CSV holding the image id (also a submission's first column).")
    var idColumn: String = "id"

    @Option(help: "Column of the labels CSV holding the label (also a submission's second column).")
    var labelColumn: String = "malignant"

    @Option(help: "Optional column of group ids: rows sharing one stay in the same fold (e.g. the slide of a tile).")
    var groupColumn: String?

    @Flag(help: "Labels are names (e.g. tumor, stroma): mapped to classes 0, 1, ... in sorted name order.")
    var labelNames = false

    @Option(help: "Integer labels accepted, comma-separated (OxML: -1 no carcinoma, 0 benign, 1 malignant), or `any` for every integer. Not used with --label-names.")
    var allowedLabels: String = defaultAllowedLabels

    var format: LabelsFormat {
        LabelsFormat(idColumn: idColumn, labelColumn: labelColumn, groupColumn: groupColumn,
                     allowedLabels: (try? parseAllowedLabels(allowedLabels)) ?? nil, namedLabels: labelNames)
    }

    func validate() throws { _ = try parseAllowedLabels(allowedLabels) }
}

/// Which rows and sets of the features (`compare`, `submit`).
struct FeatureSelectionOptions: ParsableArguments {
    @Option(help: "For a bare .npy without a manifest: a text file of image ids, one per line, in row order.")
    var ids: String?

    @Option(help: "Only these feature sets of the folder (comma-separated names, e.g. efficientnet_lite0-native).")
    var featureSet: String?

    @Option(help: "Blocks of multi-stage feature sets (extract --pooling stages) to use: `;`-separated selections, each `all` or block names joined by `+` (e.g. \"all;_blocks.14+_blocks.15+_conv_head\"); each selection is its own feature set named <set>[a+b]. Sets without blocks are used whole.")
    var blocks: String?

    func check(features: String?) throws {
        if ids != nil, !(features ?? "").hasSuffix(".npy") { throw ValidationError("--ids goes with a single .npy file in --features") }
    }

    /// `featureSet` replaces `--feature-set` (submit --head auto names the chosen row's sets).
    func prepare(features: String, labelling: LabelsOptions, featureSet: String? = nil) throws -> PreparedComparison {
        try PreparedComparison.load(
            features: URL(fileURLWithPath: features), ids: ids.map { URL(fileURLWithPath: $0) }, labels: URL(fileURLWithPath: labelling.labels),
            format: labelling.format,
            featureSets: (featureSet ?? self.featureSet).map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } },
            blocks: blocks)
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

struct CrossValidationOptions: ParsableArguments {
    // `.unconditional`: a value such as -1 is the option's value (and refused by validate with
    // the number), not taken for a flag ("Missing value for '--repeats'").
    @Option(parsing: .unconditional, help: "Folds of the stratified cross-validation (2-\(CountLimits.folds.upperBound)).")
    var folds: Int = 8

    @Option(parsing: .unconditional, help: "Repeats of the cross-validation, each with a seed derived from --seed (1-\(CountLimits.repeats.upperBound)).")
    var repeats: Int = 1

    @Option(parsing: .unconditional, help: "Seed of the folds and of every head (0 to 2^64-1).")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Folds of the inner cross-validation that picks hyperparameters (2-\(CountLimits.folds.upperBound)).")
    var innerFolds: Int = 4

    @Option(parsing: .unconditional, help: "Outer folds fit at the same time (1-\(CountLimits.threads.upperBound); default: every core).")
    var threads: Int = min(ProcessInfo.processInfo.activeProcessorCount, CountLimits.threads.upperBound)

    func validate() throws {
        try checkCount(folds, "--folds", CountLimits.folds)
        try checkCount(repeats, "--repeats", CountLimits.repeats)
        try checkCount(innerFolds, "--inner-folds", CountLimits.folds)
        try checkCount(threads, "--threads", CountLimits.threads)
    }

    var settings: CrossValidationSettings {
        CrossValidationSettings(foldCount: folds, repeats: repeats, seed: seed, innerFoldCount: innerFolds, threads: threads)
    }
}

/// Prints a progress line to standard error (the table goes to standard output).
func report(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Upper bounds of every count flag: each allocates or loops in proportion, so
/// `--repeats 1000000000000` is refused by name and number instead of asking for terabytes.
enum CountLimits {
    static let folds = 2...1000
    static let repeats = 1...1000
    static let threads = 1...1024
    static let batch = 1...1024
    static let tileStride = 1...100_000
    static let benchSize = 32...8192
    static let gemmSize = 1...16384
    static let components = 1...100_000
}

/// Throws a ValidationError naming `flag` and `value` unless `value` is in `range`.
func checkCount<T: BinaryInteger>(_ value: T, _ flag: String, _ range: ClosedRange<T>) throws {
    guard range.contains(value) else {
        throw ValidationError("\(flag) \(value): must be between \(range.lowerBound) and \(range.upperBound)")
    }
}

/// Refuses an output path that is, or resolves to, one of the command's input files (writing it would
/// destroy the input before it is read), naming both flags and the path.
func refuseOutputsThatAreInputs(_ outputs: [(flag: String, url: URL)], inputs: [(flag: String, path: String?)]) throws {
    for (outputFlag, output) in outputs {
        for case let (inputFlag, path?) in inputs where sameFile(output, URL(fileURLWithPath: path)) {
            throw ValidationError("\(outputFlag) \(output.path) is the \(inputFlag) file \(path); refusing to overwrite an input")
        }
    }
}
