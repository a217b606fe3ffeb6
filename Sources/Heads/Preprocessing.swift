// Feature preprocessing fit inside each fold: standardisation, PCA, and a Pipeline classifier
// that chains them in front of a head so cross-validation never sees the scored fold.

import Foundation
import LinearAlgebra

/// A preprocessing step: `fit` on training rows returns an immutable transform.
public protocol FeatureTransform: Sendable {
    var name: String { get }
    func fit(_ features: Matrix) throws -> any FittedFeatureTransform
}

public protocol FittedFeatureTransform: Sendable {
    var inputWidth: Int { get }
    var outputWidth: Int { get }
    /// features: samples x inputWidth → samples x outputWidth.
    func transform(_ features: Matrix) -> Matrix
}

/// z = (x - mean) / scale with the population standard deviation (ddof 0, as StandardScaler);
/// a column with zero variance gets scale 1, so it maps to 0 and never to NaN.
public struct Standardizer: FeatureTransform {
    public var name: String { "standardize" }
    public init() {}

    public struct Fitted: FittedFeatureTransform {
        public let mean: [Double]
        public let scale: [Double]
        public var inputWidth: Int { mean.count }
        public var outputWidth: Int { mean.count }

        public func transform(_ features: Matrix) -> Matrix {
            precondition(features.columns == mean.count, "standardize: fitted on \(mean.count) columns, got \(features.columns)")
            var out = features
            let d = mean.count
            for r in 0..<features.rows { for c in 0..<d { out.values[r * d + c] = (out.values[r * d + c] - mean[c]) / scale[c] } }
            return out
        }
    }

    public func fit(_ features: Matrix) throws -> any FittedFeatureTransform { try fitStandardizer(features) }

    public func fitStandardizer(_ features: Matrix) throws -> Fitted {
        guard features.rows > 0 else { throw HeadsError.emptyTrainingSet(head: name) }
        try checkFinite(features, head: name)
        let n = features.rows, d = features.columns
        var mean = [Double](repeating: 0, count: d), variance = [Double](repeating: 0, count: d)
        for r in 0..<n { for c in 0..<d { mean[c] += features.values[r * d + c] } }
        for c in 0..<d { mean[c] /= Double(n) }
        for r in 0..<n { for c in 0..<d { let z = features.values[r * d + c] - mean[c]; variance[c] += z * z } }
        // Zero variance (up to rounding relative to the column's magnitude) → scale 1.
        let scale = (0..<d).map { c -> Double in
            let s = (variance[c] / Double(n)).squareRoot()
            return s <= 10 * Double.ulpOfOne * max(abs(mean[c]), 1) ? 1 : s
        }
        return Fitted(mean: mean, scale: scale)
    }
}

/// Principal component analysis by thin SVD of the centred training matrix (LAPACK dgesdd).
/// Sign convention: each component's largest-magnitude loading is positive (scikit-learn's
/// `svd_flip(u_based_decision=False)`), so the projection is deterministic.
public struct PCA: FeatureTransform {
    public enum Components: Sendable, Equatable {
        /// Keep k components (capped at min(samples, features)).
        case count(Int)
        /// Keep the fewest components whose explained variance ratio sums to more than this fraction (0 < f < 1).
        case varianceFraction(Double)
    }
    public let components: Components
    /// Divide each component by its standard deviation.
    public let whiten: Bool
    public var name: String { "pca" }

    public init(components: Components, whiten: Bool = false) throws {
        switch components {
        case let .count(k) where k < 1:
            throw HeadsError.invalidHyperparameter(head: "pca", name: "components", detail: "count \(k) must be at least 1")
        case let .varianceFraction(f) where !(f > 0 && f < 1):
            throw HeadsError.invalidHyperparameter(head: "pca", name: "components", detail: "variance fraction \(f) must be in (0, 1)")
        default: break
        }
        self.components = components
        self.whiten = whiten
    }

    public struct Fitted: FittedFeatureTransform {
        public let mean: [Double]
        /// k x features, rows are the principal axes.
        public let axes: Matrix
        public let explainedVariance: [Double]
        public let explainedVarianceRatio: [Double]
        public let whiten: Bool
        public var inputWidth: Int { mean.count }
        public var outputWidth: Int { axes.rows }

        public func transform(_ features: Matrix) -> Matrix {
            precondition(features.columns == mean.count, "pca: fitted on \(mean.count) columns, got \(features.columns)")
            var centred = features
            let d = mean.count
            for r in 0..<features.rows { for c in 0..<d { centred.values[r * d + c] -= mean[c] } }
            // samples x d times (k x d)^T → samples x k
            var out = Matrix(rows: features.rows, columns: axes.rows)
            do { try gemm(centred, axes, transposeB: true, into: &out) } catch { preconditionFailure("pca: \(error)") }
            if whiten {
                let k = axes.rows
                for r in 0..<out.rows { for c in 0..<k { out.values[r * k + c] /= max(explainedVariance[c].squareRoot(), 1e-12) } }
            }
            return out
        }
    }

    public func fit(_ features: Matrix) throws -> any FittedFeatureTransform { try fitPCA(features) }

    public func fitPCA(_ features: Matrix) throws -> Fitted {
        guard features.rows > 0 else { throw HeadsError.emptyTrainingSet(head: name) }
        try checkFinite(features, head: name)
        let n = features.rows, d = features.columns
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for c in 0..<d { mean[c] += features.values[r * d + c] } }
        for c in 0..<d { mean[c] /= Double(n) }
        var centred = features
        for r in 0..<n { for c in 0..<d { centred.values[r * d + c] -= mean[c] } }
        let svd = try tagged(name) { try SingularValueDecomposition(centred) }
        let rank = svd.singularValues.count
        let variance = svd.singularValues.map { $0 * $0 / Double(max(n - 1, 1)) }
        let total = variance.reduce(0, +)
        let ratio = variance.map { total > 0 ? $0 / total : 0 }
        var k: Int
        switch components {
        case let .count(count): k = min(count, rank)
        case let .varianceFraction(f):
            k = rank
            var cumulative = 0.0
            for i in 0..<rank { cumulative += ratio[i]; if cumulative > f { k = i + 1; break } }
        }
        k = max(1, k)
        var axes = Matrix(rows: k, columns: d)
        for i in 0..<k {
            var largest = 0.0, sign = 1.0
            for c in 0..<d { let v = svd.vt[i, c]; if abs(v) > largest { largest = abs(v); sign = v < 0 ? -1 : 1 } }
            for c in 0..<d { axes[i, c] = sign * svd.vt[i, c] }
        }
        return Fitted(mean: mean, axes: axes, explainedVariance: Array(variance[0..<k]),
                      explainedVarianceRatio: Array(ratio[0..<k]), whiten: whiten)
    }
}

/// Preprocessing steps then a head, fit together on the training rows only.
public struct Pipeline: Classifier {
    public let steps: [any FeatureTransform]
    public let head: any Classifier
    public var name: String { (steps.map(\.name) + [head.name]).joined(separator: "+") }

    public init(steps: [any FeatureTransform], head: any Classifier) {
        self.steps = steps
        self.head = head
    }

    public struct Fitted: FittedClassifier {
        public let steps: [any FittedFeatureTransform]
        public let head: any FittedClassifier
        public var classes: [Int] { head.classes }
        public var diagnostics: [Diagnostic] { head.diagnostics }
        public func transformed(_ features: Matrix) -> Matrix { steps.reduce(features) { $1.transform($0) } }
        public func predictProba(_ features: Matrix) throws -> Matrix {
            try requireFeatureWidth(features, head: "Pipeline")
            return try head.predictProba(transformed(features))
        }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        guard labels.count == features.rows else {
            throw HeadsError.shapeMismatch(head: name, detail: "\(features.rows) feature rows but \(labels.count) labels")
        }
        var fitted = [any FittedFeatureTransform]()
        var current = features
        for step in steps {
            let f = try step.fit(current)
            current = f.transform(current)
            fitted.append(f)
        }
        return Fitted(steps: fitted, head: try head.fit(current, labels: labels, sampleWeights: sampleWeights))
    }
}
