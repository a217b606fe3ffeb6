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
        argmaxLabels(try predictProba(features), classes: classes)
    }
}

/// The position of the largest value, the first one on ties (as numpy's argmax): the one argmax of the toolkit,
/// so a prediction, a metric and a written CSV never break a tie differently.
public func argmaxIndex<Values: RandomAccessCollection>(_ values: Values) -> Int where Values.Element == Double, Values.Index == Int {
    var best = values.startIndex
    for index in values.indices.dropFirst() where values[index] > values[best] { best = index }
    return best - values.startIndex
}

/// argmax of each row (ties to the lower column), mapped to `classes` (the columns' classes, in order).
public func argmaxLabels(_ probabilities: Matrix, classes: [Int]) -> [Int] {
    let columns = probabilities.columns
    return probabilities.values.withUnsafeBufferPointer { values in
        (0..<probabilities.rows).map { row in classes[argmaxIndex(values[(row * columns)..<((row + 1) * columns)])] }
    }
}
