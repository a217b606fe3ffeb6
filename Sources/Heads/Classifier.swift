// The estimator contract every head honours (scikit-learn's, made immutable).

import LinearAlgebra

/// A head with its hyperparameters, validated at init. `fit` returns a new immutable model.
public protocol Classifier: Sendable {
    var name: String { get }
    /// features: samples x dimensions; labels: one class label per row (any integers, e.g. -1, 0, 1);
    /// sampleWeights: one per row or nil. Class balancing is a hyperparameter of the head.
    func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier
}

public protocol FittedClassifier: Sendable {
    /// The distinct training labels in ascending order; probability columns follow it.
    var classes: [Int] { get }
    /// samples x classes.count, rows summing to 1. Throws HeadsError.shapeMismatch, with scikit-learn's message
    /// ("X has N features, but … is expecting M features as input"), when `features` has another width than the
    /// matrix the model was fitted on: the check that keeps a wrong matrix from reaching the unchecked kernels.
    func predictProba(_ features: Matrix) throws -> Matrix
    /// What the fit noticed (a solver stopped at its cap, a hyperparameter at its bound, ...): see Diagnostic.
    var diagnostics: [Diagnostic] { get }
}

extension FittedClassifier {
    /// A head whose fit has nothing to report.
    public var diagnostics: [Diagnostic] { [] }

    /// argmax of `predictProba`, so the two never disagree (ties to the lower class).
    public func predict(_ features: Matrix) throws -> [Int] {
        let p = try predictProba(features)
        return (0..<p.rows).map { r in
            var best = 0
            for c in 1..<p.columns where p[r, c] > p[r, best] { best = c }
            return classes[best]
        }
    }
}
