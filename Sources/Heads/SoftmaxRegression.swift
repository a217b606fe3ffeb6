// Multinomial logistic (softmax) regression, trained by full-batch L-BFGS (default) or mini-batch Adam.
//   L-BFGS: Nocedal & Wright 2006, Algorithm 7.5 with the two-loop recursion (Alg. 7.4) and a strong
//     Wolfe line search (Alg. 3.5/3.6), see LBFGS.swift; stopped like scikit-learn's
//     LogisticRegression(solver="lbfgs"): max |dJ/dtheta| <= tolerance (1e-4), maxIterations.
//   Adam: Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1.
//
// Glossary: W (features x classes) weights, b (classes) biases, w_i row weight (sample x class weight),
// l2 the ridge strength, alpha the learning rate, beta1/beta2/epsilon Adam's constants, R the n x k
// residual w_i (softmax(x_i W + b) - onehot(y_i)) / sum_i w_i.
// Objective (what `objective` reports and the fixture's exact optimum is computed for):
//     J(W, b) = sum_i w_i * (-log softmax(x_i W + b)[y_i]) / sum_i w_i + l2/2 * ||W||_F^2
// with gradient dJ/dW = X^T R + l2 W, dJ/db = column sums of R. Against scikit-learn (whose penalty is
// ||W||^2 / (2 C sum_i w_i)): multi-class l2 = 1 / (C sum_i w_i); binary, where scikit-learn fits one
// weight vector v = W_1 - W_0 and the optimum has W_0 = -W_1, l2 = 2 / (C sum_i w_i).
//
// L-BFGS runs on theta = [W^T (k x d) row-major, b] from zero; one evaluation of J and its gradient
// is two passes over X (softmaxObjective below), on the calling thread.
// Adam: mini-batches drawn without replacement from a SplitMix64 shuffle per epoch; each batch's gradient
// is scaled by n / batch so it estimates the full gradient. The step size decays linearly to 0 over the
// epochs (when `annealing`), so the last iterate settles at the optimum instead of hovering around it.

import Foundation
import LinearAlgebra

public struct SoftmaxRegression: Classifier {
    public enum Solver: String, Sendable, CaseIterable {
        /// Full-batch L-BFGS to `tolerance` (the exact optimum, as scikit-learn's lbfgs).
        case lbfgs
        /// Mini-batch Adam for `epochs` (learningRate, batchSize, annealing, seed).
        case adam
    }

    public let solver: Solver
    /// L-BFGS stops when max |dJ/dtheta| <= tolerance (scikit-learn's tol, on the same scale: J is a weighted mean).
    public let tolerance: Double
    /// L-BFGS iterations allowed; a fit that stops there carries a warning.
    public let maxIterations: Int
    public let learningRate: Double
    public let epochs: Int
    /// Rows per mini-batch; nil = full batch.
    public let batchSize: Int?
    public let l2: Double
    public let classWeight: ClassWeight
    public let annealing: Bool
    public let seed: UInt64
    public var name: String { "softmax" }

    public init(solver: Solver = .lbfgs, tolerance: Double = 1e-4, maxIterations: Int = 1000,
                learningRate: Double = 0.05, epochs: Int = 300, batchSize: Int? = 32, l2: Double = 0.01,
                classWeight: ClassWeight = .balanced, annealing: Bool = true, seed: UInt64 = 0) throws {
        func bad(_ name: String, _ detail: String) -> HeadsError { .invalidHyperparameter(head: "softmax", name: name, detail: detail) }
        guard tolerance > 0, tolerance.isFinite else { throw bad("tolerance", "\(tolerance) must be positive") }
        guard maxIterations >= 1 else { throw bad("maxIterations", "\(maxIterations) must be at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw bad("learningRate", "\(learningRate) must be positive") }
        guard epochs >= 1 else { throw bad("epochs", "\(epochs) must be at least 1") }
        if let batchSize, batchSize < 1 { throw bad("batchSize", "\(batchSize) must be at least 1") }
        guard l2 >= 0, l2.isFinite else { throw bad("l2", "\(l2) must be non-negative") }
        self.solver = solver
        self.tolerance = tolerance
        self.maxIterations = maxIterations
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.l2 = l2
        self.classWeight = classWeight
        self.annealing = annealing
        self.seed = seed
    }

    public struct Fitted: FittedClassifier {
        public let classes: [Int]
        /// features x classes
        public let weights: Matrix
        public let biases: [Double]
        /// How the solver ended, e.g. "L-BFGS gradientTolerance after 23 iterations (31 evaluations): ...".
        public let solverSummary: String
        /// Non-convergence (L-BFGS stopped before `tolerance`, its summary in the message), as scikit-learn's ConvergenceWarning.
        public let diagnostics: [Diagnostic]

        public func logits(_ features: Matrix) -> Matrix {
            precondition(features.columns == weights.rows, "softmax: fitted on \(weights.rows) columns, got \(features.columns)")
            var z = Matrix(rows: features.rows, columns: classes.count)
            for r in 0..<z.rows { for c in 0..<z.columns { z.values[r * z.columns + c] = biases[c] } }
            do { try gemm(features, weights, beta: 1, into: &z) } catch { preconditionFailure("softmax: \(error)") }
            return z
        }

        public func predictProba(_ features: Matrix) throws -> Matrix {
            try requireFeatureWidth(features, head: "SoftmaxRegression")
            var p = logits(features)
            softmaxRows(&p)
            return p
        }
    }

    /// J(W, b) of the header on a training set (labels given as class values of `model.classes`).
    public static func objective(_ model: Fitted, features: Matrix, labels: [Int], l2: Double, classWeight: ClassWeight,
                                 sampleWeights: [Double]? = nil) throws -> Double {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: classWeight, head: "softmax")
        let p = try model.predictProba(features)
        var loss = 0.0
        for i in 0..<data.rowCount { loss -= data.weights[i] * log(max(p[i, data.targets[i]], .leastNormalMagnitude)) }
        loss /= data.weights.reduce(0, +)
        return loss + 0.5 * l2 * model.weights.values.reduce(0) { $0 + $1 * $1 }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        try fitSoftmax(features, labels: labels, sampleWeights: sampleWeights)
    }

    public func fitSoftmax(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> Fitted {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: classWeight, head: name)
        switch solver {
        case .lbfgs: return fitLBFGS(data)
        case .adam: return fitAdam(data)
        }
    }

    /// Full-batch L-BFGS on J from theta = 0.
    func fitLBFGS(_ data: TrainingSet) -> Fitted {
        let n = data.rowCount, d = data.features.columns, k = data.classCount
        let totalWeight = data.weights.reduce(0, +)
        let rowWeights = data.weights.map { $0 / totalWeight }
        let options = LBFGSOptions(gradientTolerance: tolerance, maxIterations: maxIterations)
        let x = data.features, p = d
        var residual = [Double](repeating: 0, count: n * k)
        let result = x.values.withUnsafeBufferPointer { xBuffer in
            data.targets.withUnsafeBufferPointer { targets in
                rowWeights.withUnsafeBufferPointer { weights in
                    residual.withUnsafeMutableBufferPointer { r in
                        minimizeLBFGS([Double](repeating: 0, count: k * p + k), options: options) { theta, gradient in
                            guard let features = xBuffer.baseAddress, let target = targets.baseAddress,
                                  let weight = weights.baseAddress, let scratch = r.baseAddress else { return .nan }
                            return softmaxObjective(features: features, rows: n, columns: p, classes: k, targets: target,
                                                    rowWeights: weight, l2: l2, parameters: theta, gradient: gradient, residual: scratch)
                        }
                    }
                }
            }
        }
        // theta -> W (d x k): the rows of W^T are theta's first k rows.
        let W = Matrix(rows: k, columns: p, values: Array(result.x[0..<(k * p)])).transposed()
        var diagnostics = [Diagnostic]()
        if !result.converged {
            diagnostics.append(Diagnostic(kind: result.status == .maxIterations ? .iterationLimit : .notConverged, source: name,
                                          message: "\(name): L-BFGS did not reach tolerance \(tolerance) (maxIterations \(maxIterations)): \(result.summary)"))
        }
        return Fitted(classes: data.classes, weights: W, biases: Array(result.x[(k * p)...]), solverSummary: result.summary, diagnostics: diagnostics)
    }

    /// Mini-batch Adam (Kingma & Ba Algorithm 1) for `epochs`.
    func fitAdam(_ data: TrainingSet) -> Fitted {
        let features = data.features
        let n = data.rowCount, d = features.columns, k = data.classCount
        let totalWeight = data.weights.reduce(0, +)
        let batch = min(batchSize ?? n, n)
        let batchesPerEpoch = (n + batch - 1) / batch
        let totalSteps = Double(epochs * batchesPerEpoch)
        let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
        let l2 = l2, learningRate = learningRate, annealing = annealing

        // Parameters kept transposed while training, Wt (k x d) row-major, so that every logit is one
        // contiguous dot product and every gradient row one contiguous axpy; b (k). Adam moments m, v
        // and the gradient share the layout. All on the calling thread: these products are far too
        // small for BLAS threads (see LinearAlgebra/SerialKernels.swift).
        var Wt = [Double](repeating: 0, count: k * d)
        var b = [Double](repeating: 0, count: k)
        var mW = [Double](repeating: 0, count: k * d), vW = mW, gW = mW
        var mb = [Double](repeating: 0, count: k), vb = mb, gb = mb
        var residual = [Double](repeating: 0, count: batch * k)
        var rng = SplitMix64(seed: seed)
        var order = Array(0..<n)
        var step = 0
        features.values.withUnsafeBufferPointer { xBuffer in
        Wt.withUnsafeMutableBufferPointer { W in
        mW.withUnsafeMutableBufferPointer { m in
        vW.withUnsafeMutableBufferPointer { v in
        gW.withUnsafeMutableBufferPointer { g in
        residual.withUnsafeMutableBufferPointer { r in
            guard let x = xBuffer.baseAddress, let w = W.baseAddress, let gradient = g.baseAddress else { return }
            for _ in 0..<epochs {
                if batch < n { order = shuffled(order, using: &rng) }
                var start = 0
                while start < n {
                    let end = min(start + batch, n)
                    let count = end - start
                    // Residual R = w_i (softmax(x_i W + b) - onehot(y_i)) * scale, count x k.
                    for i in 0..<count {
                        let row = x + order[start + i] * d
                        var top = -Double.infinity
                        for c in 0..<k {
                            let z = b[c] + dot(row, w + c * d, count: d)
                            r[i * k + c] = z
                            top = max(top, z)
                        }
                        var sum = 0.0
                        for c in 0..<k { let e = exp(r[i * k + c] - top); r[i * k + c] = e; sum += e }
                        for c in 0..<k { r[i * k + c] /= sum }
                    }
                    let scale = Double(n) / Double(count) / totalWeight
                    for c in 0..<k { gb[c] = 0 }
                    for i in 0..<count {
                        let row = order[start + i]
                        r[i * k + data.targets[row]] -= 1
                        let weight = data.weights[row] * scale
                        for c in 0..<k { r[i * k + c] *= weight; gb[c] += r[i * k + c] }
                    }
                    // gW = l2 W + R^T X_b   (k x d), in column blocks that keep the k gradient blocks in
                    // L1 while the batch rows stream past (each entry still sums over i in order).
                    let block = 512
                    var blockStart = 0
                    while blockStart < d {
                        let blockEnd = min(blockStart + block, d)
                        for c in 0..<k { for j in blockStart..<blockEnd { gradient[c * d + j] = l2 * w[c * d + j] } }
                        for i in 0..<count {
                            let row = x + order[start + i] * d
                            for c in 0..<k {
                                let coefficient = r[i * k + c]
                                let target = gradient + c * d
                                for j in blockStart..<blockEnd { target[j] += coefficient * row[j] }
                            }
                        }
                        blockStart = blockEnd
                    }
                    start = end
                    // Adam, Algorithm 1: biased moments, bias correction, step.
                    step += 1
                    let t = Double(step)
                    let alpha = learningRate * (annealing ? max(0, 1 - (t - 1) / totalSteps) : 1)
                    let correction1 = 1 - pow(beta1, t), correction2 = 1 - pow(beta2, t)
                    // Four lanes at a time: the same correctly rounded operations as the scalar tail.
                    var j = 0
                    if let mBase = m.baseAddress, let vBase = v.baseAddress {
                        typealias Lanes = SIMD4<Double>
                        let lanes = Lanes.scalarCount
                        while j + lanes <= k * d {
                            let gj = UnsafeRawPointer(gradient + j).loadUnaligned(as: Lanes.self)
                            var mj = UnsafeRawPointer(mBase + j).loadUnaligned(as: Lanes.self)
                            var vj = UnsafeRawPointer(vBase + j).loadUnaligned(as: Lanes.self)
                            var wj = UnsafeRawPointer(w + j).loadUnaligned(as: Lanes.self)
                            mj = beta1 * mj + (1 - beta1) * gj
                            vj = beta2 * vj + (1 - beta2) * gj * gj
                            wj -= alpha * (mj / correction1) / ((vj / correction2).squareRoot() + epsilon)
                            UnsafeMutableRawPointer(mBase + j).storeBytes(of: mj, as: Lanes.self)
                            UnsafeMutableRawPointer(vBase + j).storeBytes(of: vj, as: Lanes.self)
                            UnsafeMutableRawPointer(w + j).storeBytes(of: wj, as: Lanes.self)
                            j += lanes
                        }
                    }
                    while j < k * d {
                        let gj = gradient[j]
                        m[j] = beta1 * m[j] + (1 - beta1) * gj
                        v[j] = beta2 * v[j] + (1 - beta2) * gj * gj
                        w[j] -= alpha * (m[j] / correction1) / ((v[j] / correction2).squareRoot() + epsilon)
                        j += 1
                    }
                    for c in 0..<k {
                        mb[c] = beta1 * mb[c] + (1 - beta1) * gb[c]
                        vb[c] = beta2 * vb[c] + (1 - beta2) * gb[c] * gb[c]
                        b[c] -= alpha * (mb[c] / correction1) / ((vb[c] / correction2).squareRoot() + epsilon)
                    }
                }
            }
        } } } } } }
        // Back to the public layout W (d x k).
        var W = Matrix(rows: d, columns: k)
        for c in 0..<k { for j in 0..<d { W.values[j * k + c] = Wt[c * d + j] } }
        return Fitted(classes: data.classes, weights: W, biases: b,
                      solverSummary: "Adam \(epochs) epochs of \(batchesPerEpoch) steps", diagnostics: [])
    }
}

/// J(W, b) of the header and its gradient, at parameters = [W^T (k x d) row-major, b (k)].
/// features: n x d row-major; targets: n class indices in 0..<k; rowWeights: n, already divided by their
/// sum; gradient: the parameters' layout; residual: n x k scratch (R of the glossary on return).
/// Pass 1 (per row): k logits as k dot products sharing one read of the row, log-sum-exp, R.
/// Pass 2: dJ/dW^T = l2 W^T + R^T X in column blocks, so the k gradient blocks stay in L1 while the rows
/// stream past; each class group of up to 4 reads a row block once. No allocation.
func softmaxObjective(features x: UnsafePointer<Double>, rows n: Int, columns d: Int, classes k: Int,
                      targets: UnsafePointer<Int>, rowWeights: UnsafePointer<Double>, l2: Double,
                      parameters: UnsafePointer<Double>, gradient: UnsafeMutablePointer<Double>,
                      residual: UnsafeMutablePointer<Double>) -> Double {
    let Wt = parameters, b = parameters + k * d
    var loss = 0.0
    for i in 0..<n {
        let row = x + i * d, z = residual + i * k
        var group = 0
        while group < k {
            classDots(row, Wt + group * d, columns: d, count: min(4, k - group), into: z + group)
            group += 4
        }
        var top = -Double.infinity
        for c in 0..<k { z[c] += b[c]; top = max(top, z[c]) }
        let target = targets[i]
        let targetLogit = z[target]
        var sum = 0.0
        for c in 0..<k { let e = exp(z[c] - top); z[c] = e; sum += e }
        loss += rowWeights[i] * (top + log(sum) - targetLogit)
        let scale = rowWeights[i] / sum
        for c in 0..<k { z[c] *= scale }
        z[target] -= rowWeights[i]
    }
    var penalty = 0.0
    for j in 0..<(k * d) { penalty += Wt[j] * Wt[j] }
    // dJ/db = column sums of R.
    let gb = gradient + k * d
    for c in 0..<k { gb[c] = 0 }
    for i in 0..<n { for c in 0..<k { gb[c] += residual[i * k + c] } }
    // dJ/dW^T = l2 W^T + R^T X (k x d).
    let block = 512
    var blockStart = 0
    while blockStart < d {
        let width = min(block, d - blockStart)
        for c in 0..<k { for j in 0..<width { gradient[c * d + blockStart + j] = l2 * Wt[c * d + blockStart + j] } }
        for i in 0..<n {
            var group = 0
            while group < k {
                classUpdates(x + i * d + blockStart, coefficients: residual + i * k + group,
                             gradient + group * d + blockStart, rowStride: d, columns: width, count: min(4, k - group))
                group += 4
            }
        }
        blockStart += width
    }
    return loss + 0.5 * l2 * penalty
}

/// z[c] = row . weights[c * d ..< (c + 1) * d] for c < count (1...4): one pass over the row, eight lanes.
@inline(__always)
func classDots(_ row: UnsafePointer<Double>, _ weights: UnsafePointer<Double>, columns d: Int, count: Int,
               into z: UnsafeMutablePointer<Double>) {
    typealias Lanes = SIMD8<Double>
    let w0 = weights, w1 = weights + (count > 1 ? d : 0), w2 = weights + (count > 2 ? 2 * d : 0), w3 = weights + (count > 3 ? 3 * d : 0)
    var s0 = Lanes(), s1 = Lanes(), s2 = Lanes(), s3 = Lanes()
    let r = UnsafeRawPointer(row)
    var j = 0
    while j + 8 <= d {
        let v = r.loadUnaligned(fromByteOffset: j * 8, as: Lanes.self)
        s0 += v * UnsafeRawPointer(w0 + j).loadUnaligned(as: Lanes.self)
        if count > 1 { s1 += v * UnsafeRawPointer(w1 + j).loadUnaligned(as: Lanes.self) }
        if count > 2 { s2 += v * UnsafeRawPointer(w2 + j).loadUnaligned(as: Lanes.self) }
        if count > 3 { s3 += v * UnsafeRawPointer(w3 + j).loadUnaligned(as: Lanes.self) }
        j += 8
    }
    var t0 = s0.sum(), t1 = s1.sum(), t2 = s2.sum(), t3 = s3.sum()
    while j < d {
        let v = row[j]
        t0 += v * w0[j]; t1 += v * w1[j]; t2 += v * w2[j]; t3 += v * w3[j]
        j += 1
    }
    z[0] = t0
    if count > 1 { z[1] = t1 }
    if count > 2 { z[2] = t2 }
    if count > 3 { z[3] = t3 }
}

/// target[c * rowStride + j] += coefficients[c] * row[j] for c < count (1...4), j < columns: one pass over the row.
@inline(__always)
func classUpdates(_ row: UnsafePointer<Double>, coefficients: UnsafePointer<Double>, _ target: UnsafeMutablePointer<Double>,
                  rowStride: Int, columns: Int, count: Int) {
    typealias Lanes = SIMD8<Double>
    let a0 = coefficients[0], a1 = count > 1 ? coefficients[1] : 0, a2 = count > 2 ? coefficients[2] : 0, a3 = count > 3 ? coefficients[3] : 0
    let g0 = target, g1 = target + (count > 1 ? rowStride : 0), g2 = target + (count > 2 ? 2 * rowStride : 0), g3 = target + (count > 3 ? 3 * rowStride : 0)
    let r = UnsafeRawPointer(row)
    @inline(__always) func update(_ g: UnsafeMutablePointer<Double>, _ a: Double, _ v: Lanes, _ j: Int) {
        let p = UnsafeMutableRawPointer(g + j)
        p.storeBytes(of: p.loadUnaligned(as: Lanes.self) + a * v, as: Lanes.self)
    }
    var j = 0
    while j + 8 <= columns {
        let v = r.loadUnaligned(fromByteOffset: j * 8, as: Lanes.self)
        update(g0, a0, v, j)
        if count > 1 { update(g1, a1, v, j) }
        if count > 2 { update(g2, a2, v, j) }
        if count > 3 { update(g3, a3, v, j) }
        j += 8
    }
    while j < columns {
        let v = row[j]
        g0[j] += a0 * v
        if count > 1 { g1[j] += a1 * v }
        if count > 2 { g2[j] += a2 * v }
        if count > 3 { g3[j] += a3 * v }
        j += 1
    }
}
