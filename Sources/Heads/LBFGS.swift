// Limited-memory BFGS for smooth unconstrained minimisation over Double vectors.
// Nocedal & Wright 2006, "Numerical Optimization" (2nd ed.):
//   - Algorithm 7.5 (L-BFGS) for the outer loop, Algorithm 7.4 (two-loop recursion) for the direction
//     d = -H g, with the initial matrix H0 = gamma I, gamma = s^T y / y^T y of the newest pair (eq. 7.20);
//   - Algorithms 3.5 (line search) and 3.6 (zoom) for a step meeting the strong Wolfe conditions
//     (eq. 3.7, c1 = 1e-4, c2 = 0.9), trial steps by safeguarded cubic interpolation (eq. 3.59);
//     while no upper bracket is known the step grows within [1.1, 4] times the last increment, as in
//     Moré & Thuente's dcsrch (the line search of scipy's L-BFGS-B).
// Stopping as scipy's L-BFGS-B, which scikit-learn's LogisticRegression(solver="lbfgs") runs with
// gtol = tol, ftol = 64 eps, maxls = 50: max_i |g_i| <= gradientTolerance ("projected gradient"; no
// bounds here), or the relative decrease (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= valueTolerance, or
// maxIterations. Like L-BFGS-B, the first step along -g is 1 / ||g||_2 (no curvature known yet) and later
// trial steps start at 1; a pair (s, y) is kept only when s^T y > eps y^T y (curvature condition, so H
// stays positive definite); a failed line search clears the memory and retries along -g once.
//
// Glossary: x the point (n entries), f its value, g its gradient, d the search direction, alpha the step,
// m the memory (pairs kept), s_i = x_i+1 - x_i, y_i = g_i+1 - g_i, rho_i = 1 / (y_i^T s_i),
// phi(alpha) = f(x + alpha d) and phi'(alpha) = g(x + alpha d)^T d along the line.
//
// Memory: one workspace of (2m + 7) n doubles allocated per call, nothing per iteration.

import Foundation
import LinearAlgebra

public struct LBFGSOptions: Sendable, Equatable {
    /// m: (s, y) pairs kept.
    public var memory: Int
    /// Stop when max_i |g_i| <= this.
    public var gradientTolerance: Double
    /// Stop when the relative decrease of f in one iteration is at most this.
    public var valueTolerance: Double
    public var maxIterations: Int
    /// Function evaluations allowed per line search.
    public var maxLineSearchEvaluations: Int

    public init(memory: Int = 10, gradientTolerance: Double = 1e-5, valueTolerance: Double = 64 * Double.ulpOfOne,
                maxIterations: Int = 15000, maxLineSearchEvaluations: Int = 50) {
        self.memory = memory
        self.gradientTolerance = gradientTolerance
        self.valueTolerance = valueTolerance
        self.maxIterations = maxIterations
        self.maxLineSearchEvaluations = maxLineSearchEvaluations
    }
}

public struct LBFGSResult: Sendable {
    public enum Status: String, Sendable, Equatable {
        /// max_i |g_i| <= gradientTolerance.
        case gradientTolerance
        /// The relative decrease of f fell to valueTolerance.
        case valueTolerance
        case maxIterations
        /// No step along -g met the Wolfe conditions (typically: f already minimal to rounding).
        case lineSearchFailed
        /// f or g was NaN or infinite at the starting point.
        case nonFinite
    }

    public let x: [Double]
    public let value: Double
    /// max_i |g_i| at `x`.
    public let gradientMaximum: Double
    public let iterations: Int
    public let evaluations: Int
    public let status: Status

    public var converged: Bool { status == .gradientTolerance || status == .valueTolerance }

    public var summary: String {
        String(format: "L-BFGS %@ after %d iterations (%d evaluations): f = %.10g, max |g| = %.3g",
               status.rawValue, iterations, evaluations, value, gradientMaximum)
    }
}

/// Minimises f from `initial` (n >= 1 entries). `objective(x, gradient)` returns f(x) and writes
/// the gradient at x into `gradient`; both pointers address n doubles.
public func minimizeLBFGS(_ initial: [Double], options: LBFGSOptions = LBFGSOptions(),
                          objective: (_ x: UnsafePointer<Double>, _ gradient: UnsafeMutablePointer<Double>) -> Double) -> LBFGSResult {
    let n = initial.count
    precondition(n >= 1, "minimizeLBFGS: empty starting point")
    precondition(options.memory >= 1 && options.maxIterations >= 0 && options.maxLineSearchEvaluations >= 1,
                 "minimizeLBFGS: invalid options \(options)")
    let m = options.memory
    // Workspace: S (m x n), Y (m x n), three points (x, g each; current / lower bracket / trial), d.
    let workspace = UnsafeMutablePointer<Double>.allocate(capacity: (2 * m + 7) * n)
    defer { workspace.deallocate() }
    let S = workspace, Y = workspace + m * n
    let pointBase = workspace + 2 * m * n
    let point = { (index: Int) in pointBase + index * 2 * n }          // x of buffer `index`
    let gradientOf = { (index: Int) in pointBase + index * 2 * n + n } // g of buffer `index`
    let d = pointBase + 6 * n
    var rho = [Double](repeating: 0, count: m), twoLoopAlpha = [Double](repeating: 0, count: m)

    func dotProduct(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>) -> Double { dot(a, b, count: n) }
    /// max_i |a_i|, NaN when any entry is NaN.
    func maxAbs(_ a: UnsafePointer<Double>) -> Double {
        var top = 0.0
        for i in 0..<n where !(abs(a[i]) <= top) { top = abs(a[i]) }
        return top
    }

    var current = 0
    initial.withUnsafeBufferPointer { source in
        if let base = source.baseAddress { point(0).update(from: base, count: n) }
    }
    var f = objective(point(0), gradientOf(0))
    var evaluations = 1
    var iterations = 0
    func result(_ status: LBFGSResult.Status) -> LBFGSResult {
        LBFGSResult(x: Array(UnsafeBufferPointer(start: point(current), count: n)), value: f,
                    gradientMaximum: maxAbs(gradientOf(current)), iterations: iterations, evaluations: evaluations, status: status)
    }
    guard f.isFinite, maxAbs(gradientOf(0)).isFinite else { return result(.nonFinite) }
    if maxAbs(gradientOf(0)) <= options.gradientTolerance { return result(.gradientTolerance) }

    var pairCount = 0, newest = -1   // ring buffer of pairs; `newest` is the last slot written
    let c1 = 1e-4, c2 = 0.9

    // Line search along d from `current` (Algorithms 3.5 and 3.6). Returns the buffer holding the
    // accepted point and its value, or nil when no step with sufficient decrease was found. The
    // buffer `current` is only read; the lower bracket end and the trial use the other two.
    func lineSearch(initialStep: Double) -> (buffer: Int, value: Double)? {
        let x0 = point(current)
        let phi0 = f, dphi0 = dotProduct(gradientOf(current), d)
        var budget = options.maxLineSearchEvaluations
        var lower = current, trial = (current + 1) % 3
        // phi and phi' at x0 + alpha d, into buffer `trial`.
        func evaluate(_ alpha: Double) -> (phi: Double, dphi: Double) {
            let x = point(trial)
            for i in 0..<n { x[i] = x0[i] + alpha * d[i] }
            let value = objective(x, gradientOf(trial))
            evaluations += 1
            budget -= 1
            return (value, dotProduct(gradientOf(trial), d))
        }
        func sufficientDecrease(_ alpha: Double, _ phi: Double) -> Bool { phi.isFinite && phi <= phi0 + c1 * alpha * dphi0 }
        func curvature(_ dphi: Double) -> Bool { abs(dphi) <= -c2 * dphi0 }
        // The trial becomes the lower end: keep its buffer, the next trial takes the third one.
        func promoteTrial() { lower = trial; trial = 3 - current - lower }

        var lo = (alpha: 0.0, phi: phi0, dphi: dphi0)
        var hi = lo
        var alpha = initialStep
        var bracketed = false
        // Algorithm 3.5: grow the step until it is acceptable or brackets an acceptable one.
        while !bracketed {
            guard budget > 0, alpha.isFinite, alpha < 1e20 else { return lo.alpha > 0 ? (lower, lo.phi) : nil }
            let (phi, dphi) = evaluate(alpha)
            if !sufficientDecrease(alpha, phi) || (lo.alpha > 0 && phi >= lo.phi) {
                hi = (alpha, phi, dphi)
                bracketed = true
            } else if curvature(dphi) {
                return (trial, phi)
            } else if dphi >= 0 {
                hi = lo
                promoteTrial()
                lo = (alpha, phi, dphi)
                bracketed = true
            } else {
                let previous = lo
                promoteTrial()
                lo = (alpha, phi, dphi)
                let increment = alpha - previous.alpha
                let lowest = alpha + 1.1 * increment, highest = alpha + 4 * increment
                let cubic = cubicMinimizer(previous.alpha, previous.phi, previous.dphi, alpha, phi, dphi)
                alpha = cubic.map { min(max($0, lowest), highest) } ?? highest
            }
        }
        // Algorithm 3.6 (zoom): lo has sufficient decrease and the lowest phi so far, and
        // phi'(lo) (hi - lo) < 0, so an acceptable step lies between them.
        while budget > 0 {
            let left = min(lo.alpha, hi.alpha), width = abs(hi.alpha - lo.alpha)
            if width <= 1e-16 * max(lo.alpha, hi.alpha) { break }
            var next = left + 0.5 * width
            if let cubic = cubicMinimizer(lo.alpha, lo.phi, lo.dphi, hi.alpha, hi.phi, hi.dphi),
               cubic >= left + 0.1 * width, cubic <= left + 0.9 * width {
                next = cubic
            }
            let (phi, dphi) = evaluate(next)
            if !sufficientDecrease(next, phi) || phi >= lo.phi {
                hi = (next, phi, dphi)
            } else {
                if curvature(dphi) { return (trial, phi) }
                if dphi * (hi.alpha - lo.alpha) >= 0 { hi = lo }
                promoteTrial()
                lo = (next, phi, dphi)
            }
        }
        // Out of evaluations (or the bracket collapsed): the lowest point with sufficient decrease, if any.
        return lo.alpha > 0 ? (lower, lo.phi) : nil
    }

    var status = LBFGSResult.Status.maxIterations
    var retriedSteepest = false
    while iterations < options.maxIterations {
        let g = gradientOf(current)
        var initialStep = 1.0
        // Algorithm 7.4: q = g; newest to oldest alpha_i = rho_i s_i^T q, q -= alpha_i y_i; r = gamma q;
        // oldest to newest beta = rho_i y_i^T r, r += (alpha_i - beta) s_i; d = -r.
        if pairCount > 0 {
            d.update(from: g, count: n)
            for step in 0..<pairCount {
                let slot = (newest - step + m) % m
                let a = rho[slot] * dotProduct(S + slot * n, d)
                twoLoopAlpha[slot] = a
                let y = Y + slot * n
                for i in 0..<n { d[i] -= a * y[i] }
            }
            let sNew = S + newest * n, yNew = Y + newest * n
            let gamma = dotProduct(sNew, yNew) / dotProduct(yNew, yNew)
            for i in 0..<n { d[i] *= gamma }
            for step in stride(from: pairCount - 1, through: 0, by: -1) {
                let slot = (newest - step + m) % m
                let beta = rho[slot] * dotProduct(Y + slot * n, d)
                let s = S + slot * n, coefficient = twoLoopAlpha[slot] - beta
                for i in 0..<n { d[i] += coefficient * s[i] }
            }
            for i in 0..<n { d[i] = -d[i] }
            if !(dotProduct(d, g) < 0) { pairCount = 0 }   // not a descent direction: restart along -g
        }
        if pairCount == 0 {
            for i in 0..<n { d[i] = -g[i] }
            initialStep = 1 / dotProduct(g, g).squareRoot()
        }
        guard let (accepted, acceptedValue) = lineSearch(initialStep: initialStep) else {
            if pairCount > 0 && !retriedSteepest { pairCount = 0; retriedSteepest = true; continue }
            status = .lineSearchFailed
            break
        }
        retriedSteepest = false
        // New pair s = x_k+1 - x_k, y = g_k+1 - g_k, kept when s^T y > eps y^T y.
        let slot = (newest + 1) % m
        let s = S + slot * n, y = Y + slot * n
        let xOld = point(current), gOld = gradientOf(current), xNew = point(accepted), gNew = gradientOf(accepted)
        for i in 0..<n { s[i] = xNew[i] - xOld[i]; y[i] = gNew[i] - gOld[i] }
        let sy = dotProduct(s, y), yy = dotProduct(y, y)
        if sy > Double.ulpOfOne * yy {
            rho[slot] = 1 / sy
            newest = slot
            pairCount = min(pairCount + 1, m)
        }
        let previousValue = f
        current = accepted
        f = acceptedValue
        iterations += 1
        if maxAbs(gradientOf(current)) <= options.gradientTolerance { status = .gradientTolerance; break }
        if (previousValue - f) / max(abs(previousValue), abs(f), 1) <= options.valueTolerance { status = .valueTolerance; break }
    }
    return result(status)
}

/// The minimiser of the cubic interpolating phi and phi' at a and b (Nocedal & Wright eq. 3.59), or nil
/// when that cubic has no finite minimiser.
func cubicMinimizer(_ a: Double, _ fa: Double, _ ga: Double, _ b: Double, _ fb: Double, _ gb: Double) -> Double? {
    guard a != b, fa.isFinite, fb.isFinite, ga.isFinite, gb.isFinite else { return nil }
    let d1 = ga + gb - 3 * (fa - fb) / (a - b)
    let discriminant = d1 * d1 - ga * gb
    guard discriminant >= 0 else { return nil }
    let d2 = (b > a ? 1.0 : -1.0) * discriminant.squareRoot()
    let denominator = gb - ga + 2 * d2
    guard denominator != 0 else { return nil }
    let x = b - (b - a) * (gb + d2 - d1) / denominator
    return x.isFinite ? x : nil
}
