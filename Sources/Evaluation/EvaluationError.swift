// The one error type of the Evaluation module: every case names the file (and the line, for CSV)
// or the setting at fault, so a user can fix the input without reading the code.

import Foundation

public enum EvaluationError: LocalizedError, Equatable {
    /// A CSV or text file that cannot be used: file, 1-based line (0 when the file as a whole), problem.
    case badFile(file: String, line: Int, problem: String)
    /// Features and labels do not describe the same images.
    case identifierMismatch(problem: String)
    /// A class has fewer members (or groups) than folds.
    case classTooSmall(classCounts: [String: Int], foldCount: Int)
    /// A setting outside its allowed range or a name that is not known.
    case invalidSetting(key: String, problem: String)
    /// A results file or run that does not contain what was asked for.
    case missingResult(problem: String)

    public var errorDescription: String? {
        switch self {
        case let .badFile(file, line, problem):
            return line > 0 ? "\(file):\(line): \(problem)" : "\(file): \(problem)"
        case let .identifierMismatch(problem):
            return "features and labels do not match: \(problem)"
        case let .classTooSmall(counts, foldCount):
            let listed = counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            return "stratified \(foldCount)-fold cross-validation needs at least \(foldCount) members (groups) per class; "
                + "class counts are \(listed). Use fewer folds (--folds)."
        case let .invalidSetting(key, problem):
            return "\(key): \(problem)"
        case let .missingResult(problem):
            return problem
        }
    }
}
