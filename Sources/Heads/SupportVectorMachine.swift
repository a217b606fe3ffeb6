// C-support vector classification by SMO, as libsvm 3.x (Chang & Lin, svm.cpp) and scikit-learn's SVC.
// Layered as libsvm: the kernel and its row cache (SVMKernel.swift) → the solver (SMOSolver.swift) →
// probability calibration (SVMProbabilities.swift); this file holds the estimator, one-vs-one and the fit.
//   Solver: Fan, Chen, Lin 2005, "Working Set Selection Using Second Order Information for Training
//           Support Vector Machines", JMLR 6 (WSS3 = libsvm's Solver::select_working_set).
//   Probabilities: Platt 2000 sigmoid on internal 5-fold cross-validation decision values, with the
//           improved Newton fit of Lin, Lin, Weng 2007 (libsvm sigmoid_train), then pairwise coupling
//           by Wu, Lin, Weng 2004, JMLR 5, method 2 (libsvm multiclass_probability).
//
// Glossary: l training rows of one binary problem, y_i = ±1, K the kernel, Q_ij = y_i y_j K(x_i, x_j),
// alpha the dual variables, C_i = C * (class weight * sample weight of row i) their upper bounds,
// G = Q alpha + p the dual gradient (p = -1), rho the offset, eps the stopping tolerance, TAU = 1e-12.
// The dual solved for each pair of classes:
//     min_alpha  1/2 alpha^T Q alpha - e^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= C_i
// and the decision value is f(x) = sum_i alpha_i y_i K(x_i, x) - rho.
//
// Multi-class is one-vs-one over classes sorted ascending; in pair (i, j), i < j, y = +1 marks class i
// (libsvm's layout, decision value > 0 votes for i). `decisionFunction` follows scikit-learn: with two
// classes a single column whose positive values favour classes[1]; with more, one column per pair
// (0,1), (0,2), ..., (1,2), ... whose positive values favour the first class of the pair.
//
// Probabilities (`probability`):
//  - `.platt`: libsvm exactly (targets (N+ + 1)/(N+ + 2), 1/(N- + 2), no weights). Known trap: the
//    sigmoid ignores class weights, so with imbalanced classes its argmax drifts to the majority class
//    and disagrees with the weighted decision function.
//  - `.decisionConsistent` (default): the same internal cross-validation decision values, but the sigmoid
//    p = 1 / (1 + exp(A f)) is fitted with each row weighted by its class weight (balanced within the
//    pair) and with its offset B fixed at 0. Then p > 1/2 exactly when f > 0: binary probabilities
//    always agree with the class-weighted decision function, and pairwise coupling starts from pairwise
//    probabilities that agree with every one-vs-one vote (the coupled argmax agrees with the vote winner
//    except in rare intransitive vote cycles).

import Foundation
import LinearAlgebra

public struct SupportVectorMachine: Classifier {
    public enum Gamma: Sendable, Equatable {
        case value(Double)
        /// scikit-learn's "scale": 1 / (features * variance of all training entries).
        case scale
    }

    public enum Kernel: Sendable, Equatable {
        case linear
        case rbf(gamma: Gamma)
    }

    public enum Probability: String, Sendable, Equatable {
        case platt
        case decisionConsistent
    }

    public let C: Double
    public let kernel: Kernel
    public let classWeight: ClassWeight
    public let tolerance: Double
    public let probability: Probability
    /// Kernel cache budget in megabytes (libsvm's cache_size).
    public let cacheMegabytes: Int
    /// Seeds the internal cross-validation split of the probability fit.
    public let seed: UInt64
    /// SMO iterations allowed per binary solve; nil: libsvm's max(10^7, 100 l). A solve stopped there is a diagnostic.
    public let maxIterations: Int?
    public var name: String {
        switch kernel {
        case .linear: return "svm-linear"
        case .rbf: return "svm-rbf"
        }
    }

    public init(C: Double = 1, kernel: Kernel = .rbf(gamma: .scale), classWeight: ClassWeight = .balanced,
                tolerance: Double = 1e-3, probability: Probability = .decisionConsistent, cacheMegabytes: Int = 200,
                seed: UInt64 = 0, maxIterations: Int? = nil) throws {
        func bad(_ name: String, _ detail: String) -> HeadsError { .invalidHyperparameter(head: "svm", name: name, detail: detail) }
        if let maxIterations, maxIterations < 1 { throw bad("maxIterations", "\(maxIterations) must be at least 1") }
        guard C > 0, C.isFinite else { throw bad("C", "\(C) must be positive") }
        if case let .rbf(.value(gamma)) = kernel, !(gamma > 0 && gamma.isFinite) { throw bad("gamma", "\(gamma) must be positive") }
        guard tolerance > 0 else { throw bad("tolerance", "\(tolerance) must be positive") }
        guard cacheMegabytes >= 1 else { throw bad("cacheMegabytes", "\(cacheMegabytes) must be at least 1") }
        self.C = C
        self.kernel = kernel
        self.classWeight = classWeight
        self.tolerance = tolerance
        self.probability = probability
        self.cacheMegabytes = cacheMegabytes
        self.seed = seed
        self.maxIterations = maxIterations
    }

    /// One binary decision function f(x) = sum_s coefficients_s K(sv_s, x) - rho.
    public struct BinaryModel: Sendable {
        public let supportVectors: Matrix
        /// alpha_s * y_s of each support vector.
        public let coefficients: [Double]
        public let rho: Double
        /// Sigmoid P(y = +1 | f) = 1 / (1 + exp(A f + B)).
        public let sigmoidA: Double
        public let sigmoidB: Double
    }

    public struct Fitted: FittedClassifier {
        public let classes: [Int]
        public let gamma: Double?
        /// Pair models in the order (0,1), (0,2), ..., (1,2), ...
        public let pairs: [BinaryModel]
        /// Pairs whose SMO (or one of its probability folds) stopped at the iteration cap.
        public var diagnostics: [Diagnostic] = []

        func kernelMatrix(_ a: Matrix, _ b: Matrix) -> Matrix {
            do { return try evaluateKernel(a, b, gamma: gamma) } catch { preconditionFailure("svm: \(error)") }
        }

        /// libsvm's decision values: samples x pairs, > 0 favours the pair's first class.
        public func pairDecisionValues(_ features: Matrix) -> Matrix {
            var out = Matrix(rows: features.rows, columns: pairs.count)
            for (p, model) in pairs.enumerated() {
                let f = weightedRowSums(kernelMatrix(features, model.supportVectors), model.coefficients)   // samples x support vectors → samples
                for r in 0..<features.rows { out[r, p] = f[r] - model.rho }
            }
            return out
        }

        /// scikit-learn's decision_function (ovo shape): see the header for the sign convention.
        public func decisionFunction(_ features: Matrix) -> Matrix {
            var d = pairDecisionValues(features)
            if classes.count == 2 { for i in 0..<d.values.count { d.values[i] = -d.values[i] } }
            return d
        }

        /// One-vs-one vote winner (ties to the lower class, as libsvm).
        public func predictByVotes(_ features: Matrix) -> [Int] {
            let d = pairDecisionValues(features)
            let k = classes.count
            return (0..<features.rows).map { r in
                var votes = [Int](repeating: 0, count: k)
                var p = 0
                for i in 0..<k { for j in (i + 1)..<k { if d[r, p] > 0 { votes[i] += 1 } else { votes[j] += 1 }; p += 1 } }
                var best = 0
                for c in 1..<k where votes[c] > votes[best] { best = c }
                return classes[best]
            }
        }

        public func predictProba(_ features: Matrix) throws -> Matrix {
            try requireFeatureWidth(features, head: "SupportVectorMachine")
            let d = pairDecisionValues(features)
            let k = classes.count
            var out = Matrix(rows: features.rows, columns: k)
            let minimumProbability = 1e-7
            for r in 0..<features.rows {
                // libsvm svm_predict_probability: pairwise r_ij clipped to [1e-7, 1 - 1e-7].
                var pairwise = Matrix(rows: k, columns: k)
                var p = 0
                for i in 0..<k { for j in (i + 1)..<k {
                    let model = pairs[p]
                    let value = min(max(sigmoidPredict(d[r, p], model.sigmoidA, model.sigmoidB), minimumProbability), 1 - minimumProbability)
                    pairwise[i, j] = value
                    pairwise[j, i] = 1 - value
                    p += 1
                } }
                let probabilities = k == 2 ? [pairwise[0, 1], pairwise[1, 0]] : coupledProbabilities(pairwise)
                for c in 0..<k { out[r, c] = probabilities[c] }
            }
            return out
        }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        try fitSVM(features, labels: labels, sampleWeights: sampleWeights)
    }

    public func fitSVM(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> Fitted {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: classWeight, head: name)
        let gammaValue: Double?
        switch kernel {
        case .linear: gammaValue = nil
        case .rbf(.value(let g)): gammaValue = g
        case .rbf(.scale):
            let values = features.values
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            gammaValue = variance > 0 ? 1 / (Double(features.columns) * variance) : 1
        }
        // Every binary problem (each pair, and each internal cross-validation fold of it) works on a
        // subset of these rows with the same gamma: when the whole kernel matrix fits the cache budget
        // it is computed once and every problem gathers its block from it.
        let kernel = try tagged(name) { try TrainingKernel(features: features, gamma: gammaValue, capacityBytes: cacheMegabytes << 20) }
        // Each pair needs its own solve and five internal cross-validation solves (libsvm
        // svm_binary_svc_probability). The permutations are drawn first, pair by pair in order, so each pair's
        // depends on the seed and its position alone; then all solves are independent and run across the
        // cores, each with its own kernel rows, so the results do not depend on the scheduling.
        var rng = SplitMix64(seed: seed)
        let k = data.classCount
        var problems = [PairProblem]()
        for i in 0..<k {
            for j in (i + 1)..<k {
                let rows = (0..<data.rowCount).filter { data.targets[$0] == i || data.targets[$0] == j }
                problems.append(PairProblem(rows: rows, y: rows.map { data.targets[$0] == i ? 1.0 : -1.0 },
                                            upper: rows.map { C * data.weights[$0] },
                                            permutation: shuffled(Array(0..<rows.count), using: &rng)))
            }
        }
        let solvesPerPair = 1 + PairProblem.foldCount
        var outcomes = [Decision?](repeating: nil, count: problems.count * solvesPerPair)
        outcomes.withUnsafeMutableBufferPointer { outcomes in
            DispatchQueue.concurrentPerform(iterations: problems.count * solvesPerPair) { task in
                let problem = problems[task / solvesPerPair], solve = task % solvesPerPair
                if solve == 0 {
                    outcomes[task] = solveBinary(kernel, rows: problem.rows, y: problem.y, upper: problem.upper)
                } else if let train = problem.foldTraining(solve - 1) {
                    outcomes[task] = solveBinary(kernel, rows: train.map { problem.rows[$0] }, y: train.map { problem.y[$0] },
                                                 upper: train.map { problem.upper[$0] })
                }
            }
        }
        var pairs = [BinaryModel]()
        var diagnostics = [Diagnostic]()
        for (p, problem) in problems.enumerated() {
            guard let main = outcomes[p * solvesPerPair] else {
                throw HeadsError.shapeMismatch(head: name, detail: "pair \(p) was not solved")
            }
            let folds = (0..<PairProblem.foldCount).map { outcomes[p * solvesPerPair + 1 + $0] }
            let capped = ([main] + folds).filter { $0?.reachedIterationLimit == true }.count
            if capped > 0 {
                let (i, j) = (0..<k).flatMap { i in ((i + 1)..<k).map { (i, $0) } }[p]
                diagnostics.append(Diagnostic(kind: .iterationLimit, source: name, message: "\(name): SMO stopped at its iteration cap "
                    + "(\(maxIterations.map(String.init) ?? "libsvm's")) before tolerance \(tolerance) in \(capped) of the \(1 + PairProblem.foldCount) "
                    + "solves of classes \(data.classes[i]) vs \(data.classes[j]) (the pair's and its probability folds')"))
            }
            let (a, b) = try fitSigmoid(kernel, problem: problem, foldModels: folds)
            pairs.append(BinaryModel(supportVectors: features.selectingRows(main.support), coefficients: main.coefficients,
                                     rho: main.rho, sigmoidA: a, sigmoidB: b))
        }
        return Fitted(classes: data.classes, gamma: gammaValue, pairs: pairs, diagnostics: diagnostics)
    }

    /// One pair of classes: its rows (indices into the training rows), labels ±1, upper bounds, and
    /// the random permutation of its internal cross-validation.
    struct PairProblem {
        static let foldCount = 5
        let rows: [Int]
        let y: [Double]
        let upper: [Double]
        let permutation: [Int]

        func foldRange(_ fold: Int) -> Range<Int> {
            let l = rows.count
            return (fold * l / Self.foldCount)..<((fold + 1) * l / Self.foldCount)
        }

        /// The training positions (into `rows`) of internal fold `fold`, or nil when the fold is empty or
        /// its training part holds one class only (libsvm then predicts without solving).
        func foldTraining(_ fold: Int) -> [Int]? {
            let range = foldRange(fold)
            if range.isEmpty { return nil }
            let train = Array(permutation[0..<range.lowerBound]) + Array(permutation[range.upperBound...])
            let positives = train.filter { y[$0] > 0 }.count
            return positives == 0 || positives == train.count ? nil : train
        }
    }

    struct Decision {
        /// Support vectors as indices into the fit's training rows.
        let support: [Int]
        let coefficients: [Double]
        let rho: Double
        let reachedIterationLimit: Bool
    }

    /// The dual of the header on the training rows `rows` (indices into `kernel`'s rows).
    func solveBinary(_ kernel: TrainingKernel, rows: [Int], y: [Double], upper: [Double]) -> Decision {
        let solution = SMOSolver.solve(kernel: kernel.problem(rows, capacityBytes: cacheMegabytes << 20), y: y, upper: upper,
                                       eps: tolerance, maxIterations: maxIterations)
        let alpha = solution.alpha
        let support = (0..<alpha.count).filter { alpha[$0] > 0 }
        return Decision(support: support.map { rows[$0] }, coefficients: support.map { alpha[$0] * y[$0] }, rho: solution.rho,
                        reachedIterationLimit: solution.reachedIterationLimit)
    }

    /// libsvm svm_binary_svc_probability: decision values of 5-fold internal cross-validation (the
    /// pair's random permutation; `foldModels` solved on each fold's training part, nil where libsvm
    /// does not solve), then the sigmoid fit selected by `probability`.
    func fitSigmoid(_ kernel: TrainingKernel, problem: PairProblem, foldModels: [Decision?]) throws -> (Double, Double) {
        let y = problem.y, permutation = problem.permutation
        var decision = [Double](repeating: 0, count: y.count)
        for fold in 0..<PairProblem.foldCount {
            let range = problem.foldRange(fold)
            if range.isEmpty { continue }
            let test = Array(permutation[range])
            guard let model = foldModels[fold] else {
                // libsvm: a one-class training fold predicts that class with decision value ±1 (0 when empty).
                let train = Array(permutation[0..<range.lowerBound]) + Array(permutation[range.upperBound...])
                let positives = train.filter { y[$0] > 0 }.count, negatives = train.count - positives
                let value: Double = positives > 0 ? 1 : (negatives > 0 ? -1 : 0)
                for row in test { decision[row] = value }
                continue
            }
            let f = try tagged(name) { try kernel.decisionValues(rows: test.map { problem.rows[$0] }, support: model.support, coefficients: model.coefficients) }
            for (t, row) in test.enumerated() { decision[row] = f[t] - model.rho }
        }
        switch probability {
        case .platt: return plattSigmoid(decision: decision, y: y)
        case .decisionConsistent: return (weightedSlopeSigmoid(decision: decision, y: y), 0)
        }
    }
}
