// The SMO solver of the SVM (SupportVectorMachine.swift), shaped as libsvm's Solver (svm.cpp, Chang & Lin):
// the dual's state (alpha, G, G_bar, the active set) held by one value, and the algorithm's steps as its
// members: selectWorkingSet, doShrinking, reconstructGradient, updatePair, calculateRho.
//   Fan, Chen, Lin 2005, "Working Set Selection Using Second Order Information for Training Support Vector
//     Machines", JMLR 6: Algorithm 1 (SMO-type decomposition) with WSS 3 (second-order working set selection).
//   Keerthi, Shevade, Bhattacharyya, Murthy 2001, "Improvements to Platt's SMO Algorithm for SVM Classifier
//     Design", Neural Computation 13: the maximal violating pair, the stopping rule m(alpha) - M(alpha) < eps,
//     and rho from the free variables or the interval between the bounds.
//   Chang & Lin 2011, "LIBSVM: A Library for Support Vector Machines", ACM TIST 2: shrinking, and the
//     gradient reconstruction from G_bar that undoes it before the final check.
//
// Problem (each pair of classes):
//     min_alpha  1/2 alpha^T Q alpha + p^T alpha   s.t.  y^T alpha = 0,  0 <= alpha_i <= C_i,   p = -e
// Glossary: l variables, y_i = ±1, K the kernel (rows from KernelRows), Q_ij = y_i y_j K_ij, QD_i = K_ii,
// C_i the upper bound of alpha_i, G = Q alpha + p the gradient, G_bar_i = sum over j at its upper bound of
// C_j Q_ij, I_up(alpha) = {t : y_t = +1, alpha_t < C_t or y_t = -1, alpha_t > 0} and I_low(alpha) the mirror
// set, m(alpha) = max over I_up of -y_t G_t and M(alpha) = min over I_low of -y_t G_t, eps the stopping
// tolerance, tau = 1e-12 (a_ij when not positive), rho the decision function's offset.
//
// The active set is a list of indices (libsvm swaps variables instead; the iterates are the same up to
// tie-breaking order). State lives in buffers allocated once per solve: the steps index them in the
// innermost loops, where array accesses would check uniqueness.

/// One binary SMO solve; `SMOSolver.solve` allocates it, runs Algorithm 1 and frees it.
struct SMOSolver {
    // The problem (read only).
    let kernel: any KernelRows
    let l: Int
    let y: UnsafeMutableBufferPointer<Double>
    let upper: UnsafeMutableBufferPointer<Double>
    let QD: UnsafeMutableBufferPointer<Double>
    let eps: Double
    static let tau = 1e-12

    // The state.
    let alpha: UnsafeMutableBufferPointer<Double>
    let G: UnsafeMutableBufferPointer<Double>
    let Gbar: UnsafeMutableBufferPointer<Double>
    /// active[0..<activeSize] are the variables not shrunk.
    let active: UnsafeMutableBufferPointer<Int>
    var activeSize: Int
    /// Set once the violation first falls below 10 eps: the gradient is then rebuilt once and shrinking
    /// continues from the exact gradient (libsvm's unshrink).
    var unshrink = false

    struct Solution {
        let alpha: [Double]
        let rho: Double
        /// The loop stopped at `maxIterations` before the stopping rule held.
        let reachedIterationLimit: Bool
    }

    /// Solves the problem of the header: y ±1 and upper bounds C_i per variable, K's rows from `kernel`.
    /// `maxIterations` nil: libsvm's max(10^7, 100 l).
    static func solve(kernel: any KernelRows, y: [Double], upper: [Double], eps: Double, maxIterations: Int? = nil) -> Solution {
        var solver = SMOSolver(kernel: kernel, y: y, upper: upper, eps: eps)
        defer { solver.deallocate() }
        let l = y.count
        let reachedLimit = solver.run(maxIterations: maxIterations ?? max(10_000_000, l > Int.max / 100 ? Int.max : 100 * l))
        return Solution(alpha: Array(solver.alpha), rho: solver.calculateRho(), reachedIterationLimit: reachedLimit)
    }

    private init(kernel: any KernelRows, y: [Double], upper: [Double], eps: Double) {
        func buffer<T>(_ values: [T]) -> UnsafeMutableBufferPointer<T> {
            let pointer = UnsafeMutableBufferPointer<T>.allocate(capacity: values.count)
            _ = pointer.initialize(from: values)
            return pointer
        }
        let l = y.count
        self.kernel = kernel
        self.l = l
        self.y = buffer(y)
        self.upper = buffer(upper)
        self.QD = buffer(kernel.diagonal)
        self.eps = eps
        // alpha = 0 so G = Q alpha + p = p = -e, and no variable is at its upper bound: G_bar = 0.
        alpha = buffer([Double](repeating: 0, count: l))
        G = buffer([Double](repeating: -1, count: l))
        Gbar = buffer([Double](repeating: 0, count: l))
        active = buffer(Array(0..<l))
        activeSize = l
    }

    private func deallocate() {
        for pointer in [y, upper, QD, alpha, G, Gbar] { pointer.deallocate() }
        active.deallocate()
    }

    @inline(__always) func isUpper(_ t: Int) -> Bool { alpha[t] >= upper[t] }
    @inline(__always) func isLower(_ t: Int) -> Bool { alpha[t] <= 0 }

    /// Fan, Chen, Lin 2005, Algorithm 1, with shrinking every min(l, 1000) iterations (libsvm Solver::Solve):
    /// select a working set, stop when there is none (after rebuilding the gradient of the shrunk variables and
    /// checking again over all of them), else solve the two-variable sub-problem. Returns whether the loop
    /// stopped at `maxIterations`.
    private mutating func run(maxIterations: Int) -> Bool {
        var iteration = 0
        var counter = min(l, 1000) + 1
        // Step 1 of the next selection, found by the gradient update's pass (the same scan, fused).
        var nextFirst: (Double, Int)? = nil
        while iteration < maxIterations {
            counter -= 1
            if counter == 0 { counter = min(l, 1000); doShrinking(); nextFirst = nil }
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
            nextFirst = updatePair(i, j)
        }
        let reachedLimit = iteration >= maxIterations
        if activeSize < l { reconstructGradient() }
        return reachedLimit
    }

    /// WSS 3 (Fan, Chen, Lin 2005, Section 3) over the active set: (i, j), or nil when the maximal violation
    /// m(alpha) - M(alpha) is below eps (Keerthi et al. 2001's stopping rule). `first`: step 1's (Gmax, i) when
    /// the previous gradient update already found it over the same active set and values (nil after shrinking
    /// or a gradient reconstruction). libsvm Solver::select_working_set.
    func selectWorkingSet(first: (Double, Int)?) -> (Int, Int)? {
        // Step 1: i = argmax { -y_t G_t : t in I_up(alpha) }.
        var Gmax = -Double.infinity, Gmax2 = -Double.infinity, i = -1
        if let first {
            (Gmax, i) = first
        } else {
            for a in 0..<activeSize {
                let t = active[a]
                // -y_t G_t and t in I_up(alpha), as selects rather than a branch on the sign of y_t (the rows' classes
                // interleave, so that branch mispredicts about half the time); the same values and comparisons.
                let positive = y[t] > 0
                let value = positive ? -G[t] : G[t]
                let inUp = positive ? !(alpha[t] >= upper[t]) : !(alpha[t] <= 0)
                if inUp && value >= Gmax { Gmax = value; i = t }
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
                // y_t G_t and t in I_low(alpha) as selects (see step 1); Gmax - G_t is Gmax + (-G_t) exactly.
                let positive = y[t] > 0
                let value = positive ? G[t] : -G[t]
                let inLow = positive ? !(alpha[t] <= 0) : !(alpha[t] >= upper[t])
                guard inLow else { continue }
                if value >= Gmax2 { Gmax2 = value }
                let gradientDifference = Gmax + value
                if gradientDifference > 0 {
                    let quadratic = QDi + QD[t] - 2 * Ki[t], denominator = quadratic > 0 ? quadratic : Self.tau
                    let squared = gradientDifference * gradientDifference
                    // Division-free screen: b^2 < -min a (1 - 1e-12) means -b^2 / a > min even after rounding
                    // (products and quotient are each within an ulp; off below 1e-200, where subnormals would
                    // break that), so t cannot win; the rest take the exact test: the same j as without it.
                    if objectiveDifferenceMin < -1e-200 && squared < -objectiveDifferenceMin * denominator * (1 - 1e-12) { continue }
                    let difference = -squared / denominator
                    if difference <= objectiveDifferenceMin { j = t; objectiveDifferenceMin = difference }
                }
            }
        }
        // Stopping rule: maximal violation m(alpha) - M(alpha) < eps (Gmax2 is -inf without an i).
        if Gmax + Gmax2 < eps || j == -1 { return nil }
        return (i, j)
    }

    /// The two-variable sub-problem on (i, j) solved analytically and clipped to the box (Platt 1998; libsvm's
    /// update, Fan, Chen, Lin 2005, Section 2), then the gradient update over the active set,
    /// G_t += Q_ti dalpha_i + Q_tj dalpha_j, and G_bar for a variable that reached or left its upper bound.
    /// Returns step 1 of the next selection (Gmax, i), found in the same pass as the gradient update (alpha_i and
    /// alpha_j are final there; G_bar does not enter the selection).
    mutating func updatePair(_ i: Int, _ j: Int) -> (Double, Int) {
        let Ki = kernel.row(i, keeping: j)
        let Kj = kernel.row(j, keeping: i)
        let Ci = upper[i], Cj = upper[j]
        let oldI = alpha[i], oldJ = alpha[j]
        let wasUpperI = isUpper(i), wasUpperJ = isUpper(j)
        let Qij = y[i] * y[j] * Ki[j]
        if y[i] != y[j] {
            var quad = QD[i] + QD[j] + 2 * Qij
            if quad <= 0 { quad = Self.tau }
            let delta = (-G[i] - G[j]) / quad
            let diff = alpha[i] - alpha[j]
            alpha[i] += delta; alpha[j] += delta
            if diff > 0 { if alpha[j] < 0 { alpha[j] = 0; alpha[i] = diff } }
            else { if alpha[i] < 0 { alpha[i] = 0; alpha[j] = -diff } }
            if diff > Ci - Cj { if alpha[i] > Ci { alpha[i] = Ci; alpha[j] = Ci - diff } }
            else { if alpha[j] > Cj { alpha[j] = Cj; alpha[i] = Cj + diff } }
        } else {
            var quad = QD[i] + QD[j] - 2 * Qij
            if quad <= 0 { quad = Self.tau }
            let delta = (G[i] - G[j]) / quad
            let sum = alpha[i] + alpha[j]
            alpha[i] -= delta; alpha[j] += delta
            if sum > Ci { if alpha[i] > Ci { alpha[i] = Ci; alpha[j] = sum - Ci } }
            else { if alpha[j] < 0 { alpha[j] = 0; alpha[i] = sum } }
            if sum > Cj { if alpha[j] > Cj { alpha[j] = Cj; alpha[i] = sum - Cj } }
            else { if alpha[i] < 0 { alpha[i] = 0; alpha[j] = sum } }
        }
        let deltaI = (alpha[i] - oldI) * y[i], deltaJ = (alpha[j] - oldJ) * y[j]
        var Gmax = -Double.infinity, first = -1
        for a in 0..<activeSize {
            let t = active[a]
            G[t] += y[t] * (Ki[t] * deltaI + Kj[t] * deltaJ)
            let positive = y[t] > 0   // as selectWorkingSet's step 1
            let value = positive ? -G[t] : G[t]
            let inUp = positive ? !(alpha[t] >= upper[t]) : !(alpha[t] <= 0)
            if inUp && value >= Gmax { Gmax = value; first = t }
        }
        // G_bar follows the variables that reach or leave their upper bound (all l entries).
        if wasUpperI != isUpper(i) {
            let change = (wasUpperI ? -Ci : Ci) * y[i]
            for t in 0..<l { Gbar[t] += change * y[t] * Ki[t] }
        }
        if wasUpperJ != isUpper(j) {
            let change = (wasUpperJ ? -Cj : Cj) * y[j]
            for t in 0..<l { Gbar[t] += change * y[t] * Kj[t] }
        }
        return (Gmax, first)
    }

    /// Shrinking (Chang & Lin 2011; libsvm Solver::do_shrinking and be_shrunk): a variable at a bound whose
    /// gradient puts it outside the current violation interval [-Gmax2, Gmax1] cannot re-enter soon and leaves
    /// the active set. The first time the violation falls below 10 eps the gradient is rebuilt over every
    /// variable first, so shrinking goes on from exact values.
    mutating func doShrinking() {
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

    /// G_t = G_bar_t + p_t + sum over free j of alpha_j Q_tj for every inactive t; then all are active
    /// (Chang & Lin 2011; libsvm Solver::reconstruct_gradient).
    mutating func reconstructGradient() {
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

    /// rho: the mean of y_t G_t over the free variables, else the midpoint of the interval the bounded ones
    /// leave it (Keerthi et al. 2001; libsvm Solver::calculate_rho). Over all l variables (after the run has
    /// rebuilt the gradient of any shrunk ones).
    func calculateRho() -> Double {
        var freeCount = 0, freeSum = 0.0, ub = Double.infinity, lb = -Double.infinity
        for t in 0..<l {
            let yG = y[t] * G[t]
            if alpha[t] >= upper[t] { if y[t] < 0 { ub = min(ub, yG) } else { lb = max(lb, yG) } }
            else if alpha[t] <= 0 { if y[t] > 0 { ub = min(ub, yG) } else { lb = max(lb, yG) } }
            else { freeCount += 1; freeSum += yG }
        }
        return freeCount > 0 ? freeSum / Double(freeCount) : (ub + lb) / 2
    }
}
