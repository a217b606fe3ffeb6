// The feature width a fitted head expects, and a `predictProba` that checks it (issue 16, class 11).
// `predictProba` itself stays non-throwing (every head and caller uses it); with `-Ounchecked` its
// internal preconditions vanish, so a matrix of the wrong width would read out of bounds (trees) or
// trap in a gemm. `checkedPredictProba` refuses it first with scikit-learn's message
// ("X has N features, but SoftmaxRegression is expecting M features as input").
//
// Each head's width comes from what it already stores: softmax weights' rows, the support vectors'
// columns, the GP's training matrix, the pipeline's first step. Trees store no width: the largest
// feature index any split reads is the bound (fewer columns would be read out of bounds).

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
    public var featureWidth: FeatureWidth {
        .atLeast(trees.joined().map { ($0.feature.max() ?? -1) + 1 }.max() ?? 0)
    }
}

extension Pipeline.Fitted: FeatureWidthRecording {
    public var featureWidth: FeatureWidth {
        if let first = steps.first { return .exactly(first.inputWidth) }
        return (head as? FeatureWidthRecording)?.featureWidth ?? .atLeast(0)
    }
}

extension FittedClassifier {
    /// `predictProba` after checking `features.columns` against the width the model was fitted on;
    /// `head` names it in the error. A head that records no width is not checked.
    public func checkedPredictProba(_ features: Matrix, head: String) throws -> Matrix {
        if let recorded = (self as? FeatureWidthRecording)?.featureWidth {
            switch recorded {
            case let .exactly(width) where features.columns != width:
                throw HeadsError.shapeMismatch(head: head, detail: "X has \(features.columns) features, but \(head) is expecting \(width) features as input")
            case let .atLeast(width) where features.columns < width:
                throw HeadsError.shapeMismatch(head: head, detail: "X has \(features.columns) features, but \(head) reads feature \(width - 1) (at least \(width) features)")
            default: break
            }
        }
        return predictProba(features)
    }
}
