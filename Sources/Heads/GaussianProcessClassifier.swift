// Gaussian process classification with the Laplace approximation.
//   Rasmussen & Williams 2006, "Gaussian Processes for Machine Learning" (GPML): Algorithm 3.1 (mode
//   finding), 3.2 (prediction), 5.1 (gradient of the approximate log marginal likelihood).
//   Mirrors scikit-learn's sklearn/gaussian_process/_gpc.py (_BinaryGaussianProcessClassifierLaplace,
//   one-vs-rest for more than two classes, predictive probability by its 5-term erf approximation of
//   the logistic-Gaussian integral).
//
// Glossary: K the n x n kernel matrix amplitude^2 * exp(-|x - x'|^2 / (2 length^2)), theta =
// (log amplitude^2, log length) the hyperparameters, f the latent values, t in {0, 1} the binary targets,
// pi = sigmoid(f), w the row weights, W = w pi (1 - pi) the negative Hessian of the log-likelihood,
// B = I + W^1/2 K W^1/2 = L L^T, a = K^-1 f at the mode.
// Weighted likelihood: log p(t | f) = sum_i w_i log sigmoid((2 t_i - 1) f_i). With w = 1 (classWeight
// .none) every line equals scikit-learn's; `.balanced` weights each binary problem's classes equally,
// which keeps the GP from collapsing to the majority class (ANCHORS trap: scikit-learn's GPC has no
// class weights and predicts the majority class on the OxML features).

import Foundation
import LinearAlgebra

public struct GaussianProcessClassifier: Classifier {
    public let amplitudeSquared: Double
    public let lengthScale: Double
    /// Maximise the log marginal likelihood over theta (else keep the initial values).
    public let optimize: Bool
    /// Further optimiser starts drawn uniformly in log space within the bounds (scikit-learn's n_restarts_optimizer).
    public let restarts: Int
    /// Bounds of amplitude^2 and of the length scale (scikit-learn's default 1e-5 ... 1e5 for both).
    public let bounds: ClosedRange<Double>
    public let classWeight: ClassWeight
    public let maximumNewtonIterations: Int
    public let seed: UInt64
    public var name: String { "gaussian-process" }

    public init(amplitudeSquared: Double = 1, lengthScale: Double = 1, optimize: Bool = true, restarts: Int = 2,
                bounds: ClosedRange<Double> = 1e-5...1e5, classWeight: ClassWeight = .balanced,
                maximumNewtonIterations: Int = 100, seed: UInt64 = 0) throws {
        func bad(_ name: String, _ detail: String) -> HeadsError { .invalidHyperparameter(head: "gaussian-process", name: name, detail: detail) }
        guard amplitudeSquared > 0, amplitudeSquared.isFinite else { throw bad("amplitudeSquared", "\(amplitudeSquared) must be positive") }
        guard lengthScale > 0, lengthScale.isFinite else { throw bad("lengthScale", "\(lengthScale) must be positive") }
        guard restarts >= 0 else { throw bad("restarts", "\(restarts) must be non-negative") }
        guard bounds.lowerBound > 0, bounds.upperBound.isFinite else { throw bad("bounds", "\(bounds) must be positive and finite") }
        guard maximumNewtonIterations >= 1 else { throw bad("maximumNewtonIterations", "must be at least 1") }
        self.amplitudeSquared = amplitudeSquared
        self.lengthScale = lengthScale
        self.optimize = optimize
        self.restarts = restarts
        self.bounds = bounds
        self.classWeight = classWeight
        self.maximumNewtonIterations = maximumNewtonIterations
        self.seed = seed
    }

    /// One binary Laplace GP: "class `positive`" against the rest.
    public struct BinaryModel: Sendable {
        public let amplitudeSquared: Double
        public let lengthScale: Double
        public let logMarginalLikelihood: Double
        let training: Matrix
        /// w (t - pi) at the mode (GPML Alg. 3.2 line 4 uses it for the latent mean).
        let weightedResidual: [Double]
        /// W^1/2 at the mode.
        let sqrtW: [Double]
        /// Cholesky factor of B = I + W^1/2 K W^1/2 at the mode.
        let factor: Cholesky

        /// GPML Alg. 3.2: latent mean and variance at the query rows.
        public func latentMeanAndVariance(_ features: Matrix) -> (mean: [Double], variance: [Double]) {
            do {
                let kStar = try rbfKernel(training, features, amplitudeSquared: amplitudeSquared, lengthScale: lengthScale) // n x m
                let mean = try multiply(kStar, transpose: true, weightedResidual)                                          // Line 4
                var scaled = kStar
                for i in 0..<scaled.rows { for j in 0..<scaled.columns { scaled[i, j] *= sqrtW[i] } }
                let v = try factor.solveTriangular(scaled)                                                                // Line 5
                var variance = [Double](repeating: amplitudeSquared, count: features.rows)                                // Line 6
                for i in 0..<v.rows { for j in 0..<v.columns { variance[j] -= v[i, j] * v[i, j] } }
                return (mean, variance.map { max($0, 0) })
            } catch { preconditionFailure("gaussian-process prediction: \(error)") }
        }

        /// P(class = positive): the logistic-Gaussian integral (GPML Alg. 3.2 line 7) by scikit-learn's
        /// approximation sum_k c_k * Phi-type erf terms with lambdas (0.41, 0.4, 0.37, 0.44, 0.39).
        public func positiveProbability(_ features: Matrix) -> [Double] {
            let (mean, variance) = latentMeanAndVariance(features)
            return zip(mean, variance).map { probitApproximation(mean: $0, variance: $1) }
        }
    }

    public struct Fitted: FittedClassifier {
        public let classes: [Int]
        /// One model for two classes (positive = classes[1]); else one per class (one-vs-rest).
        public let models: [BinaryModel]
        /// Jitter and optimiser messages from fitting.
        public let warnings: [String]

        public func predictProba(_ features: Matrix) -> Matrix {
            var out = Matrix(rows: features.rows, columns: classes.count)
            if classes.count == 2 {
                let p = models[0].positiveProbability(features)
                for r in 0..<features.rows { out[r, 0] = 1 - p[r]; out[r, 1] = p[r] }
                return out
            }
            for (c, model) in models.enumerated() {
                let p = model.positiveProbability(features)
                for r in 0..<features.rows { out[r, c] = p[r] }
            }
            // One-vs-rest normalisation, as scikit-learn's OneVsRestClassifier.predict_proba.
            for r in 0..<out.rows {
                let sum = out.row(r).reduce(0, +)
                for c in 0..<out.columns { out[r, c] = sum > 0 ? out[r, c] / sum : 1 / Double(out.columns) }
            }
            return out
        }

        /// Latent mean and variance of each binary model (columns as `models`): the predictive uncertainty.
        public func latentMeanAndVariance(_ features: Matrix) -> (mean: Matrix, variance: Matrix) {
            var mean = Matrix(rows: features.rows, columns: models.count), variance = mean
            for (c, model) in models.enumerated() {
                let (m, v) = model.latentMeanAndVariance(features)
                for r in 0..<features.rows { mean[r, c] = m[r]; variance[r, c] = v[r] }
            }
            return (mean, variance)
        }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        try fitGaussianProcess(features, labels: labels, sampleWeights: sampleWeights)
    }

    public func fitGaussianProcess(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> Fitted {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: .none, head: name)
        let positives = data.classCount == 2 ? [1] : Array(0..<data.classCount)
        var models = [BinaryModel]()
        var warnings = [String]()
        for (index, positive) in positives.enumerated() {
            let targets = data.targets.map { $0 == positive ? 1.0 : 0.0 }
            // Class weights per binary problem (balanced: both sides weigh n/2 in total).
            var weights = data.weights
            if classWeight == .balanced {
                let perSide = balancedClassWeights(counts: [targets.filter { $0 == 0 }.count, targets.filter { $0 == 1 }.count])
                for i in 0..<weights.count { weights[i] *= perSide[Int(targets[i])] }
            }
            let problem = BinaryProblem(features: features, targets: targets, weights: weights,
                                        maximumNewtonIterations: maximumNewtonIterations)
            var theta = [log(amplitudeSquared), log(lengthScale)]
            if optimize {
                var rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
                let logBounds = (log(bounds.lowerBound), log(bounds.upperBound))
                var starts = [theta]
                for _ in 0..<restarts { starts.append((0..<2).map { _ in logBounds.0 + uniform(&rng) * (logBounds.1 - logBounds.0) }) }
                var best: (theta: [Double], value: Double)? = nil
                for start in starts {
                    // Minimise -log marginal likelihood (scikit-learn: L-BFGS-B on the same objective).
                    let result = minimizeInBox(start: start, lower: logBounds.0, upper: logBounds.1) { point in
                        guard let evaluation = try? problem.evaluate(theta: point, gradient: true) else { return (.infinity, [0, 0]) }
                        return (-evaluation.logMarginalLikelihood, evaluation.gradient.map { -$0 })
                    }
                    if result.value.isFinite, best == nil || result.value < best!.value { best = (result.point, result.value) }
                }
                if let best { theta = best.theta } else { warnings.append("class \(data.classes[positive]): optimiser found no finite likelihood; kept the initial hyperparameters") }
            }
            let mode = try problem.evaluate(theta: theta, gradient: false)
            warnings += mode.warnings.map { "class \(data.classes[positive]): \($0)" }
            models.append(BinaryModel(amplitudeSquared: exp(theta[0]), lengthScale: exp(theta[1]),
                                      logMarginalLikelihood: mode.logMarginalLikelihood, training: features,
                                      weightedResidual: mode.weightedResidual, sqrtW: mode.sqrtW, factor: mode.factor))
        }
        return Fitted(classes: data.classes, models: models, warnings: warnings)
    }

    /// Log marginal likelihood and its gradient w.r.t. theta = (log amplitude^2, log length) of the
    /// binary problem (targets in {0, 1}), at fixed hyperparameters: scikit-learn's
    /// `log_marginal_likelihood(theta, eval_gradient=True)` when the weights are 1.
    public static func logMarginalLikelihood(_ features: Matrix, targets: [Int], weights: [Double]? = nil,
                                             amplitudeSquared: Double, lengthScale: Double) throws -> (value: Double, gradient: [Double]) {
        let problem = BinaryProblem(features: features, targets: targets.map { $0 == 1 ? 1.0 : 0.0 },
                                    weights: weights ?? [Double](repeating: 1, count: targets.count), maximumNewtonIterations: 100)
        let e = try problem.evaluate(theta: [log(amplitudeSquared), log(lengthScale)], gradient: true)
        return (e.logMarginalLikelihood, e.gradient)
    }
}

/// amplitude^2 * exp(-|a_i - b_j|^2 / (2 length^2)): a is m x d, b is n x d → m x n.
func rbfKernel(_ a: Matrix, _ b: Matrix, amplitudeSquared: Double, lengthScale: Double) throws -> Matrix {
    var k = try squaredDistances(a, b)
    let scale = 1 / (2 * lengthScale * lengthScale)
    for i in 0..<k.values.count { k.values[i] = amplitudeSquared * exp(-k.values[i] * scale) }
    return k
}

/// scikit-learn's LAMBDAS / COEFS approximation of  int sigmoid(z) N(z | mean, variance) dz.
func probitApproximation(mean: Double, variance: Double) -> Double {
    let lambdas = [0.41, 0.4, 0.37, 0.44, 0.39]
    let coefficients = [-1854.8214151, 3516.89893646, 221.29346712, 128.12323805, -2010.49422654]
    let v = max(variance, 1e-300)
    let alpha = 1 / (2 * v)
    var sum = 0.0
    for k in 0..<5 {
        let integral = (Double.pi / alpha).squareRoot() * erf(lambdas[k] * mean * (alpha / (alpha + lambdas[k] * lambdas[k])).squareRoot())
            / (2 * (v * 2 * Double.pi).squareRoot())
        sum += coefficients[k] * integral
    }
    let p = sum + 0.5 * coefficients.reduce(0, +)
    return min(max(p, 0), 1)
}

/// log(1 + exp(-z)) without overflow.
@inline(__always) func softplusNegative(_ z: Double) -> Double { z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z)) }

/// One binary Laplace problem at varying hyperparameters. Newton starts from f = 0 at every evaluation, as
/// scikit-learn (warm_start=False): a warm start stops after one step when the approximate likelihood dips,
/// returning a value too inexact for the line search.
final class BinaryProblem {
    let features: Matrix
    let targets: [Double]
    let weights: [Double]
    let distances: Matrix
    let maximumNewtonIterations: Int

    struct Evaluation {
        let logMarginalLikelihood: Double
        let gradient: [Double]
        let weightedResidual: [Double]
        let sqrtW: [Double]
        let factor: Cholesky
        let warnings: [String]
    }

    init(features: Matrix, targets: [Double], weights: [Double], maximumNewtonIterations: Int) {
        self.features = features
        self.targets = targets
        self.weights = weights
        self.maximumNewtonIterations = maximumNewtonIterations
        distances = (try? squaredDistances(features, features)) ?? Matrix(rows: features.rows, columns: features.rows)
    }

    func evaluate(theta: [Double], gradient wantGradient: Bool) throws -> Evaluation {
        let n = targets.count
        let amplitudeSquared = exp(theta[0]), length = exp(theta[1])
        var K = distances
        let scale = 1 / (2 * length * length)
        for i in 0..<K.values.count { K.values[i] = amplitudeSquared * exp(-K.values[i] * scale) }
        var warnings = [String]()
        // GPML Alg. 3.1, Newton iterations for the posterior mode.
        var f = [Double](repeating: 0, count: n)
        var lml = -Double.infinity
        var pi = [Double](repeating: 0, count: n), W = pi, sqrtW = pi, a = pi
        var factor: Cholesky? = nil
        for _ in 0..<maximumNewtonIterations {
            for i in 0..<n {
                pi[i] = 1 / (1 + exp(-f[i]))                                   // Line 4: W = -grad grad log p(y|f)
                W[i] = weights[i] * pi[i] * (1 - pi[i])
                sqrtW[i] = W[i].squareRoot()                                    // Line 5: B = I + W^1/2 K W^1/2 = L L^T
            }
            var B = K
            for i in 0..<n { for j in 0..<n { B.values[i * n + j] *= sqrtW[i] * sqrtW[j] }; B.values[i * n + i] += 1 }
            let L = try choleskyWithJitter(B, warnings: &warnings)
            var b = [Double](repeating: 0, count: n)                          // Line 6: b = W f + grad log p(y|f)
            for i in 0..<n { b[i] = W[i] * f[i] + weights[i] * (targets[i] - pi[i]) }
            var kb = try multiply(K, b)                                        // Line 7: a = b - W^1/2 B^-1 W^1/2 K b
            for i in 0..<n { kb[i] *= sqrtW[i] }
            let solved = try L.solve(kb)
            for i in 0..<n { a[i] = b[i] - sqrtW[i] * solved[i] }
            f = try multiply(K, a)                                             // Line 8: f = K a
            // Line 10: approximate log marginal likelihood, used as the convergence criterion.
            var value = 0.0
            for i in 0..<n { value += -0.5 * a[i] * f[i] - weights[i] * softplusNegative((2 * targets[i] - 1) * f[i]) - log(L.lower[i, i]) }
            factor = L
            if value - lml < 1e-10 { break }
            lml = value
        }
        guard let L = factor else { throw LinearAlgebraError.lapackFailure(routine: "Laplace mode", info: -1) }
        let residual = (0..<n).map { weights[$0] * (targets[$0] - pi[$0]) }
        guard wantGradient else {
            return Evaluation(logMarginalLikelihood: lml, gradient: [], weightedResidual: residual, sqrtW: sqrtW, factor: L, warnings: warnings)
        }
        // GPML Alg. 5.1 (as scikit-learn): gradient w.r.t. theta.
        var diagSqrtW = Matrix(rows: n, columns: n)                           // Line 7: R = W^1/2 B^-1 W^1/2
        for i in 0..<n { diagSqrtW[i, i] = sqrtW[i] }
        var R = try L.solve(diagSqrtW)
        for i in 0..<n { for j in 0..<n { R.values[i * n + j] *= sqrtW[i] } }
        var scaledK = K                                                        // Line 8: C = L \ (W^1/2 K)
        for i in 0..<n { for j in 0..<n { scaledK.values[i * n + j] *= sqrtW[i] } }
        let C = try L.solveTriangular(scaledK)
        var s2 = [Double](repeating: 0, count: n)                              // Line 9: s2, third derivative term
        for j in 0..<n {
            var cc = 0.0
            for i in 0..<n { cc += C.values[i * n + j] * C.values[i * n + j] }
            s2[j] = -0.5 * (K.values[j * n + j] - cc) * (weights[j] * pi[j] * (1 - pi[j]) * (1 - 2 * pi[j]))
        }
        var gradient = [Double](repeating: 0, count: 2)
        for parameter in 0..<2 {
            var dK = K                                                         // Line 11: C = dK / dtheta_j
            if parameter == 1 { for i in 0..<dK.values.count { dK.values[i] *= distances.values[i] / (length * length) } }
            // Line 12: s1 = 1/2 a^T C a - 1/2 tr(R C)
            let dKa = try multiply(dK, a)
            var s1 = 0.0, trace = 0.0
            for i in 0..<n { s1 += a[i] * dKa[i] }
            for i in 0..<(n * n) { trace += R.values[i] * dK.values[i] }     // R symmetric: tr(R C) = sum R_ij C_ij
            s1 = 0.5 * s1 - 0.5 * trace
            let b = try multiply(dK, residual)                                 // Line 13: b = C grad log p(y|f)
            let Rb = try multiply(R, b)                                        // Line 14: s3 = b - K R b
            let KRb = try multiply(K, Rb)
            var s2s3 = 0.0
            for i in 0..<n { s2s3 += s2[i] * (b[i] - KRb[i]) }
            gradient[parameter] = s1 + s2s3                                   // Line 15
        }
        return Evaluation(logMarginalLikelihood: lml, gradient: gradient, weightedResidual: residual, sqrtW: sqrtW, factor: L, warnings: warnings)
    }
}

/// Cholesky of a matrix that should be positive definite; when LAPACK finds it is not (near-singular
/// kernel), adds jitter 1e-10, 1e-9, ... 1e-4 times the mean diagonal, recording a warning.
public func choleskyWithJitter(_ a: Matrix, warnings: inout [String]) throws -> Cholesky {
    do { return try Cholesky(a) } catch LinearAlgebraError.notPositiveDefinite(_, _, _) {
        let n = a.rows
        let meanDiagonal = (0..<n).reduce(0.0) { $0 + a[$1, $1] } / Double(max(n, 1))
        var jitter = 1e-10 * max(meanDiagonal, 1e-300)
        var lastError: Error = LinearAlgebraError.notPositiveDefinite(operation: "Cholesky with jitter", order: 0, size: n)
        while jitter <= 1e-4 * max(meanDiagonal, 1e-300) {
            var b = a
            for i in 0..<n { b[i, i] += jitter }
            do {
                let factor = try Cholesky(b)
                warnings.append(String(format: "matrix near-singular: added jitter %.3g to the diagonal", jitter))
                return factor
            } catch { lastError = error }
            jitter *= 10
        }
        throw lastError
    }
}

/// Minimises `objective` (value, gradient) over the box [lower, upper]^d: projected L-BFGS (memory 10)
/// with Armijo backtracking; stops on projected gradient < 1e-5 or relative decrease < 1e-10.
func minimizeInBox(start: [Double], lower: Double, upper: Double, maximumIterations: Int = 200,
                   objective: ([Double]) -> (Double, [Double])) -> (point: [Double], value: Double) {
    func clip(_ x: [Double]) -> [Double] { x.map { min(max($0, lower), upper) } }
    func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    var x = clip(start)
    var (f, g) = objective(x)
    guard f.isFinite else { return (x, f) }
    var history = [(s: [Double], y: [Double])]()
    for _ in 0..<maximumIterations {
        let projected = zip(x, clip(zip(x, g).map { $0 - $1 })).map { $0 - $1 }
        if projected.map(abs).max() ?? 0 < 1e-5 { break }
        // Two-loop recursion for d = -H g.
        var q = g
        var alphas = [Double]()
        for (s, y) in history.reversed() { let rho = 1 / dot(y, s); let alpha = rho * dot(s, q); alphas.append(alpha); q = zip(q, y).map { $0 - alpha * $1 } }
        if let last = history.last { let gamma = dot(last.s, last.y) / dot(last.y, last.y); q = q.map { $0 * gamma } }
        else { let norm = max(dot(g, g).squareRoot(), 1); q = q.map { $0 / norm } }
        for ((s, y), alpha) in zip(history, alphas.reversed()) { let rho = 1 / dot(y, s); let beta = rho * dot(y, q); q = zip(q, s).map { $0 + (alpha - beta) * $1 } }
        var d = q.map { -$0 }
        // Do not push against an active bound.
        for i in 0..<d.count where (x[i] <= lower && d[i] < 0) || (x[i] >= upper && d[i] > 0) { d[i] = 0 }
        if dot(g, d) >= 0 { d = g.map { -$0 }; history.removeAll() }
        var step = 1.0, accepted = false
        var next = x, nextF = f, nextG = g
        for _ in 0..<40 {
            next = clip(zip(x, d).map { $0 + step * $1 })
            (nextF, nextG) = objective(next)
            if nextF.isFinite && nextF <= f + 1e-4 * dot(g, zip(next, x).map { $0 - $1 }) { accepted = true; break }
            step /= 2
        }
        if !accepted { break }
        let s = zip(next, x).map { $0 - $1 }, y = zip(nextG, g).map { $0 - $1 }
        if dot(s, y) > 1e-12 { history.append((s, y)); if history.count > 10 { history.removeFirst() } }
        let decrease = f - nextF
        x = next; f = nextF; g = nextG
        if decrease <= 1e-10 * max(abs(f), 1) { break }
    }
    return (x, f)
}
