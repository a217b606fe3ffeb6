// What a fit noticed that its user should hear about, carried by the fitted model (`FittedClassifier.diagnostics`)
// instead of printed or dropped. The kinds follow scikit-learn's warnings:
//   - ConvergenceWarning from LogisticRegression(solver="lbfgs") ("lbfgs failed to converge ... Increase the number
//     of iterations") and from SVC ("Solver terminated early (max_iter=...)"; libsvm prints "reaching max number of
//     iterations"): `iterationLimit`, `notConverged`;
//   - ConvergenceWarning from the kernels of GaussianProcessClassifier (sklearn/gaussian_process/kernels.py,
//     `_check_bounds_params`: "The optimal value found for dimension 0 of parameter ... is close to the specified
//     upper bound ... Increasing the bound and calling fit again may find a better value"): `hyperparameterAtBound`;
//   - the GP's own notes (no optimiser start reached a finite likelihood; jitter added to a near-singular factor);
//   - what the cross-validation sees around a fit (sklearn.model_selection warns that "The least populated class
//     in y has only ... members"; sklearn.metrics' UndefinedMetricWarning for a class with no predicted samples):
//     `classAbsentFromTraining`, `classNeverPredicted`.
// A diagnostic is a value (Codable: results.json keeps them per fold); its `message` is the line for a person,
// and `key` groups the same warning across folds whatever its numbers ("3 of 15 folds: ...").

public struct Diagnostic: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// An iterative solver stopped at its iteration cap before its tolerance.
        case iterationLimit
        /// An iterative solver stopped before its tolerance for another reason (a failed line search, a non-finite value).
        case notConverged
        /// A hyperparameter tuned inside the fit ended at (numpy's isclose, in log space) a bound of its search box.
        case hyperparameterAtBound
        /// No optimiser start reached a finite objective: the initial hyperparameters were kept.
        case optimizerFailed
        /// A matrix that must be positive definite was not, in floating point: jitter was added to its diagonal.
        case jitterAdded
        /// A class of the data set had no row among a fold's training rows: that fold's model never predicts it.
        case classAbsentFromTraining
        /// A class present in a fold's test rows was predicted for none of them (its F1 there is 0).
        case classNeverPredicted
    }

    public enum Bound: String, Sendable, Codable {
        case lower, upper
    }

    public let kind: Kind
    /// The head (its `name`, e.g. "softmax", "svm-rbf", "gaussian-process") or "cross-validation".
    public let source: String
    /// The class concerned: the absent or never-predicted class, or the positive class of a one-vs-rest problem.
    public let classLabel: Int?
    /// The hyperparameter at a bound (e.g. "length scale").
    public let parameter: String?
    public let bound: Bound?
    /// One line for a person, with the numbers (iterations, value, bound, solver summary).
    public let message: String

    public init(kind: Kind, source: String, classLabel: Int? = nil, parameter: String? = nil, bound: Bound? = nil, message: String) {
        self.kind = kind
        self.source = source
        self.classLabel = classLabel
        self.parameter = parameter
        self.bound = bound
        self.message = message
    }

    /// The same diagnostic about the one-vs-rest problem of `classLabel`.
    public func about(class classLabel: Int?) -> Diagnostic {
        Diagnostic(kind: kind, source: source, classLabel: classLabel, parameter: parameter, bound: bound, message: message)
    }

    /// What two diagnostics share when they are the same warning in different folds (everything but the numbers).
    public struct Key: Sendable, Hashable, Comparable {
        public let kind: Kind
        public let source: String
        public let classLabel: Int?
        public let parameter: String?
        public let bound: Bound?

        public static func < (a: Key, b: Key) -> Bool {
            let order = Kind.allCases
            let ka = order.firstIndex(of: a.kind) ?? 0, kb = order.firstIndex(of: b.kind) ?? 0
            if ka != kb { return ka < kb }
            if a.source != b.source { return a.source < b.source }
            if a.classLabel != b.classLabel { return (a.classLabel ?? Int.min) < (b.classLabel ?? Int.min) }
            if a.parameter != b.parameter { return (a.parameter ?? "") < (b.parameter ?? "") }
            return (a.bound?.rawValue ?? "") < (b.bound?.rawValue ?? "")
        }

        /// The warning without its numbers, e.g. "gaussian-process: length scale at its upper bound (class 2 vs rest)".
        public func headline(className: (Int) -> String = { String($0) }) -> String {
            let vsRest = classLabel.map { " (class \(className($0)) vs rest)" } ?? ""
            switch kind {
            case .iterationLimit: return "\(source): solver stopped at its iteration cap before its tolerance"
            case .notConverged: return "\(source): solver stopped before its tolerance"
            case .hyperparameterAtBound:
                return "\(source): \(parameter ?? "a hyperparameter") at its \(bound?.rawValue ?? "") bound\(vsRest)"
            case .optimizerFailed: return "\(source): optimiser found no finite likelihood, initial hyperparameters kept\(vsRest)"
            case .jitterAdded: return "\(source): near-singular matrix, jitter added\(vsRest)"
            case .classAbsentFromTraining: return classLabel.map { "class \(className($0)) absent from the training rows" } ?? "classes absent from the training rows"
            case .classNeverPredicted: return classLabel.map { "class \(className($0)) never predicted on the test rows" } ?? "classes never predicted on the test rows"
            }
        }

        /// The same warning about no particular class: what the warnings about each class of a row share.
        public var withoutClass: Key { Key(kind: kind, source: source, classLabel: nil, parameter: parameter, bound: bound) }
    }

    public var key: Key { Key(kind: kind, source: source, classLabel: classLabel, parameter: parameter, bound: bound) }
}

extension Diagnostic: CustomStringConvertible {
    public var description: String { message }
}
