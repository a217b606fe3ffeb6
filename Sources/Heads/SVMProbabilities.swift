// Probability calibration of the SVM (SupportVectorMachine.swift): a sigmoid per pair of classes on the
// decision values of an internal 5-fold cross-validation, then pairwise coupling across the pairs.
//   Platt 2000, "Probabilistic Outputs for Support Vector Machines and Comparisons to Regularized Likelihood
//     Methods"; the Newton fit of Lin, Lin, Weng 2007, "A Note on Platt's Probabilistic Outputs for Support
//     Vector Machines", Machine Learning 68 (libsvm sigmoid_train, sigmoid_predict).
//   Wu, Lin, Weng 2004, "Probability Estimates for Multi-class Classification by Pairwise Coupling", JMLR 5,
//     method 2 (libsvm multiclass_probability).
// Glossary: f a decision value, A and B the sigmoid's slope and offset (P(+1 | f) = 1 / (1 + exp(A f + B))),
// t_i Platt's smoothed targets, r_ij the pairwise probability that a row is class i rather than j, p the
// coupled class probabilities.

import Foundation
import LinearAlgebra

/// libsvm sigmoid_predict: P(+1 | f) = 1 / (1 + exp(A f + B)), evaluated without overflow.
func sigmoidPredict(_ f: Double, _ a: Double, _ b: Double) -> Double {
    let fApB = f * a + b
    return fApB >= 0 ? exp(-fApB) / (1 + exp(-fApB)) : 1 / (1 + exp(fApB))
}

/// The Newton method of libsvm sigmoid_train (Lin, Lin, Weng 2007, Algorithm 1), shared by both sigmoid fits.
enum SigmoidNewton {
    /// Newton iterations at most.
    static let maxIterations = 100
    /// Backtracking halves the step down to this, then gives up (the fit keeps its last point).
    static let minimumStep = 1e-10
    /// Added to the Hessian's diagonal (sigma in the paper): H + sigma I stays positive definite.
    static let hessianRidge = 1e-12
    /// Stop when every gradient component is below this.
    static let gradientTolerance = 1e-5
    /// Armijo's sufficient decrease: accept a step when f(new) < f + this * step * (gradient . direction).
    static let sufficientDecrease = 1e-4
}

/// libsvm sigmoid_train (Platt 2000 with Lin, Lin, Weng 2007's Newton method and backtracking).
func plattSigmoid(decision: [Double], y: [Double]) -> (Double, Double) {
    let l = decision.count
    let prior1 = Double(y.filter { $0 > 0 }.count), prior0 = Double(l) - prior1
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
    for _ in 0..<SigmoidNewton.maxIterations {
        // Gradient and Hessian (H' = H + sigma I keeps it positive definite).
        var h11 = SigmoidNewton.hessianRidge, h22 = SigmoidNewton.hessianRidge, h21 = 0.0, g1 = 0.0, g2 = 0.0
        for i in 0..<l {
            let fApB = decision[i] * A + B
            let (p, q) = fApB >= 0 ? (exp(-fApB) / (1 + exp(-fApB)), 1 / (1 + exp(-fApB)))
                                   : (1 / (1 + exp(fApB)), exp(fApB) / (1 + exp(fApB)))
            let d2 = p * q
            h11 += decision[i] * decision[i] * d2; h22 += d2; h21 += decision[i] * d2
            let d1 = t[i] - p
            g1 += decision[i] * d1; g2 += d1
        }
        if abs(g1) < SigmoidNewton.gradientTolerance && abs(g2) < SigmoidNewton.gradientTolerance { break }
        let det = h11 * h22 - h21 * h21
        let dA = -(h22 * g1 - h21 * g2) / det, dB = -(-h21 * g1 + h11 * g2) / det
        let gd = g1 * dA + g2 * dB
        var step = 1.0
        while step >= SigmoidNewton.minimumStep {
            let newA = A + step * dA, newB = B + step * dB
            let newF = objective(newA, newB)
            if newF < fval + SigmoidNewton.sufficientDecrease * step * gd { A = newA; B = newB; fval = newF; break }
            step /= 2
        }
        if step < SigmoidNewton.minimumStep { break }
    }
    return (A, B)
}

/// The decision-consistent sigmoid: P(+1 | f) = 1 / (1 + exp(A f)), A <= 0, maximising the class-balanced
/// log-likelihood sum_i w_i [t_i log p_i + (1 - t_i) log(1 - p_i)] with w_i = l / (2 l_class(i)) and
/// Platt's smoothed targets. 1-D Newton with backtracking on the convex objective, with plattSigmoid's settings.
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
    for _ in 0..<SigmoidNewton.maxIterations {
        var g = 0.0, h = SigmoidNewton.hessianRidge
        for i in 0..<l {
            let p = sigmoidPredict(decision[i], A, 0)
            g += w[i] * decision[i] * (t[i] - p)
            h += w[i] * decision[i] * decision[i] * p * (1 - p)
        }
        if abs(g) < SigmoidNewton.gradientTolerance { break }
        let direction = -g / h
        var step = 1.0
        while step >= SigmoidNewton.minimumStep {
            let candidate = min(A + step * direction, 0)
            let value = objective(candidate)
            if value < fval + SigmoidNewton.sufficientDecrease * step * g * direction || candidate == A { A = candidate; fval = value; break }
            step /= 2
        }
        if step < SigmoidNewton.minimumStep { break }
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
