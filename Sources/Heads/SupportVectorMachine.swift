// C-support vector classification by SMO, as libsvm 3.x (Chang & Lin, svm.cpp) and scikit-learn's SVC.
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
        // svm_binary_svc_probability). The permutations are drawn first, pair by pair as before; then
        // all solves are independent and run across the cores, each with its own kernel rows, so the
        // results do not depend on the scheduling.
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
        var outcomes = [Result<Decision, Error>?](repeating: nil, count: problems.count * solvesPerPair)
        outcomes.withUnsafeMutableBufferPointer { outcomes in
            DispatchQueue.concurrentPerform(iterations: problems.count * solvesPerPair) { task in
                let problem = problems[task / solvesPerPair], solve = task % solvesPerPair
                if solve == 0 {
                    outcomes[task] = Result { try solveBinary(kernel, rows: problem.rows, y: problem.y, upper: problem.upper) }
                } else if let train = problem.foldTraining(solve - 1) {
                    outcomes[task] = Result { try solveBinary(kernel, rows: train.map { problem.rows[$0] }, y: train.map { problem.y[$0] },
                                                              upper: train.map { problem.upper[$0] }) }
                }
            }
        }
        var pairs = [BinaryModel]()
        var diagnostics = [Diagnostic]()
        for (p, problem) in problems.enumerated() {
            guard let main = try outcomes[p * solvesPerPair]?.get() else {
                throw HeadsError.shapeMismatch(head: name, detail: "pair \(p) was not solved")
            }
            let folds = try (0..<PairProblem.foldCount).map { try outcomes[p * solvesPerPair + 1 + $0]?.get() }
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
    func solveBinary(_ kernel: TrainingKernel, rows: [Int], y: [Double], upper: [Double]) throws -> Decision {
        let (alpha, rho, reachedLimit) = try tagged(name) {
            try smo(kernel: kernel.problem(rows, capacityBytes: cacheMegabytes << 20), y: y, upper: upper, eps: tolerance, maxIterations: maxIterations)
        }
        let support = (0..<alpha.count).filter { alpha[$0] > 0 }
        return Decision(support: support.map { rows[$0] }, coefficients: support.map { alpha[$0] * y[$0] }, rho: rho,
                        reachedIterationLimit: reachedLimit)
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

// MARK: - Kernel and cache

/// K(a_i, b_j) for all rows: linear a.b, or RBF exp(-gamma |a - b|^2) when gamma is given. a: m x d, b: n x d → m x n.
/// On the calling thread, with the same arithmetic as `TrainingKernel` (so both give equal values bit for bit).
func evaluateKernel(_ a: Matrix, _ b: Matrix, gamma: Double?) throws -> Matrix {
    var k = try rowDotProducts(a, b)
    guard let gamma else { return k }
    let na = squaredRowNorms(a), nb = squaredRowNorms(b)
    let n = b.rows
    k.values.withUnsafeMutableBufferPointer { kv in
        for i in 0..<a.rows { for j in 0..<n { kv[i * n + j] = rbf(dot: kv[i * n + j], na[i], nb[j], gamma: gamma) } }
    }
    return k
}

/// exp(-gamma |a - b|^2) from a.b and the squared norms (clamped at 0 against rounding).
@inline(__always) func rbf(dot: Double, _ squaredNormA: Double, _ squaredNormB: Double, gamma: Double) -> Double {
    exp(-gamma * max(0, squaredNormA + squaredNormB - 2 * dot))
}

/// The kernel over the training rows of one fit: the whole matrix when it fits `capacityBytes`
/// (computed once, shared by every binary problem), else only the features, rows computed on demand.
final class TrainingKernel {
    let features: Matrix
    let gamma: Double?
    let squaredNorms: [Double]
    /// n x n, or nil when over budget.
    let full: Matrix?

    init(features: Matrix, gamma: Double?, capacityBytes: Int) throws {
        self.features = features
        self.gamma = gamma
        let n = features.rows
        squaredNorms = squaredRowNorms(features)
        if n.multipliedReportingOverflow(by: n * MemoryLayout<Double>.size).partialValue <= capacityBytes && n <= 1 << 15 {
            // The Gram matrix (as `gram`: the same dot per pair, so bit for bit) and the RBF of it, rows
            // interleaved over 16 tasks on the cores (row i costs n - i dots); it precedes every solve.
            var k = Matrix(rows: n, columns: n)
            let d = features.columns, norms = squaredNorms, taskCount = min(16, n)
            features.values.withUnsafeBufferPointer { x in
                k.values.withUnsafeMutableBufferPointer { o in
                    guard let xb = x.baseAddress, let ob = o.baseAddress else { return }
                    DispatchQueue.concurrentPerform(iterations: taskCount) { task in
                        for i in stride(from: task, to: n, by: taskCount) {
                            for j in i..<n {
                                var value = dot(xb + i * d, xb + j * d, count: d)
                                if let gamma { value = rbf(dot: value, norms[i], norms[j], gamma: gamma) }
                                ob[i * n + j] = value
                                ob[j * n + i] = value
                            }
                        }
                    }
                }
            }
            full = k
        } else {
            full = nil
        }
    }

    /// The kernel rows of a binary problem on `rows` (indices into the training rows).
    func problem(_ rows: [Int], capacityBytes: Int) -> any KernelRows {
        if let full { return DenseKernel(gathering: full, rows: rows) }
        return CachedKernel(features: features.selectingRows(rows), gamma: gamma, capacityBytes: capacityBytes)
    }

    /// f_t = sum_s coefficients_s K(x_rows[t], x_support[s]) for training rows `rows` and `support`.
    func decisionValues(rows: [Int], support: [Int], coefficients: [Double]) throws -> [Double] {
        if let full {
            let n = full.columns
            return full.values.withUnsafeBufferPointer { k in
                rows.map { r in
                    var f = 0.0
                    for (s, c) in zip(support, coefficients) { f += c * k[r * n + s] }
                    return f
                }
            }
        }
        let k = try evaluateKernel(features.selectingRows(rows), features.selectingRows(support), gamma: gamma)
        return weightedRowSums(k, coefficients)
    }
}

/// sum_s weights_s m[r, s] for every row of m, in column order (the decision-value sum of every path).
func weightedRowSums(_ m: Matrix, _ weights: [Double]) -> [Double] {
    let n = m.columns
    return m.values.withUnsafeBufferPointer { k in
        (0..<m.rows).map { r in
            var f = 0.0
            for s in 0..<n { f += weights[s] * k[r * n + s] }
            return f
        }
    }
}

/// Rows K(x_i, .) of one binary problem's kernel matrix, as contiguous doubles.
protocol KernelRows: AnyObject {
    var count: Int { get }
    /// K(x_i, x_i).
    var diagonal: [Double] { get }
    /// Row i; valid until the next call. The row `keeping` (if cached) stays valid as well.
    func row(_ i: Int, keeping: Int) -> UnsafePointer<Double>
}

/// The whole l x l kernel matrix of a problem, gathered from the fit's matrix.
final class DenseKernel: KernelRows {
    let count: Int
    let diagonal: [Double]
    private let values: UnsafeMutablePointer<Double>

    init(gathering full: Matrix, rows: [Int]) {
        let l = rows.count, n = full.columns
        count = l
        let gathered = UnsafeMutablePointer<Double>.allocate(capacity: max(l * l, 1))
        full.values.withUnsafeBufferPointer { k in
            guard let base = k.baseAddress else { return }
            if l == n && rows.elementsEqual(0..<n) {
                gathered.update(from: base, count: l * l)   // every row in order (two classes): a plain copy
                return
            }
            for (a, r) in rows.enumerated() {
                let source = base + r * n, target = gathered + a * l
                for (b, c) in rows.enumerated() { target[b] = source[c] }
            }
        }
        values = gathered
        diagonal = (0..<l).map { gathered[$0 * l + $0] }
    }

    deinit { values.deallocate() }

    func row(_ i: Int, keeping: Int) -> UnsafePointer<Double> { UnsafePointer(values + i * count) }
}

/// Rows of the kernel matrix computed on demand and kept under a byte budget, least recently used
/// evicted first (libsvm's Cache, holding K rather than Q; signs are applied by the solver).
final class CachedKernel: KernelRows {
    let features: Matrix
    let gamma: Double?
    let diagonal: [Double]
    private let squaredNorms: [Double]
    private let slots: UnsafeMutablePointer<Double>
    private let slotCount: Int
    /// Slot of each row, or -1.
    private var slotOfRow: [Int]
    /// Row held by each slot, or -1.
    private var rowOfSlot: [Int]
    private var lastUse: [Int]
    private var clock = 0

    init(features: Matrix, gamma: Double?, capacityBytes: Int) {
        self.features = features
        self.gamma = gamma
        let n = features.rows
        squaredNorms = squaredRowNorms(features)
        diagonal = gamma == nil ? squaredNorms : [Double](repeating: 1, count: n)
        slotCount = min(n, max(2, capacityBytes / max(1, n * MemoryLayout<Double>.size)))
        slots = .allocate(capacity: max(slotCount * n, 1))
        slotOfRow = [Int](repeating: -1, count: n)
        rowOfSlot = [Int](repeating: -1, count: slotCount)
        lastUse = [Int](repeating: 0, count: slotCount)
    }

    deinit { slots.deallocate() }

    var count: Int { features.rows }

    func row(_ i: Int, keeping: Int) -> UnsafePointer<Double> {
        let n = features.rows, d = features.columns
        clock += 1
        if slotOfRow[i] >= 0 {
            lastUse[slotOfRow[i]] = clock
            return UnsafePointer(slots + slotOfRow[i] * n)
        }
        // Least recently used slot that does not hold `keeping` (empty slots have lastUse 0).
        let kept = keeping >= 0 && keeping < n ? slotOfRow[keeping] : -1
        var victim = -1
        for s in 0..<slotCount where s != kept && (victim < 0 || lastUse[s] < lastUse[victim]) { victim = s }
        if rowOfSlot[victim] >= 0 { slotOfRow[rowOfSlot[victim]] = -1 }
        rowOfSlot[victim] = i
        slotOfRow[i] = victim
        lastUse[victim] = clock
        let out = slots + victim * n
        features.values.withUnsafeBufferPointer { x in
            guard let base = x.baseAddress else { return }
            for j in 0..<n { out[j] = dot(base + i * d, base + j * d, count: d) }
        }
        if let gamma {
            for j in 0..<n { out[j] = rbf(dot: out[j], squaredNorms[i], squaredNorms[j], gamma: gamma) }
        }
        return UnsafePointer(out)
    }
}

// MARK: - SMO (libsvm Solver::Solve with shrinking)

/// Returns (alpha, rho, whether it stopped at `maxIterations` (nil: libsvm's max(10^7, 100 l)) before eps) for the
/// dual in the header: the WSS3 iteration of Fan, Chen, Lin 2005 (Algorithm 1 with WSS 3) with libsvm's
/// shrinking (Solver::do_shrinking, be_shrunk, reconstruct_gradient): every min(l, 1000) iterations, variables at a bound whose gradient says they
/// will stay there leave the active set; the working-set search and gradient update then run over the
/// active set only. G_bar_t = sum over upper-bounded j of C_j Q_tj rebuilds the gradient of the shrunk
/// variables before the final optimality check, so the stopping rule is the unshrunk one.
/// The active set is a list of indices (libsvm swaps variables instead; the iterates are the same up to
/// tie-breaking order).
func smo(kernel: any KernelRows, y yArray: [Double], upper upperArray: [Double], eps: Double,
         maxIterations cap: Int? = nil) throws -> ([Double], Double, Bool) {
    let l = yArray.count
    let tau = 1e-12
    var alphaArray = [Double](repeating: 0, count: l)
    // alpha = 0 so G = Q alpha + p = p = -e, and no variable is at its upper bound: G_bar = 0.
    var gradientArray = [Double](repeating: -1, count: l)
    var gradientBarArray = [Double](repeating: 0, count: l)
    var activeArray = Array(0..<l)
    let diagonalArray = kernel.diagonal
    let maxIterations = cap ?? max(10_000_000, l > Int.max / 100 ? Int.max : 100 * l)
    var reachedLimit = false
    yArray.withUnsafeBufferPointer { y in
    upperArray.withUnsafeBufferPointer { upper in
    diagonalArray.withUnsafeBufferPointer { QD in
    alphaArray.withUnsafeMutableBufferPointer { alpha in
    gradientArray.withUnsafeMutableBufferPointer { G in
    gradientBarArray.withUnsafeMutableBufferPointer { Gbar in
    activeArray.withUnsafeMutableBufferPointer { active in
        var activeSize = l
        var unshrink = false
        @inline(__always) func isUpper(_ t: Int) -> Bool { alpha[t] >= upper[t] }
        @inline(__always) func isLower(_ t: Int) -> Bool { alpha[t] <= 0 }

        /// G_t = G_bar_t + p_t + sum over free j of alpha_j Q_tj for every inactive t; then all are active.
        func reconstructGradient() {
            if activeSize == l { return }
            // Inactive indices in ascending order, then the active list restored to 0..<l.
            var inactive = [Int]()
            inactive.reserveCapacity(l - activeSize)
            var isActive = [Bool](repeating: false, count: l)
            for a in 0..<activeSize { isActive[active[a]] = true }
            for t in 0..<l where !isActive[t] { inactive.append(t); G[t] = Gbar[t] - 1 }
            for a in 0..<activeSize {
                let j = active[a]
                if isUpper(j) || isLower(j) { continue }
                let Kj = kernel.row(j, keeping: -1)
                let coefficient = alpha[j] * y[j]
                for t in inactive { G[t] += coefficient * y[t] * Kj[t] }
            }
            for t in 0..<l { active[t] = t }
            activeSize = l
        }

        /// libsvm do_shrinking: drop bounded variables that cannot re-enter (be_shrunk).
        func shrink() {
            var Gmax1 = -Double.infinity, Gmax2 = -Double.infinity
            for a in 0..<activeSize {
                let t = active[a]
                if y[t] > 0 {
                    if !isUpper(t) { Gmax1 = max(Gmax1, -G[t]) }
                    if !isLower(t) { Gmax2 = max(Gmax2, G[t]) }
                } else {
                    if !isUpper(t) { Gmax2 = max(Gmax2, -G[t]) }
                    if !isLower(t) { Gmax1 = max(Gmax1, G[t]) }
                }
            }
            if !unshrink && Gmax1 + Gmax2 <= eps * 10 {
                unshrink = true
                reconstructGradient()
            }
            var kept = 0
            for a in 0..<activeSize {
                let t = active[a]
                let shrunk: Bool
                if isUpper(t) { shrunk = y[t] > 0 ? -G[t] > Gmax1 : -G[t] > Gmax2 }
                else if isLower(t) { shrunk = y[t] > 0 ? G[t] > Gmax2 : G[t] > Gmax1 }
                else { shrunk = false }
                if !shrunk { active[kept] = t; kept += 1 }
            }
            activeSize = kept
        }

        /// WSS3 over the active set; nil when the maximal violation is below eps (optimal).
        /// `first`: step 1's (Gmax, i) when the previous gradient update already found it over the same
        /// active set and values (nil after shrinking or a gradient reconstruction).
        func selectWorkingSet(first: (Double, Int)?) -> (Int, Int)? {
            // Step 1: i = argmax { -y_t G_t : t in I_up(alpha) }.
            var Gmax = -Double.infinity, Gmax2 = -Double.infinity, i = -1
            if let first {
                (Gmax, i) = first
            } else {
                for a in 0..<activeSize {
                    let t = active[a]
                    if y[t] > 0 { if !isUpper(t) && -G[t] >= Gmax { Gmax = -G[t]; i = t } }
                    else { if !isLower(t) && G[t] >= Gmax { Gmax = G[t]; i = t } }
                }
            }
            // Step 2: j = argmin over t in I_low(alpha) with -y_t G_t < -y_i G_i of -b_it^2 / a_it,
            // a_it = K_ii + K_tt - 2 K_it (tau when not positive), b_it = -y_i G_i + y_t G_t.
            var j = -1, objectiveDifferenceMin = Double.infinity
            if i >= 0 {
                let Ki = kernel.row(i, keeping: -1)
                let QDi = QD[i]
                for a in 0..<activeSize {
                    let t = active[a]
                    if y[t] > 0 {
                        guard !isLower(t) else { continue }
                        let gradientDifference = Gmax + G[t]
                        if G[t] >= Gmax2 { Gmax2 = G[t] }
                        if gradientDifference > 0 {
                            let quadratic = QDi + QD[t] - 2 * Ki[t]
                            let difference = -(gradientDifference * gradientDifference) / (quadratic > 0 ? quadratic : tau)
                            if difference <= objectiveDifferenceMin { j = t; objectiveDifferenceMin = difference }
                        }
                    } else {
                        guard !isUpper(t) else { continue }
                        let gradientDifference = Gmax - G[t]
                        if -G[t] >= Gmax2 { Gmax2 = -G[t] }
                        if gradientDifference > 0 {
                            let quadratic = QDi + QD[t] - 2 * Ki[t]
                            let difference = -(gradientDifference * gradientDifference) / (quadratic > 0 ? quadratic : tau)
                            if difference <= objectiveDifferenceMin { j = t; objectiveDifferenceMin = difference }
                        }
                    }
                }
            }
            // Stopping rule: maximal violation m(alpha) - M(alpha) < eps (Gmax2 is -inf without an i).
            if Gmax + Gmax2 < eps || j == -1 { return nil }
            return (i, j)
        }

        var iteration = 0
        var counter = min(l, 1000) + 1
        // Step 1 of the next selection, found by the gradient update's pass (the same scan, fused).
        var nextFirst: (Double, Int)? = nil
        while iteration < maxIterations {
            counter -= 1
            if counter == 0 { counter = min(l, 1000); shrink(); nextFirst = nil }
            var pair = selectWorkingSet(first: nextFirst)
            nextFirst = nil
            if pair == nil {
                reconstructGradient()
                pair = selectWorkingSet(first: nil)
                if pair == nil { break }
                counter = 1
            }
            guard let (i, j) = pair else { break }
            iteration += 1

            // Two-variable sub-problem, libsvm's update with careful clipping to the box.
            let Ki = kernel.row(i, keeping: j)
            let Kj = kernel.row(j, keeping: i)
            let Ci = upper[i], Cj = upper[j]
            let oldI = alpha[i], oldJ = alpha[j]
            let wasUpperI = isUpper(i), wasUpperJ = isUpper(j)
            let Qij = y[i] * y[j] * Ki[j]
            if y[i] != y[j] {
                var quad = QD[i] + QD[j] + 2 * Qij
                if quad <= 0 { quad = tau }
                let delta = (-G[i] - G[j]) / quad
                let diff = alpha[i] - alpha[j]
                alpha[i] += delta; alpha[j] += delta
                if diff > 0 { if alpha[j] < 0 { alpha[j] = 0; alpha[i] = diff } }
                else { if alpha[i] < 0 { alpha[i] = 0; alpha[j] = -diff } }
                if diff > Ci - Cj { if alpha[i] > Ci { alpha[i] = Ci; alpha[j] = Ci - diff } }
                else { if alpha[j] > Cj { alpha[j] = Cj; alpha[i] = Cj + diff } }
            } else {
                var quad = QD[i] + QD[j] - 2 * Qij
                if quad <= 0 { quad = tau }
                let delta = (G[i] - G[j]) / quad
                let sum = alpha[i] + alpha[j]
                alpha[i] -= delta; alpha[j] += delta
                if sum > Ci { if alpha[i] > Ci { alpha[i] = Ci; alpha[j] = sum - Ci } }
                else { if alpha[j] < 0 { alpha[j] = 0; alpha[i] = sum } }
                if sum > Cj { if alpha[j] > Cj { alpha[j] = Cj; alpha[i] = sum - Cj } }
                else { if alpha[i] < 0 { alpha[i] = 0; alpha[j] = sum } }
            }
            // Gradient update over the active set: G_t += Q_ti dalpha_i + Q_tj dalpha_j.
            let deltaI = (alpha[i] - oldI) * y[i], deltaJ = (alpha[j] - oldJ) * y[j]
            // The same pass runs step 1 of the next selection over the updated G and alpha (alpha_i, alpha_j
            // are final here; G_bar below does not enter the selection).
            var Gmax = -Double.infinity, first = -1
            for a in 0..<activeSize {
                let t = active[a]
                G[t] += y[t] * (Ki[t] * deltaI + Kj[t] * deltaJ)
                if y[t] > 0 { if !isUpper(t) && -G[t] >= Gmax { Gmax = -G[t]; first = t } }
                else { if !isLower(t) && G[t] >= Gmax { Gmax = G[t]; first = t } }
            }
            nextFirst = (Gmax, first)
            // G_bar follows the variables that reach or leave their upper bound (all l entries).
            if wasUpperI != isUpper(i) {
                let change = (wasUpperI ? -Ci : Ci) * y[i]
                for t in 0..<l { Gbar[t] += change * y[t] * Ki[t] }
            }
            if wasUpperJ != isUpper(j) {
                let change = (wasUpperJ ? -Cj : Cj) * y[j]
                for t in 0..<l { Gbar[t] += change * y[t] * Kj[t] }
            }
        }
        reachedLimit = iteration >= maxIterations
        if activeSize < l { reconstructGradient() }
    } } } } } } }
    // libsvm calculate_rho: mean of y_i G_i over free variables, else midpoint of the feasible interval.
    var freeCount = 0, freeSum = 0.0, ub = Double.infinity, lb = -Double.infinity
    for t in 0..<l {
        let yG = yArray[t] * gradientArray[t]
        if alphaArray[t] >= upperArray[t] { if yArray[t] < 0 { ub = min(ub, yG) } else { lb = max(lb, yG) } }
        else if alphaArray[t] <= 0 { if yArray[t] > 0 { ub = min(ub, yG) } else { lb = max(lb, yG) } }
        else { freeCount += 1; freeSum += yG }
    }
    let rho = freeCount > 0 ? freeSum / Double(freeCount) : (ub + lb) / 2
    return (alphaArray, rho, reachedLimit)
}

// MARK: - Probabilities

/// libsvm sigmoid_predict: P(+1 | f) = 1 / (1 + exp(A f + B)), evaluated without overflow.
func sigmoidPredict(_ f: Double, _ a: Double, _ b: Double) -> Double {
    let fApB = f * a + b
    return fApB >= 0 ? exp(-fApB) / (1 + exp(-fApB)) : 1 / (1 + exp(fApB))
}

/// libsvm sigmoid_train (Platt 2000 with Lin, Lin, Weng 2007's Newton method and backtracking).
func plattSigmoid(decision: [Double], y: [Double]) -> (Double, Double) {
    let l = decision.count
    let prior1 = Double(y.filter { $0 > 0 }.count), prior0 = Double(l) - prior1
    let maxIterations = 100, minimumStep = 1e-10, sigma = 1e-12, eps = 1e-5
    let hiTarget = (prior1 + 1) / (prior1 + 2), loTarget = 1 / (prior0 + 2)
    let t = y.map { $0 > 0 ? hiTarget : loTarget }
    var A = 0.0, B = log((prior0 + 1) / (prior1 + 1))
    func objective(_ a: Double, _ b: Double) -> Double {
        var f = 0.0
        for i in 0..<l {
            let fApB = decision[i] * a + b
            f += fApB >= 0 ? t[i] * fApB + log(1 + exp(-fApB)) : (t[i] - 1) * fApB + log(1 + exp(fApB))
        }
        return f
    }
    var fval = objective(A, B)
    for _ in 0..<maxIterations {
        // Gradient and Hessian (H' = H + sigma I keeps it positive definite).
        var h11 = sigma, h22 = sigma, h21 = 0.0, g1 = 0.0, g2 = 0.0
        for i in 0..<l {
            let fApB = decision[i] * A + B
            let (p, q) = fApB >= 0 ? (exp(-fApB) / (1 + exp(-fApB)), 1 / (1 + exp(-fApB)))
                                   : (1 / (1 + exp(fApB)), exp(fApB) / (1 + exp(fApB)))
            let d2 = p * q
            h11 += decision[i] * decision[i] * d2; h22 += d2; h21 += decision[i] * d2
            let d1 = t[i] - p
            g1 += decision[i] * d1; g2 += d1
        }
        if abs(g1) < eps && abs(g2) < eps { break }
        let det = h11 * h22 - h21 * h21
        let dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det
        let gd = g1 * dA + g2 * dB
        var step = 1.0
        while step >= minimumStep {
            let newA = A + step * dA, newB = B + step * dB
            let newF = objective(newA, newB)
            if newF < fval + 0.0001 * step * gd { A = newA; B = newB; fval = newF; break }
            step /= 2
        }
        if step < minimumStep { break }
    }
    return (A, B)
}

/// The decision-consistent sigmoid: P(+1 | f) = 1 / (1 + exp(A f)), A <= 0, maximising the class-balanced
/// log-likelihood sum_i w_i [t_i log p_i + (1 - t_i) log(1 - p_i)] with w_i = l / (2 l_class(i)) and
/// Platt's smoothed targets. 1-D Newton with backtracking on the convex objective.
func weightedSlopeSigmoid(decision: [Double], y: [Double]) -> Double {
    let l = decision.count
    let positives = Double(y.filter { $0 > 0 }.count), negatives = Double(l) - positives
    guard positives > 0, negatives > 0 else { return -1 }
    let hiTarget = (positives + 1) / (positives + 2), loTarget = 1 / (negatives + 2)
    let t = y.map { $0 > 0 ? hiTarget : loTarget }
    let w = y.map { $0 > 0 ? Double(l) / (2 * positives) : Double(l) / (2 * negatives) }
    func objective(_ a: Double) -> Double {
        var f = 0.0
        for i in 0..<l {
            let z = decision[i] * a
            f += w[i] * (z >= 0 ? t[i] * z + log(1 + exp(-z)) : (t[i] - 1) * z + log(1 + exp(z)))
        }
        return f
    }
    var A = 0.0
    var fval = objective(A)
    for _ in 0..<100 {
        var g = 0.0, h = 1e-12
        for i in 0..<l {
            let p = sigmoidPredict(decision[i], A, 0)
            g += w[i] * decision[i] * (t[i] - p)
            h += w[i] * decision[i] * decision[i] * p * (1 - p)
        }
        if abs(g) < 1e-5 { break }
        let direction = -g / h
        var step = 1.0
        while step >= 1e-10 {
            let candidate = min(A + step * direction, 0)
            let value = objective(candidate)
            if value < fval + 1e-4 * step * g * direction || candidate == A { A = candidate; fval = value; break }
            step /= 2
        }
        if step < 1e-10 { break }
    }
    // A = 0 would make every probability 1/2; keep a tiny negative slope so the sign of f still decides.
    return min(A, -1e-6)
}

/// Wu, Lin, Weng 2004 method 2 (libsvm multiclass_probability): p minimising
/// sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2 subject to sum p = 1, by fixed-point sweeps.
public func coupledProbabilities(_ r: Matrix) -> [Double] {
    let k = r.rows
    var p = [Double](repeating: 1 / Double(k), count: k)
    var Q = Matrix(rows: k, columns: k)
    for t in 0..<k {
        for j in 0..<k where j != t {
            Q[t, t] += r[j, t] * r[j, t]
            Q[t, j] = -r[j, t] * r[t, j]
        }
    }
    let maxIterations = max(100, k), eps = 0.005 / Double(k)
    var Qp = [Double](repeating: 0, count: k)
    for _ in 0..<maxIterations {
        var pQp = 0.0
        for t in 0..<k { Qp[t] = 0; for j in 0..<k { Qp[t] += Q[t, j] * p[j] }; pQp += p[t] * Qp[t] }
        var maxError = 0.0
        for t in 0..<k { maxError = max(maxError, abs(Qp[t] - pQp)) }
        if maxError < eps { break }
        for t in 0..<k {
            let diff = (-Qp[t] + pQp) / Q[t, t]
            p[t] += diff
            pQp = (pQp + diff * (diff * Q[t, t] + 2 * Qp[t])) / (1 + diff) / (1 + diff)
            for j in 0..<k { Qp[j] = (Qp[j] + diff * Q[t, j]) / (1 + diff); p[j] /= (1 + diff) }
        }
    }
    return p
}
