// L-BFGS-B for a few variables in a box: the optimiser scikit-learn's GaussianProcessClassifier runs on its
// hyperparameters (scipy.optimize.minimize(method="L-BFGS-B", jac=True, bounds=...) with scipy's defaults),
// so that our GP takes the same path through theta, with as few objective evaluations.
//   Byrd, Lu, Nocedal & Zhu 1995, "A limited memory algorithm for bound constrained optimization" (SIAM J. Sci.
//   Comput. 16(5)): section 4 (generalized Cauchy point along the projected gradient path), section 5 (direct
//   primal subspace minimisation); Morales & Nocedal 2011 (ACM TOMS 38(1), L-BFGS-B 3.0): the subspace step is
//   projected into the box and, when the projection is not a descent direction, truncated at the first bound
//   (subsm.f); Moré & Thuente 1994 (ACM TOMS 20(3)) line search, MINPACK-2's dcsrch / dcstep (scipy's
//   scipy/optimize/_dcsrch.py), with L-BFGS-B's lnsrlb settings ftol 1e-3, gtol 0.9, xtol 0.1, at most 20
//   evaluations, a first step of 1 capped at the box (at the first iteration at 1).
//   Stopping as mainlb: projected gradient max_i |P(x - g) - x|_i <= pgtol (1e-5), or relative decrease
//   (f_k - f_k+1) / max(|f_k|, |f_k+1|, 1) <= factr * eps (factr 1e7). A pair (s, y) is kept when
//   s^T y > eps * (-g_k^T s); a failed line search or an ascent direction clears the memory and retries
//   from the same point, or stops when the memory was already empty.
// Dense: B is formed explicitly (n x n) by BFGS updates of theta I with the kept pairs, which is the matrix
// that L-BFGS-B's compact form theta I - W M W^T represents (Byrd, Nocedal & Schnabel 1994, Theorem 2.3); fine
// for the 2 hyperparameters of the GP, not meant for large n (minimizeLBFGS is the large unconstrained solver).
//
// Glossary: x the point, f its value, g its gradient, l / u the bounds, B the L-BFGS Hessian approximation,
// theta = y^T y / s^T y of the newest pair, x_c the generalized Cauchy point, d the search direction,
// stp the step along d, phi(stp) = f(x + stp d), phi' its derivative g^T d.

import Foundation

public struct BoxMinimizationResult: Sendable {
    public enum Status: String, Sendable, Equatable {
        /// Projected gradient at most the tolerance.
        case projectedGradient
        /// Relative decrease of f at most factr * eps.
        case relativeDecrease
        case maximumIterations
        /// Line search failed (or no descent direction) with an empty memory: f is minimal to rounding.
        case abnormal
        /// f or its gradient was not finite at the start.
        case nonFinite
    }
    public let point: [Double]
    public let value: Double
    public let iterations: Int
    public let evaluations: Int
    public let status: Status
}

/// Minimises `objective` (value, gradient) over the box lower <= x <= upper (finite bounds) by L-BFGS-B with
/// scipy's defaults (memory 10, factr 1e7, pgtol 1e-5, 20 evaluations per line search).
public func minimizeInBox(start: [Double], lower: [Double], upper: [Double], memory: Int = 10, factr: Double = 1e7,
                          projectedGradientTolerance: Double = 1e-5, maximumIterations: Int = 15000,
                          objective: ([Double]) -> (Double, [Double])) -> BoxMinimizationResult {
    let n = start.count
    precondition(n >= 1 && lower.count == n && upper.count == n && zip(lower, upper).allSatisfy { $0 <= $1 && $0.isFinite && $1.isFinite },
                 "minimizeInBox: bounds must be finite, ordered and as long as the start")
    let eps = Double.ulpOfOne
    func dot(_ a: [Double], _ b: [Double]) -> Double { var s = 0.0; for i in 0..<a.count { s += a[i] * b[i] }; return s }
    func projectedGradientNorm(_ x: [Double], _ g: [Double]) -> Double {
        var top = 0.0
        for i in 0..<n {
            var gi = g[i]
            if gi < 0 { gi = max(x[i] - upper[i], gi) } else { gi = min(x[i] - lower[i], gi) }
            top = max(top, abs(gi))
        }
        return top
    }
    var x = (0..<n).map { min(max(start[$0], lower[$0]), upper[$0]) }
    var (f, g) = objective(x)
    var evaluations = 1, iterations = 0
    func result(_ status: BoxMinimizationResult.Status) -> BoxMinimizationResult {
        BoxMinimizationResult(point: x, value: f, iterations: iterations, evaluations: evaluations, status: status)
    }
    guard f.isFinite, g.allSatisfy({ $0.isFinite }) else { return result(.nonFinite) }
    if projectedGradientNorm(x, g) <= projectedGradientTolerance { return result(.projectedGradient) }
    var pairs = [(s: [Double], y: [Double])]()
    var theta = 1.0
    while iterations < maximumIterations {
        // B = theta I updated by the pairs, oldest first.
        var B = [Double](repeating: 0, count: n * n)
        for i in 0..<n { B[i * n + i] = theta }
        for (s, y) in pairs {
            let Bs = (0..<n).map { i in (0..<n).reduce(0.0) { $0 + B[i * n + $1] * s[$1] } }
            let sBs = dot(s, Bs), ys = dot(y, s)
            for i in 0..<n { for j in 0..<n { B[i * n + j] += -Bs[i] * Bs[j] / sBs + y[i] * y[j] / ys } }
        }
        func times(_ v: [Double]) -> [Double] { (0..<n).map { i in (0..<n).reduce(0.0) { $0 + B[i * n + $1] * v[$1] } } }
        // Generalized Cauchy point (Byrd et al. section 4, cauchy.f): the first local minimiser of the quadratic
        // model along x(t) = P(x - t g), segment by segment between the breakpoints where variables reach a bound.
        var d = [Double](repeating: 0, count: n), breakpoint = [Double](repeating: .infinity, count: n)
        var atBound = [Bool](repeating: false, count: n)
        for i in 0..<n {
            let negative = -g[i]
            if x[i] <= lower[i] && negative <= 0 || x[i] >= upper[i] && negative >= 0 { atBound[i] = true; continue }
            d[i] = negative
            if negative < 0 { breakpoint[i] = (x[i] - lower[i]) / -negative } else if negative > 0 { breakpoint[i] = (upper[i] - x[i]) / negative }
        }
        var cauchy = x
        var z = [Double](repeating: 0, count: n)   // x_c - x of the variables already at a bound
        var f1 = -dot(d, d), f2 = dot(d, times(d))
        let f2Original = f2
        var dtm = f2 > 0 ? -f1 / f2 : .infinity
        var tsum = 0.0
        for b in (0..<n).filter({ breakpoint[$0].isFinite }).sorted(by: { breakpoint[$0] < breakpoint[$1] }) {
            let dt = breakpoint[b] - tsum
            if dtm < dt { break }
            // Move to the breakpoint; variable b stays at its bound from here on.
            tsum = breakpoint[b]
            cauchy[b] = d[b] > 0 ? upper[b] : lower[b]
            z[b] = cauchy[b] - x[b]
            atBound[b] = true
            d[b] = 0
            if d.allSatisfy({ $0 == 0 }) { dtm = 0; break }
            var displacement = z
            for i in 0..<n where d[i] != 0 { displacement[i] = tsum * d[i] }
            let gradientThere = zip(g, times(displacement)).map { $0 + $1 }
            f1 = dot(gradientThere, d)
            f2 = max(eps * f2Original, dot(d, times(d)))
            dtm = -f1 / f2
        }
        dtm = max(dtm, 0)
        if dtm.isFinite { tsum += dtm }
        for i in 0..<n where d[i] != 0 { cauchy[i] = x[i] + tsum * d[i] }
        // Subspace minimisation over the variables free at x_c (Byrd et al. section 5.1; subsm.f 3.0): the model's
        // minimiser with the others fixed, projected into the box, truncated at the first bound when the projection
        // is not a descent direction.
        var target = cauchy
        let free = (0..<n).filter { !atBound[$0] }
        if !pairs.isEmpty && !free.isEmpty {
            let model = zip(g, times(zip(cauchy, x).map { $0 - $1 })).map { $0 + $1 }   // model gradient at x_c
            let k = free.count
            var reduced = [Double](repeating: 0, count: k * k), rhs = free.map { -model[$0] }
            for (a, i) in free.enumerated() { for (b, j) in free.enumerated() { reduced[a * k + b] = B[i * n + j] } }
            if let step = solveSymmetricSmall(reduced, rhs, k) {
                var projected = cauchy, clipped = false
                for (a, i) in free.enumerated() {
                    projected[i] = min(max(cauchy[i] + step[a], lower[i]), upper[i])
                    if projected[i] == lower[i] || projected[i] == upper[i] { clipped = true }
                }
                if !clipped || dot(zip(projected, x).map { $0 - $1 }, g) <= 0 {
                    target = projected
                } else {
                    var alpha = 1.0, blocking = -1
                    for (a, i) in free.enumerated() {
                        var limit = alpha
                        if step[a] < 0 { let room = lower[i] - cauchy[i]; limit = room >= 0 ? 0 : (step[a] * alpha < room ? room / step[a] : alpha) }
                        else if step[a] > 0 { let room = upper[i] - cauchy[i]; limit = room <= 0 ? 0 : (step[a] * alpha > room ? room / step[a] : alpha) }
                        if limit < alpha { alpha = limit; blocking = a }
                    }
                    target = cauchy
                    for (a, i) in free.enumerated() { target[i] = cauchy[i] + alpha * step[a] }
                    if alpha < 1, blocking >= 0 { let i = free[blocking]; target[i] = step[blocking] > 0 ? upper[i] : lower[i] }
                }
            }
        }
        let direction = zip(target, x).map { $0 - $1 }
        let slope0 = dot(g, direction)
        // lnsrlb: an ascent direction, or a line search without an acceptable step, clears the memory.
        func restart() -> Bool {
            if pairs.isEmpty { return false }
            pairs.removeAll(); theta = 1
            return true
        }
        guard slope0 < 0 else { if restart() { continue } else { return result(.abnormal) } }
        var stepMaximum = 1e10
        if iterations == 0 {
            stepMaximum = 1
        } else {
            for i in 0..<n {
                if direction[i] < 0 {
                    let room = lower[i] - x[i]
                    if room >= 0 { stepMaximum = 0 } else if direction[i] * stepMaximum < room { stepMaximum = room / direction[i] }
                } else if direction[i] > 0 {
                    let room = upper[i] - x[i]
                    if room <= 0 { stepMaximum = 0 } else if direction[i] * stepMaximum > room { stepMaximum = room / direction[i] }
                }
            }
        }
        // The target is inside the box, so stepMaximum >= 1 but for rounding.
        guard stepMaximum > 0 else { if restart() { continue } else { return result(.abnormal) } }
        var step = min(1, stepMaximum)
        var search = MoreThuenteSearch(step: step, value: f, slope: slope0, ftol: 1e-3, gtol: 0.9, xtol: 0.1, stepMinimum: 0, stepMaximum: stepMaximum)
        var accepted: (x: [Double], f: Double, g: [Double], slope: Double, step: Double)?
        for trial in 1...20 {
            let point = step == 1 ? target : (0..<n).map { x[$0] + step * direction[$0] }
            let (value, gradient) = objective(point)
            evaluations += 1
            guard value.isFinite, gradient.allSatisfy({ $0.isFinite }) else {
                // Not in dcsrch: a failed evaluation halves the step towards the best one so far.
                step = search.bestStep + 0.5 * (step - search.bestStep)
                continue
            }
            let slope = dot(gradient, direction)
            switch search.next(step: &step, value: value, slope: slope) {
            case .evaluate: if trial == 20 { break }; continue
            case .done: accepted = (x: point, f: value, g: gradient, slope: slope, step: step)
            }
            break
        }
        guard let new = accepted else { if restart() { continue } else { return result(.abnormal) } }
        iterations += 1
        let previous = f
        let s = zip(new.x, x).map { $0 - $1 }, y = zip(new.g, g).map { $0 - $1 }
        x = new.x; f = new.f; g = new.g
        if projectedGradientNorm(x, g) <= projectedGradientTolerance { return result(.projectedGradient) }
        if previous - f <= factr * eps * max(abs(previous), abs(f), 1) { return result(.relativeDecrease) }
        let sy = (new.slope - slope0) * new.step, curvatureFloor = -slope0 * new.step
        if sy > eps * curvatureFloor {
            pairs.append((s, y))
            if pairs.count > memory { pairs.removeFirst() }
            theta = dot(y, y) / sy
        }
    }
    return result(.maximumIterations)
}

/// x with A x = b for a small symmetric positive definite k x k A (row-major), by Cholesky; nil when A is not
/// numerically positive definite.
func solveSymmetricSmall(_ a: [Double], _ b: [Double], _ k: Int) -> [Double]? {
    var l = [Double](repeating: 0, count: k * k)
    for i in 0..<k {
        for j in 0...i {
            var sum = a[i * k + j]
            for p in 0..<j { sum -= l[i * k + p] * l[j * k + p] }
            if i == j { guard sum > 0 else { return nil }; l[i * k + i] = sum.squareRoot() } else { l[i * k + j] = sum / l[j * k + j] }
        }
    }
    var y = b
    for i in 0..<k { for p in 0..<i { y[i] -= l[i * k + p] * y[p] }; y[i] /= l[i * k + i] }
    for i in stride(from: k - 1, through: 0, by: -1) { for p in (i + 1)..<k { y[i] -= l[p * k + i] * y[p] }; y[i] /= l[i * k + i] }
    return y.allSatisfy { $0.isFinite } ? y : nil
}

/// Moré & Thuente's line search (MINPACK-2 dcsrch, as scipy/optimize/_dcsrch.py): a step with
/// phi(stp) <= phi(0) + ftol stp phi'(0) and |phi'(stp)| <= gtol |phi'(0)|, by safeguarded cubic / quadratic
/// steps (dcstep) inside an interval [stx, sty] known to hold one. `next` takes phi and phi' at the step it
/// proposed last and either proposes the next step or ends the search; as in L-BFGS-B, the warnings (rounding
/// errors, xtol, step at its bounds) end the search at the step just evaluated, like convergence.
struct MoreThuenteSearch {
    enum Task { case evaluate, done }
    let ftol: Double, gtol: Double, xtol: Double, stepMinimum: Double, stepMaximum: Double
    let initialValue: Double, initialSlope: Double, slopeTest: Double
    var bracketed = false, stage = 1
    var width: Double, width1: Double
    var stx = 0.0, fx: Double, gx: Double
    var sty = 0.0, fy: Double, gy: Double
    var stmin = 0.0, stmax: Double
    /// The step with the least value so far (the lower end of the interval).
    var bestStep: Double { stx }

    init(step: Double, value: Double, slope: Double, ftol: Double, gtol: Double, xtol: Double, stepMinimum: Double, stepMaximum: Double) {
        precondition(slope < 0 && step >= stepMinimum && step <= stepMaximum, "MoreThuenteSearch: a descent direction and a step within its bounds")
        self.ftol = ftol; self.gtol = gtol; self.xtol = xtol; self.stepMinimum = stepMinimum; self.stepMaximum = stepMaximum
        initialValue = value; initialSlope = slope; slopeTest = ftol * slope
        width = stepMaximum - stepMinimum; width1 = width / 0.5
        fx = value; gx = slope; fy = value; gy = slope
        stmax = step + 4 * step
    }

    mutating func next(step stp: inout Double, value f: Double, slope g: Double) -> Task {
        let ftest = initialValue + stp * slopeTest
        if stage == 1 && f <= ftest && g >= 0 { stage = 2 }
        if bracketed && (stp <= stmin || stp >= stmax) { return .done }            // rounding errors prevent progress
        if bracketed && stmax - stmin <= xtol * stmax { return .done }             // xtol test satisfied
        if stp == stepMaximum && f <= ftest && g <= slopeTest { return .done }     // step at its maximum
        if stp == stepMinimum && (f > ftest || g >= slopeTest) { return .done }    // step at its minimum
        if f <= ftest && abs(g) <= gtol * -initialSlope { return .done }           // convergence
        if stage == 1 && f <= fx && f > ftest {
            // The modified function psi(stp) = phi(stp) - phi(0) - ftol stp phi'(0) while no step has psi <= 0
            // and phi' >= 0.
            var fxm = fx - stx * slopeTest, fym = fy - sty * slopeTest
            var gxm = gx - slopeTest, gym = gy - slopeTest
            stp = dcstep(&stx, &fxm, &gxm, &sty, &fym, &gym, stp, f - stp * slopeTest, g - slopeTest, &bracketed, stmin, stmax)
            fx = fxm + stx * slopeTest; fy = fym + sty * slopeTest
            gx = gxm + slopeTest; gy = gym + slopeTest
        } else {
            stp = dcstep(&stx, &fx, &gx, &sty, &fy, &gy, stp, f, g, &bracketed, stmin, stmax)
        }
        if bracketed {
            // Bisect when the interval did not shrink enough in two steps.
            if abs(sty - stx) >= 0.66 * width1 { stp = stx + 0.5 * (sty - stx) }
            width1 = width
            width = abs(sty - stx)
            stmin = min(stx, sty); stmax = max(stx, sty)
        } else {
            stmin = stp + 1.1 * (stp - stx); stmax = stp + 4 * (stp - stx)
        }
        stp = min(max(stp, stepMinimum), stepMaximum)
        if bracketed && (stp <= stmin || stp >= stmax) || bracketed && stmax - stmin <= xtol * stmax { stp = stx }
        return stp.isFinite ? .evaluate : .done
    }
}

/// MINPACK-2 dcstep: the next trial step from the interval end stx (least value, derivative pointing into the
/// interval), the other end sty and the current step stp, each with value and derivative; updates the interval.
private func dcstep(_ stx: inout Double, _ fx: inout Double, _ dx: inout Double, _ sty: inout Double, _ fy: inout Double, _ dy: inout Double,
                    _ stp: Double, _ fp: Double, _ dp: Double, _ bracketed: inout Bool, _ stpmin: Double, _ stpmax: Double) -> Double {
    let sgnd = (dp < 0 ? -1.0 : dp > 0 ? 1 : 0) * (dx < 0 ? -1.0 : dx > 0 ? 1 : 0)
    var stpf: Double
    if fp > fx {
        // Case 1: a higher value. The minimum is bracketed; the cubic step or between it and the quadratic one.
        let theta = 3 * (fx - fp) / (stp - stx) + dx + dp
        let s = max(abs(theta), abs(dx), abs(dp))
        var gamma = s * ((theta / s) * (theta / s) - (dx / s) * (dp / s)).squareRoot()
        if stp < stx { gamma = -gamma }
        let p = (gamma - dx) + theta, q = ((gamma - dx) + gamma) + dp
        let stpc = stx + p / q * (stp - stx)
        let stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2) * (stp - stx)
        stpf = abs(stpc - stx) <= abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2
        bracketed = true
    } else if sgnd < 0 {
        // Case 2: lower value, derivatives of opposite sign: bracketed; the cubic or the secant step.
        let theta = 3 * (fx - fp) / (stp - stx) + dx + dp
        let s = max(abs(theta), abs(dx), abs(dp))
        var gamma = s * ((theta / s) * (theta / s) - (dx / s) * (dp / s)).squareRoot()
        if stp > stx { gamma = -gamma }
        let p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dx
        let stpc = stp + p / q * (stx - stp)
        let stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = abs(stpc - stp) > abs(stpq - stp) ? stpc : stpq
        bracketed = true
    } else if abs(dp) < abs(dx) {
        // Case 3: lower value, same-sign derivative shrinking in magnitude.
        let theta = 3 * (fx - fp) / (stp - stx) + dx + dp
        let s = max(abs(theta), abs(dx), abs(dp))
        var gamma = s * max(0, (theta / s) * (theta / s) - (dx / s) * (dp / s)).squareRoot()
        if stp > stx { gamma = -gamma }
        let p = (gamma - dp) + theta, q = (gamma + (dx - dp)) + gamma
        let r = p / q
        let stpc: Double
        if r < 0 && gamma != 0 { stpc = stp + r * (stx - stp) } else if stp > stx { stpc = stpmax } else { stpc = stpmin }
        let stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if bracketed {
            stpf = abs(stpc - stp) < abs(stpq - stp) ? stpc : stpq
            stpf = stp > stx ? min(stp + 0.66 * (sty - stp), stpf) : max(stp + 0.66 * (sty - stp), stpf)
        } else {
            stpf = abs(stpc - stp) > abs(stpq - stp) ? stpc : stpq
            stpf = min(max(stpf, stpmin), stpmax)
        }
    } else {
        // Case 4: lower value, same-sign derivative not shrinking: the cubic through stp and sty, or a bound.
        if bracketed {
            let theta = 3 * (fp - fy) / (sty - stp) + dy + dp
            let s = max(abs(theta), abs(dy), abs(dp))
            var gamma = s * ((theta / s) * (theta / s) - (dy / s) * (dp / s)).squareRoot()
            if stp > sty { gamma = -gamma }
            let p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + dy
            stpf = stp + p / q * (sty - stp)
        } else {
            stpf = stp > stx ? stpmax : stpmin
        }
    }
    // Update the interval.
    if fp > fx {
        sty = stp; fy = fp; dy = dp
    } else {
        if sgnd < 0 { sty = stx; fy = fx; dy = dx }
        stx = stp; fx = fp; dx = dp
    }
    return stpf
}
