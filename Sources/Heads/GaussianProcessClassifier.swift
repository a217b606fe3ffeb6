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
        /// Hyperparameters at a bound, optimiser failures and jitter, per binary problem.
        public let diagnostics: [Diagnostic]

        /// With OpenBLAS on one thread, as the fit (the same results whatever the caller's thread count).
        public func predictProba(_ features: Matrix) throws -> Matrix {
            try withSingleThreadedBLAS { try probabilities(features) }
        }

        private func probabilities(_ features: Matrix) throws -> Matrix {
            try requireFeatureWidth(features, head: "GaussianProcessClassifier")
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
                let (m, v) = withSingleThreadedBLAS { model.latentMeanAndVariance(features) }
                for r in 0..<features.rows { mean[r, c] = m[r]; variance[r, c] = v[r] }
            }
            return (mean, variance)
        }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        try fitGaussianProcess(features, labels: labels, sampleWeights: sampleWeights)
    }

    public func fitGaussianProcess(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> Fitted {
        // Cores free for this fit: OpenBLAS's thread count as the caller left it (1 inside a caller's parallel loop).
        let cores = blasThreadCount()
        // OpenBLAS runs on one thread throughout: its own worker threads would spin in sched_yield between the many
        // small calls and take the second core from ours (the blocked factorization's halves, the one-vs-rest fits).
        return try withSingleThreadedBLAS { try fitGaussianProcess(features, labels: labels, sampleWeights: sampleWeights, cores: cores) }
    }

    private func fitGaussianProcess(_ features: Matrix, labels: [Int], sampleWeights: [Double]?, cores: Int) throws -> Fitted {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: .none, head: name)
        let positives = data.classCount == 2 ? [1] : Array(0..<data.classCount)
        // One distance matrix for every binary problem (they differ only in targets and weights).
        let distances = try squaredDistances(features, features)
        func fitOne(_ index: Int, _ positive: Int) throws -> (model: BinaryModel, diagnostics: [Diagnostic]) {
            var diagnostics = [Diagnostic]()
            // The class of a one-vs-rest problem (nil for the single problem of two classes).
            let problemClass = data.classCount == 2 ? nil : data.classes[positive]
            let vsRest = problemClass.map { " (class \($0) vs rest)" } ?? ""
            let targets = data.targets.map { $0 == positive ? 1.0 : 0.0 }
            // Class weights per binary problem (balanced: both sides weigh n/2 in total).
            var weights = data.weights
            if classWeight == .balanced {
                let perSide = balancedClassWeights(counts: [targets.filter { $0 == 0 }.count, targets.filter { $0 == 1 }.count])
                for i in 0..<weights.count { weights[i] *= perSide[Int(targets[i])] }
            }
            let problem = BinaryProblem(features: features, targets: targets, weights: weights,
                                        maximumNewtonIterations: maximumNewtonIterations, distances: distances,
                                        parallel: cores >= 2 && positives.count == 1)
            var theta = [log(amplitudeSquared), log(lengthScale)]
            if optimize {
                var rng = SplitMix64(seed: seed &+ UInt64(index) &* 0x9E37_79B9)
                let logBounds = (log(bounds.lowerBound), log(bounds.upperBound))
                var starts = [theta]
                for _ in 0..<restarts { starts.append((0..<2).map { _ in logBounds.0 + uniform(&rng) * (logBounds.1 - logBounds.0) }) }
                var best: (theta: [Double], value: Double)? = nil
                for start in starts {
                    // Minimise -log marginal likelihood (scikit-learn: scipy's L-BFGS-B on the same objective).
                    let result = minimizeInBox(start: start, lower: [logBounds.0, logBounds.0], upper: [logBounds.1, logBounds.1]) { point in
                        guard let evaluation = try? problem.evaluate(theta: point, gradient: true) else { return (.infinity, [0, 0]) }
                        return (-evaluation.logMarginalLikelihood, evaluation.gradient.map { -$0 })
                    }
                    if result.value.isFinite, best == nil || result.value < best!.value { best = (result.point, result.value) }
                }
                if let best {
                    theta = best.theta
                    // scikit-learn's kernel check after fitting (kernels.py, _check_bounds_params): a log hyperparameter
                    // numpy-isclose to a log bound (|bound - theta| <= 1e-8 + 1e-5 |theta|) is a ConvergenceWarning.
                    for (parameter, value) in zip(["amplitude²", "length scale"], theta) {
                        for (bound, logBound) in [(Diagnostic.Bound.lower, logBounds.0), (.upper, logBounds.1)]
                            where abs(logBound - value) <= 1e-8 + 1e-5 * abs(value) {
                            diagnostics.append(Diagnostic(kind: .hyperparameterAtBound, source: name, classLabel: problemClass, parameter: parameter,
                                bound: bound, message: String(format: "%@: %@ %.3g is close to its %@ bound %.3g%@; %@ the bound and fitting again may find a better value",
                                    name, parameter, exp(value), bound.rawValue, exp(logBound), vsRest, bound == .lower ? "decreasing" : "increasing")))
                            break
                        }
                    }
                } else {
                    diagnostics.append(Diagnostic(kind: .optimizerFailed, source: name, classLabel: problemClass,
                                                  message: "\(name): optimiser found no finite likelihood\(vsRest); kept the initial hyperparameters"))
                }
            }
            let mode = try problem.evaluate(theta: theta, gradient: false)
            diagnostics += mode.diagnostics.map { $0.about(class: problemClass) }
            guard let factor = mode.factor else { throw LinearAlgebraError.lapackFailure(routine: "Laplace mode", info: -1) }
            return (BinaryModel(amplitudeSquared: exp(theta[0]), lengthScale: exp(theta[1]),
                                logMarginalLikelihood: mode.logMarginalLikelihood, training: features,
                                weightedResidual: mode.weightedResidual, sqrtW: mode.sqrtW, factor: factor), diagnostics)
        }
        // One-vs-rest problems are independent (each seeds its own restarts from its index): with OpenBLAS
        // threads to spare (not already inside a caller's parallel loop) they run side by side, one thread
        // each, instead of one after another on a threaded LAPACK (which shares each factorisation poorly
        // at a few thousand rows and leaves the O(n^2) passes on one core).
        var fits = [Result<(model: BinaryModel, diagnostics: [Diagnostic]), Error>?](repeating: nil, count: positives.count)
        let workers = min(cores, positives.count)
        if workers > 1 {
            let lock = NSLock()
            var next = 0
            fits.withUnsafeMutableBufferPointer { fits in
                DispatchQueue.concurrentPerform(iterations: workers) { _ in
                    while true {
                        lock.lock(); let index = next; next += 1; lock.unlock()
                        if index >= positives.count { return }
                        fits[index] = Result { try fitOne(index, positives[index]) }
                    }
                }
            }
        } else {
            for (index, positive) in positives.enumerated() { fits[index] = Result { try fitOne(index, positive) } }
        }
        var models = [BinaryModel]()
        var diagnostics = [Diagnostic]()
        for fit in fits {
            let (model, found) = try fit!.get()
            models.append(model)
            diagnostics += found
        }
        return Fitted(classes: data.classes, models: models, diagnostics: diagnostics)
    }

    /// Log marginal likelihood and its gradient w.r.t. theta = (log amplitude^2, log length) of the
    /// binary problem (targets in {0, 1}), at fixed hyperparameters: scikit-learn's
    /// `log_marginal_likelihood(theta, eval_gradient=True)` when the weights are 1.
    public static func logMarginalLikelihood(_ features: Matrix, targets: [Int], weights: [Double]? = nil,
                                             amplitudeSquared: Double, lengthScale: Double) throws -> (value: Double, gradient: [Double]) {
        let problem = BinaryProblem(features: features, targets: targets.map { $0 == 1 ? 1.0 : 0.0 },
                                    weights: weights ?? [Double](repeating: 1, count: targets.count), maximumNewtonIterations: 100)
        let e = try withSingleThreadedBLAS { try problem.evaluate(theta: [log(amplitudeSquared), log(lengthScale)], gradient: true) }
        return (e.logMarginalLikelihood, e.gradient)
    }

    /// The objective the optimiser sees for one binary problem (targets in {0, 1}): evaluations in sequence,
    /// each Newton search warm-started from the previous evaluation's mode (`warmStart`, as `fit`) or started
    /// from f = 0 (scikit-learn). Both reach the same mode to within the search's stopping rule.
    public final class MarginalLikelihood {
        let problem: BinaryProblem

        public init(_ features: Matrix, targets: [Int], weights: [Double]? = nil, warmStart: Bool = true, maximumNewtonIterations: Int = 100) {
            problem = BinaryProblem(features: features, targets: targets.map { $0 == 1 ? 1.0 : 0.0 },
                                    weights: weights ?? [Double](repeating: 1, count: targets.count),
                                    maximumNewtonIterations: maximumNewtonIterations, warmStart: warmStart)
        }

        /// Approximate log marginal likelihood and its gradient w.r.t. (log amplitude^2, log length).
        public func evaluate(amplitudeSquared: Double, lengthScale: Double) throws -> (value: Double, gradient: [Double]) {
            let e = try withSingleThreadedBLAS { try problem.evaluate(theta: [log(amplitudeSquared), log(lengthScale)], gradient: true) }
            return (e.logMarginalLikelihood, e.gradient)
        }
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

/// One binary Laplace problem at varying hyperparameters, its three n x n work matrices allocated once.
/// Only upper triangles are formed (K, B, its factor U = L^T, B^-1, dK/dtheta: all symmetric or triangular), LAPACK
/// works on them in place (`choleskyFactorInPlace`; the row-major upper triangle is the column-major lower one,
/// whose dpotrf OpenBLAS runs faster), products are dsymv.
///
/// Warm start (`warmStart`, the fit's default): Newton starts from the previous evaluation's mode moved to
/// first order along the hyperparameter step (f + sum_j df/dtheta_j dtheta_j, the derivatives being Alg. 5.1's
/// s3 vectors, already computed for the gradient), where scikit-learn starts every evaluation at f = 0. After
/// the first step the search is damped: a step that would lower Psi(f) = -1/2 a^T f + log p(y|f) (concave,
/// maximised at the mode) is shortened along the Newton direction, so the search cannot overshoot; it ends
/// when the approximate likelihood changes by less than 1e-10 (scikit-learn's rule) in either direction (its
/// log-determinant term follows W and may fall while Psi rises), i.e. at the same mode to within that rule, or one
/// factorization earlier, when the last Newton step bounds the change the rule would still see below 1e-10.
/// A warm run that runs out of iterations is redone from f = 0, scikit-learn's path. A step in theta longer than
/// `coldStartStep` in either coordinate (a factor e^2 ~ 7.4 in amplitude^2 or length) starts from f = 0 too: the
/// first-order move is no guide that far (L-BFGS-B's first trial point is the bounds' corner, e^11.5 in both, then
/// its backtrack: 8-9 Newton iterations each from the moved mode, 570 -> 541 factorizations over the breast-cancer
/// bench's 8 folds from f = 0; any cut-off from 2 to 7 gives the same). The cold path (`warmStart` false) is
/// scikit-learn's, undamped, step for step.
final class BinaryProblem {
    let features: Matrix
    let targets: [Double]
    let weights: [Double]
    let distances: Matrix
    let maximumNewtonIterations: Int
    let warmStart: Bool
    /// Factor B and invert it (`choleskyFactorUpperByBlocks`, `choleskyInverseUpperByBlocks`) and run the n^2 passes
    /// (`byTriangleHalves`) with their halves on two threads (else one after the other: the same work, the same results).
    let parallel: Bool
    /// The mode f of the last evaluation (the next warm start).
    private var previousMode: [Double]?
    /// theta of the last evaluation and, when it computed the gradient, the mode's derivatives df/dtheta_j
    /// there (GPML Alg. 5.1 line 14's s3 = (I - K R) C_j grad log p(y|f) is exactly that implicit derivative).
    private var previousTheta: [Double]?
    private var previousSlopes: [[Double]]?
    /// K; B, then U = L^T, then B^-1, then R; dK / dlog length: upper triangles (`triangle`).
    static let triangle = SymmetricTriangle.upper
    /// Rows from which B is factored by blocks on two cores when they are free (`choleskyFactorUpperByBlocks`).
    static let blockedFactorizationRows = 256
    /// The longest step in a log hyperparameter that the Newton search starts from the previous mode (see above).
    static let coldStartStep = 2.0
    private var kernelWorkspace: Matrix
    private var systemWorkspace: Matrix
    private var derivativeWorkspace: Matrix

    struct Evaluation {
        let logMarginalLikelihood: Double
        let gradient: [Double]
        let weightedResidual: [Double]
        let sqrtW: [Double]
        /// Cholesky factor of B at the mode (evaluations without gradient only).
        let factor: Cholesky?
        let diagnostics: [Diagnostic]
    }

    /// State at the end of GPML Alg. 3.1 (as scikit-learn's _posterior_mode returns it).
    private struct Mode {
        var logMarginalLikelihood: Double
        var f: [Double]
        var a: [Double]
        var pi: [Double]
        var sqrtW: [Double]
        /// The search stopped on its rule without a real dip of the approximate likelihood.
        var converged: Bool
        var diagnostics: [Diagnostic]
    }

    init(features: Matrix, targets: [Double], weights: [Double], maximumNewtonIterations: Int, warmStart: Bool = true, distances: Matrix? = nil,
         parallel: Bool = false) {
        self.features = features
        self.parallel = parallel
        self.targets = targets
        self.weights = weights
        self.maximumNewtonIterations = maximumNewtonIterations
        self.warmStart = warmStart
        self.distances = distances ?? (try? squaredDistances(features, features)) ?? Matrix(rows: features.rows, columns: features.rows)
        let n = features.rows
        kernelWorkspace = Matrix(rows: n, columns: n)
        systemWorkspace = Matrix(rows: n, columns: n)
        derivativeWorkspace = Matrix(rows: n, columns: n)
    }

    func evaluate(theta: [Double], gradient wantGradient: Bool) throws -> Evaluation {
        let n = targets.count
        let amplitudeSquared = exp(theta[0]), length = exp(theta[1])
        // The work matrices are moved into locals for the evaluation (no exclusivity checks, unique storage).
        var K = Matrix(rows: 0, columns: 0), system = K, derivative = K
        swap(&K, &kernelWorkspace); swap(&system, &systemWorkspace); swap(&derivative, &derivativeWorkspace)
        defer { swap(&K, &kernelWorkspace); swap(&system, &systemWorkspace); swap(&derivative, &derivativeWorkspace) }
        let scale = 1 / (2 * length * length)
        K.values.withUnsafeMutableBufferPointer { k in
            distances.values.withUnsafeBufferPointer { d in
                let k = k.baseAddress!, d = d.baseAddress!
                byTriangleHalves(n) { rows in
                    typealias V = SIMD8<Double>
                    let stride = MemoryLayout<Double>.stride
                    for i in rows {
                        let kRow = UnsafeMutableRawPointer(k + i * n), dRow = UnsafeRawPointer(d + i * n)
                        var j = i
                        while j + 8 <= n {
                            let v = amplitudeSquared * exponential(-dRow.loadUnaligned(fromByteOffset: j * stride, as: V.self) * scale)
                            kRow.storeBytes(of: v, toByteOffset: j * stride, as: V.self)
                            j += 8
                        }
                        if j < n {
                            var tail = V()
                            for l in 0..<(n - j) { tail[l] = d[i * n + j + l] }
                            let v = amplitudeSquared * exponential(-tail * scale)
                            for l in 0..<(n - j) { k[i * n + j + l] = v[l] }
                        }
                    }
                }
            }
        }
        // Warm start (see the type's comment): Newton from the previous mode moved to first order along the
        // hyperparameter step, then damped so the Newton objective never falls.
        var start = warmStart ? previousMode : nil
        if let last = previousTheta, abs(theta[0] - last[0]) > Self.coldStartStep || abs(theta[1] - last[1]) > Self.coldStartStep { start = nil }
        if start != nil, let slopes = previousSlopes, let last = previousTheta {
            // f(theta) ~ f(theta_prev) + sum_j df/dtheta_j (theta_j - theta_prev_j).
            for j in 0..<2 { let step = theta[j] - last[j]; for i in 0..<n { start![i] += slopes[j][i] * step } }
        }
        var mode = try posteriorMode(kernel: K, system: &system, start: start, damped: start != nil)
        if !mode.converged && start != nil { mode = try posteriorMode(kernel: K, system: &system, start: nil, damped: false) }
        previousTheta = theta
        previousSlopes = nil
        previousMode = mode.f
        let pi = mode.pi, sqrtW = mode.sqrtW, a = mode.a
        let residual = (0..<n).map { weights[$0] * (targets[$0] - pi[$0]) }
        guard wantGradient else {
            return Evaluation(logMarginalLikelihood: mode.logMarginalLikelihood, gradient: [], weightedResidual: residual, sqrtW: sqrtW,
                              factor: try Cholesky(upperFactor: system), diagnostics: mode.diagnostics)
        }
        // GPML Alg. 5.1 (as scikit-learn), line 7: R = W^1/2 B^-1 W^1/2, from B^-1 (as dpotri) on the factor.
        try choleskyInverseUpperByBlocks(&system, parallel: parallel)
        // Line 9: s2 = -1/2 diag(K - C^T C) * d^3 log p / df^3 with C = L \ (W^1/2 K). C^T C = K R K, and
        // K - K R K = (K^-1 + W)^-1 = W^-1/2 (I - B^-1) W^-1/2, so diag(K - C^T C)_j = (1 - B^-1_jj) / W_j; the
        // third derivative is -W_j (1 - 2 pi_j) (W_j = w_j pi_j (1 - pi_j)), so W_j cancels and no n^3 solve
        // for C is needed. (W_j = 0 gives B^-1_jj = 1 and s2_j = 0, as the direct formula.)
        var s2 = [Double](repeating: 0, count: n)
        // One pass over the upper triangles (two threads): R = W^1/2 B^-1 W^1/2 in place of B^-1; dK / dlog length =
        // K * |x - x'|^2 / length^2 (dK / dlog amplitude^2 is K itself); and, per row i, its share of line 12's
        // tr(R C) = sum R_ij C_ij for both C (symmetric, so diagonal + 2 x the rest), summed over the rows in order.
        let inverseLengthSquared = 1 / (length * length)
        var rowTraces = [Double](repeating: 0, count: 2 * n)
        system.values.withUnsafeMutableBufferPointer { r in
            K.values.withUnsafeBufferPointer { k in
                distances.values.withUnsafeBufferPointer { d in
                    derivative.values.withUnsafeMutableBufferPointer { c in
                        rowTraces.withUnsafeMutableBufferPointer { traces in
                            sqrtW.withUnsafeBufferPointer { w in
                                let r = r.baseAddress!, k = k.baseAddress!, d = d.baseAddress!, c = c.baseAddress!
                                let traces = traces.baseAddress!, w = w.baseAddress!
                                for j in 0..<n { s2[j] = -0.5 * (1 - r[j * n + j]) * (1 - 2 * pi[j]) }
                                byTriangleHalves(n) { rows in
                                    for i in rows {
                                        let at = i * n
                                        let (overK, overDerivative) = scaleAndTrace(r: r + at + i, k: k + at + i, d: d + at + i, c: c + at + i,
                                                                                    w: w + i, wi: w[i], inverseLengthSquared: inverseLengthSquared,
                                                                                    count: n - i)
                                        traces[2 * i] = overK; traces[2 * i + 1] = overDerivative
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var traces = [0.0, 0.0]
        for i in 0..<n { traces[0] += rowTraces[2 * i]; traces[1] += rowTraces[2 * i + 1] }
        var gradient = [Double](repeating: 0, count: 2)
        var slopes = [[Double]](repeating: [], count: 2)
        var product = [Double](repeating: 0, count: n), b = product, Rb = product, KRb = product
        for parameter in 0..<2 {
            let dK = parameter == 0 ? K : derivative                           // Line 11: C = dK / dtheta_j
            // Line 12: s1 = 1/2 a^T C a - 1/2 tr(R C); tr(R C) = sum R_ij C_ij (both symmetric, upper triangles).
            if parameter == 0 { product = mode.f } else { try symmetricMultiply(dK, triangle: Self.triangle, a, into: &product) }   // K a = f
            var s1 = 0.0
            for i in 0..<n { s1 += a[i] * product[i] }
            s1 = 0.5 * s1 - 0.5 * traces[parameter]
            try symmetricMultiply(dK, triangle: Self.triangle, residual, into: &b)   // Line 13: b = C grad log p(y|f)
            try symmetricMultiply(system, triangle: Self.triangle, b, into: &Rb)     // Line 14: s3 = b - K R b
            try symmetricMultiply(K, triangle: Self.triangle, Rb, into: &KRb)
            var s2s3 = 0.0
            for i in 0..<n { s2s3 += s2[i] * (b[i] - KRb[i]) }
            gradient[parameter] = s1 + s2s3                                   // Line 15
            slopes[parameter] = (0..<n).map { b[$0] - KRb[$0] }
        }
        previousSlopes = slopes
        return Evaluation(logMarginalLikelihood: mode.logMarginalLikelihood, gradient: gradient, weightedResidual: residual, sqrtW: sqrtW,
                          factor: nil, diagnostics: mode.diagnostics)
    }

    /// GPML Alg. 3.1: Newton iterations for the posterior mode from `start` (f = 0 when nil), with K in the
    /// upper triangle of `kernel`. Leaves the factor U = L^T of B = I + W^1/2 K W^1/2 at the last iteration's W in
    /// the upper triangle of `system`.
    private func posteriorMode(kernel K: Matrix, system: inout Matrix, start: [Double]?, damped: Bool) throws -> Mode {
        let n = targets.count
        var diagnostics = [Diagnostic]()
        var f = start ?? [Double](repeating: 0, count: n)
        var lml = -Double.infinity
        var pi = [Double](repeating: 0, count: n), W = pi, sqrtW = pi, a = pi, b = pi, kb = pi
        var converged = false, factored = false
        // Psi(f) = -1/2 a^T f + log p(y | f) at the current (a, f) pair, when a is known (damped steps).
        func psi(_ a: [Double], _ f: [Double]) -> Double {
            var value = 0.0
            for i in 0..<n { value += -0.5 * a[i] * f[i] - weights[i] * softplusNegative((2 * targets[i] - 1) * f[i]) }
            return value
        }
        // (a, f) of the previous iterate with f = K a: unknown at a warm start (f does not come from this K),
        // so the first step is a full Newton step and the damping starts from the second.
        var previousA: [Double]? = start == nil ? [Double](repeating: 0, count: n) : nil
        var previousPsi = previousA.map { psi($0, f) }
        for _ in 0..<maximumNewtonIterations {
            for i in 0..<n {
                pi[i] = 1 / (1 + exp(-f[i]))                                   // Line 4: W = -grad grad log p(y|f)
                W[i] = weights[i] * pi[i] * (1 - pi[i])
                sqrtW[i] = W[i].squareRoot()                                    // Line 5: B = I + W^1/2 K W^1/2 = L L^T
            }
            formSystem(kernel: K, sqrtW: sqrtW, into: &system)
            // From a few hundred rows: the factorization by blocks, its halves on both cores when two are free (OpenBLAS's
            // own threaded dpotrf gains nothing at that size), one after the other inside a caller's parallel loop: the
            // same calls either way, so the factor (and every result after it) does not depend on the core count.
            let info = n >= Self.blockedFactorizationRows
                ? try choleskyFactorUpperByBlocks(&system, parallel: parallel)
                : try choleskyFactorInPlace(&system, triangle: Self.triangle)
            if info > 0 {
                // Not positive definite in floating point: the jittered factor of the full B (warning recorded).
                formSystem(kernel: K, sqrtW: sqrtW, into: &system)
                var full = system
                for i in 0..<n { for j in (i + 1)..<n { full.values[j * n + i] = full.values[i * n + j] } }
                let jittered = try choleskyWithJitter(full, diagnostics: &diagnostics, source: "gaussian-process")
                system = jittered.lower.transposed()
            }
            factored = true
            for i in 0..<n { b[i] = W[i] * f[i] + weights[i] * (targets[i] - pi[i]) }   // Line 6: b = W f + grad log p(y|f)
            try symmetricMultiply(K, triangle: Self.triangle, b, into: &kb)    // Line 7: a = b - W^1/2 B^-1 W^1/2 K b
            for i in 0..<n { kb[i] *= sqrtW[i] }
            try choleskySolveInPlace(factor: system, triangle: Self.triangle, &kb)
            for i in 0..<n { a[i] = b[i] - sqrtW[i] * kb[i] }
            let fOld = f
            try symmetricMultiply(K, triangle: Self.triangle, a, into: &f)     // Line 8: f = K a
            if damped {
                if let aOld = previousA, let psiOld = previousPsi {
                    // Backtrack along the Newton direction while Psi falls (a and f move together: f = K a).
                    var t = 1.0, aT = a, fT = f
                    var value = psi(aT, fT)
                    while value < psiOld - 1e-12 * max(1, abs(psiOld)) && t > 1.0 / 64 {
                        t *= 0.5
                        for i in 0..<n { aT[i] = aOld[i] + t * (a[i] - aOld[i]); fT[i] = fOld[i] + t * (f[i] - fOld[i]) }
                        value = psi(aT, fT)
                    }
                    a = aT; f = fT
                    previousPsi = value
                } else {
                    previousPsi = psi(a, f)
                }
                previousA = a
            }
            // Line 10: approximate log marginal likelihood, used as the convergence criterion.
            var value = 0.0
            for i in 0..<n { value += -0.5 * a[i] * f[i] - weights[i] * softplusNegative((2 * targets[i] - 1) * f[i]) - log(system.values[i * n + i]) }
            if damped {
                // Psi rises at every damped step, but the log-determinant term follows W and may fall: only a
                // change below the rule in either direction ends the search (the mode is where both settle).
                if abs(value - lml) < 1e-10 { converged = true; break }
                // Or one factorization earlier: this iteration's Newton step from f_old is (to second order) f_old's
                // distance to the mode, and `value` used W(f_old), so it is the mode's value once the step moves it
                // by less than the rule: the log-determinant term's derivative in f_i is
                // 1/2 (K^-1 + W)^-1_ii W_i (1 - 2 pi_i) and (K^-1 + W)^-1_ii <= min(K_ii, 1 / W_i); Psi is
                // stationary there. The rule's next iteration would have changed the value by at most that bound.
                var bound = 0.0, largest = 0.0
                for i in 0..<n {
                    let step = abs(f[i] - fOld[i])
                    largest = max(largest, step)
                    bound += 0.5 * abs(1 - 2 * pi[i]) * min(K.values[i * n + i] * W[i], 1) * step
                }
                if lml > -.infinity && largest <= 1e-6 && bound < 1e-10 { lml = value; converged = true; break }
            } else if value - lml < 1e-10 {
                // A fall beyond rounding is an overshooting step, not convergence.
                converged = value - lml > -1e-9 * max(1, abs(lml))
                break
            }
            lml = value
        }
        guard factored else { throw LinearAlgebraError.lapackFailure(routine: "Laplace mode", info: -1) }
        return Mode(logMarginalLikelihood: lml, f: f, a: a, pi: pi, sqrtW: sqrtW, converged: converged, diagnostics: diagnostics)
    }

    /// Upper triangle of B = I + W^1/2 K W^1/2 from the upper triangle of K.
    private func formSystem(kernel K: Matrix, sqrtW: [Double], into system: inout Matrix) {
        let n = targets.count
        K.values.withUnsafeBufferPointer { k in
            system.values.withUnsafeMutableBufferPointer { s in
                sqrtW.withUnsafeBufferPointer { w in
                    let k = k.baseAddress!, s = s.baseAddress!, w = w.baseAddress!
                    byTriangleHalves(n) { rows in
                        for i in rows {
                            let wi = w[i]
                            for j in i..<n { s[i * n + j] = k[i * n + j] * (wi * w[j]) }
                            s[i * n + i] += 1
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` on the rows [0, split) and [split, n) of an n x n upper triangle, halves of about equal area
    /// ((n - split)^2 = n^2 / 2), side by side when `parallel`, else one after the other: each row is done by the same
    /// code either way, so the results do not depend on it.
    private func byTriangleHalves(_ n: Int, _ body: (Range<Int>) -> Void) {
        let split = min(n, Int((1 - 0.5.squareRoot()) * Double(n)))
        runHalves(parallel: parallel && n >= Self.blockedFactorizationRows) { body($0 == 0 ? 0..<split : split..<n) }
    }
}

/// One row of the gradient's pass (`count` entries from the diagonal on): r_j <- r_j wi w_j (R from B^-1),
/// c_j <- k_j d_j inverseLengthSquared (dK / dlog length), and the row's shares of tr(R K) and tr(R C): r_0 k_0 +
/// 2 sum_{j>0} r_j k_j and the same with c. Eight-lane accumulators in a fixed order, so every row's sums are the same
/// whichever thread runs it.
@inline(__always)
private func scaleAndTrace(r: UnsafeMutablePointer<Double>, k: UnsafePointer<Double>, d: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>,
                           w: UnsafePointer<Double>, wi: Double, inverseLengthSquared: Double, count: Int) -> (Double, Double) {
    typealias V = SIMD8<Double>
    let r0 = r[0] * (wi * w[0]), c0 = k[0] * (d[0] * inverseLengthSquared)
    r[0] = r0; c[0] = c0
    var sumK = V(), sumC = V()
    var j = 1
    let stride = MemoryLayout<Double>.stride
    let rr = UnsafeMutableRawPointer(r), rk = UnsafeRawPointer(k), rd = UnsafeRawPointer(d), rc = UnsafeMutableRawPointer(c), rw = UnsafeRawPointer(w)
    while j + 8 <= count {
        let o = j * stride
        let kv = rk.loadUnaligned(fromByteOffset: o, as: V.self)
        let rv = rr.loadUnaligned(fromByteOffset: o, as: V.self) * (wi * rw.loadUnaligned(fromByteOffset: o, as: V.self))
        let cv = kv * (rd.loadUnaligned(fromByteOffset: o, as: V.self) * inverseLengthSquared)
        rr.storeBytes(of: rv, toByteOffset: o, as: V.self)
        rc.storeBytes(of: cv, toByteOffset: o, as: V.self)
        sumK += rv * kv
        sumC += rv * cv
        j += 8
    }
    var offK = sumK.sum(), offC = sumC.sum()
    while j < count {
        let rj = r[j] * (wi * w[j]), cj = k[j] * (d[j] * inverseLengthSquared)
        r[j] = rj; c[j] = cj
        offK += rj * k[j]; offC += rj * cj
        j += 1
    }
    return (r0 * k[0] + 2 * offK, r0 * c0 + 2 * offC)
}

/// Cholesky of a matrix that should be positive definite; when LAPACK finds it is not (near-singular
/// kernel), adds jitter 1e-10, 1e-9, ... 1e-4 times the mean diagonal, recording a diagnostic from `source`.
public func choleskyWithJitter(_ a: Matrix, diagnostics: inout [Diagnostic], source: String) throws -> Cholesky {
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
                diagnostics.append(Diagnostic(kind: .jitterAdded, source: source,
                                              message: String(format: "%@: matrix near-singular: added jitter %.3g to the diagonal", source, jitter)))
                return factor
            } catch { lastError = error }
            jitter *= 10
        }
        throw lastError
    }
}
