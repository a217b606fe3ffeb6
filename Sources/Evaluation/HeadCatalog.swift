// The heads `compare` and `submit` know by name, each with preprocessing fit inside the fold and a
// small grid searched by the inner cross-validation. Sized for the OxML shape (about 55 training
// rows × 1280 to 2048 features, classes 36/14/12), following the traps in ANCHORS.md:
//   - every head uses balanced class weights, and the SVM's probabilities are the heads' default
//     `decisionConsistent` sigmoid (Platt's ignores the weights and collapses to the majority class);
//   - grids reach far: the softmax L2 spans five decades (the logistic model chose the strongest
//     regularisation of a short grid most often);
//   - GP and trees see PCA components, not thousands of raw columns;
//   - the GP has no grid: its amplitude and length scale maximise the log marginal likelihood
//     (several restarts) inside each fit.

import Foundation
import Heads
import LinearAlgebra

/// The heads by name, as `--heads` and `--head` spell them and results.json records them.
public enum HeadName: String, CaseIterable, Codable, Sendable {
    case softmax, svm, gp, gbt

    /// `softmax,svm`: names checked against the catalogue, none twice (it would run the same model twice).
    public static func list(_ text: String) throws -> [HeadName] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let known = HeadCatalog.names.joined(separator: ", ")
        guard !parts.isEmpty else { throw EvaluationError.invalidSetting(key: "heads", problem: "no head named; known: \(known)") }
        if let repeated = parts.enumerated().first(where: { parts[..<$0.offset].contains($0.element) })?.element {
            throw EvaluationError.invalidSetting(key: "heads", problem: "`\(repeated)` is named twice (it would run the same model twice)")
        }
        return try parts.map { part in
            guard let head = HeadName(rawValue: part) else {
                throw EvaluationError.invalidSetting(key: "heads", problem: "unknown head `\(part)`; known: \(known)")
            }
            return head
        }
    }
}

public enum HeadCatalog {
    public static let names = HeadName.allCases.map(\.rawValue)
    /// PCA components in front of the GP and the trees (capped by the rank of the training rows).
    public static let principalComponents = 16

    /// The head `head` for features of `width` columns; `seed` makes every fit reproducible;
    /// `softmaxSolver` trains the softmax head (L-BFGS to the exact optimum by default, or Adam).
    public static func specification(_ head: HeadName, featureWidth width: Int, seed: UInt64,
                                     softmaxSolver: SoftmaxRegression.Solver = .lbfgs) throws -> HeadSpecification {
        let name = head.rawValue
        let standardize: [any FeatureTransform] = [Standardizer()]
        let reduce: [any FeatureTransform] = [Standardizer(), try PCA(components: .count(principalComponents))]
        switch head {
        case .softmax:
            // J = mean weighted cross-entropy + l2/2 ||W||²; l2 = 1/(C n) against scikit-learn's C.
            // The Adam settings apply only with softmaxSolver .adam.
            return HeadSpecification(name: name, candidates: try [0.01, 0.1, 1, 10, 100].map { l2 in
                HeadCandidate(setting: softmaxSolver == .lbfgs ? "l2=\(l2)" : "l2=\(l2) \(softmaxSolver.rawValue)", classifier: Pipeline(steps: standardize,
                    head: try SoftmaxRegression(solver: softmaxSolver, learningRate: 0.05, epochs: 200, batchSize: 32, l2: l2,
                                                classWeight: .balanced, seed: seed)))
            })
        case .svm:
            // On standardised columns scikit-learn's gamma "scale" is about 1/width: the grid is a multiple of it.
            var candidates: [HeadCandidate] = []
            for C in [0.1, 1, 10] {
                for multiple in [0.25, 1, 4] {
                    let gamma = multiple / Double(max(width, 1))
                    candidates.append(HeadCandidate(setting: "C=\(C) gamma=\(multiple)/width", classifier: Pipeline(steps: standardize,
                        head: try SupportVectorMachine(C: C, kernel: .rbf(gamma: .value(gamma)), classWeight: .balanced,
                                                       probability: .decisionConsistent, seed: seed))))
                }
            }
            return HeadSpecification(name: name, candidates: candidates)
        case .gp:
            return HeadSpecification(name: name, candidates: [
                HeadCandidate(setting: "PCA \(principalComponents), RBF by marginal likelihood", classifier: Pipeline(steps: reduce,
                    head: try GaussianProcessClassifier(amplitudeSquared: 1, lengthScale: Double(principalComponents).squareRoot(),
                                                        optimize: true, restarts: 2, classWeight: .balanced, seed: seed)))])
        case .gbt:
            var candidates: [HeadCandidate] = []
            for depth in [2, 3] {
                for rate in [0.05, 0.2] {
                    candidates.append(HeadCandidate(setting: "PCA \(principalComponents), depth=\(depth) rate=\(rate)", classifier: Pipeline(steps: reduce,
                        head: try GradientBoostedTrees(learningRate: rate, rounds: 100, maxLeafNodes: 1 << depth, maxDepth: depth,
                                                       minSamplesLeaf: 3, l2: 1, classWeight: .balanced, seed: seed))))
                }
            }
            return HeadSpecification(name: name, candidates: candidates)
        }
    }

    /// Parses `softmax,svm` into specifications.
    public static func specifications(_ list: String, featureWidth: Int, seed: UInt64,
                                      softmaxSolver: SoftmaxRegression.Solver = .lbfgs) throws -> [HeadSpecification] {
        try HeadName.list(list).map { try specification($0, featureWidth: featureWidth, seed: seed, softmaxSolver: softmaxSolver) }
    }

    /// The stacking meta-learner: balanced softmax regression on the members' probabilities.
    public static func metaLearner(seed: UInt64, softmaxSolver: SoftmaxRegression.Solver = .lbfgs) throws -> any Classifier {
        try SoftmaxRegression(solver: softmaxSolver, learningRate: 0.05, epochs: 300, batchSize: 32, l2: 0.1, classWeight: .balanced, seed: seed)
    }
}
