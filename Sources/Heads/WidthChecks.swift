// The feature width a fitted head expects, checked by every head's `predictProba` before any kernel reads the
// matrix: a matrix of the wrong width is refused with scikit-learn's message
// ("X has N features, but SoftmaxRegression is expecting M features as input") instead of reaching a
// precondition, an unchecked read (trees) or a gemm.
//
// Each head's width comes from what it stores: softmax weights' rows, the support vectors' columns, the GP's
// training matrix, the trees' recorded feature count, the pipeline's first step.

import LinearAlgebra

/// What a fitted head knows about the columns it reads.
public enum FeatureWidth: Equatable, Sendable {
    /// Exactly this many columns.
    case exactly(Int)
    /// At least this many (trees: 1 + the largest feature index a split reads).
    case atLeast(Int)
}

public protocol FeatureWidthRecording {
    var featureWidth: FeatureWidth { get }
}

extension SoftmaxRegression.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth { .exactly(weights.rows) }
}

extension SupportVectorMachine.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth { pairs.first.map { .exactly($0.supportVectors.columns) } ?? .atLeast(0) }
}

extension GaussianProcessClassifier.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth { models.first.map { .exactly($0.training.columns) } ?? .atLeast(0) }
}

extension GradientBoostedTrees.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth { .exactly(featureCount) }
}

extension Pipeline.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth {
        if let first = steps.first { return .exactly(first.inputWidth) }
        return (head as? FeatureWidthRecording)?.featureWidth ?? .atLeast(0)
    }
}

extension FeatureWidthRecording {
    /// Throws unless `features.columns` is the width the model was fitted on; `head` names it in the error.
    func requireFeatureWidth(_ features: Matrix, head: String) throws {
        switch featureWidth {
        case let .exactly(width) where features.columns != width:
            throw HeadsError.shapeMismatch(head: head, detail: "X has \(features.columns) features, but \(head) is expecting \(width) features as input")
        case let .atLeast(width) where features.columns < width:
            throw HeadsError.shapeMismatch(head: head, detail: "X has \(features.columns) features, but \(head) reads feature \(width - 1) (at least \(width) features)")
        default: break
        }
    }
}

extension FittedClassifier {
    /// `predictProba`, naming the head as the caller knows it in a width error.
    public func checkedPredictProba(_ features: Matrix, head: String) throws -> Matrix {
        try (self as? FeatureWidthRecording)?.requireFeatureWidth(features, head: head)
        return try predictProba(features)
    }
}
