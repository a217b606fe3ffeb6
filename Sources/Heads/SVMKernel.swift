// The kernel of the SVM (SupportVectorMachine.swift) and its rows as the solver reads them, layered as libsvm's
// Kernel → Cache → Q (svm.cpp): `evaluateKernel` computes K for any two row sets; `TrainingKernel` holds the
// fit's whole Gram matrix when it fits the cache budget (every pair of classes and every internal fold gathers
// its block from it), else the features; each binary problem reads rows through `KernelRows`, either gathered
// (`DenseKernel`) or computed on demand under a byte budget with least-recently-used eviction (`CachedKernel`,
// libsvm's Cache). Rows hold K, not Q: the solver applies the signs y_i y_j itself.
// Glossary as in SupportVectorMachine.swift: K the kernel, gamma the RBF width, l the rows of one problem.

import Dispatch
import Foundation
import LinearAlgebra

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
            // The Gram matrix (as `gram`: the same dot per pair, so bit for bit) and the RBF of it: the upper
            // triangle row by row, interleaved over 16 tasks on the cores (row i costs n - i dots), then the lower
            // triangle mirrored from it in 64 x 64 tiles (writing both halves from the dot loop stored down columns,
            // a cache miss per entry).
            var k = Matrix(rows: n, columns: n)
            let d = features.columns, norms = squaredNorms, taskCount = min(16, n)
            features.values.withUnsafeBufferPointer { x in
                k.values.withUnsafeMutableBufferPointer { o in
                    guard let xb = x.baseAddress, let ob = o.baseAddress else { return }
                    DispatchQueue.concurrentPerform(iterations: taskCount) { task in
                        for i in stride(from: task, to: n, by: taskCount) {
                            // Four columns at a time (dot4: dot's arithmetic lane by lane), the rest one by one.
                            let row = ob + i * n
                            var j = i
                            while j + 4 <= n {
                                let values = dot4(xb + i * d, xb + j * d, xb + (j + 1) * d, xb + (j + 2) * d, xb + (j + 3) * d, count: d)
                                for lane in 0..<4 {
                                    row[j + lane] = gamma.map { rbf(dot: values[lane], norms[i], norms[j + lane], gamma: $0) } ?? values[lane]
                                }
                                j += 4
                            }
                            while j < n {
                                let value = dot(xb + i * d, xb + j * d, count: d)
                                row[j] = gamma.map { rbf(dot: value, norms[i], norms[j], gamma: $0) } ?? value
                                j += 1
                            }
                        }
                    }
                    let tile = 64, tiles = (n + tile - 1) / tile
                    DispatchQueue.concurrentPerform(iterations: tiles) { rowTile in
                        for columnTile in 0...rowTile {
                            for i in (rowTile * tile)..<min(n, (rowTile + 1) * tile) {
                                for j in (columnTile * tile)..<min(i, (columnTile + 1) * tile) { ob[i * n + j] = ob[j * n + i] }
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

/// The l x l kernel matrix of a problem, gathered from the fit's matrix row by row as the solver first asks for
/// each row: SMO reads the rows of its working sets only (with shrinking, often a minority of the l rows), so
/// gathering all l^2 entries up front spent a quarter of a linear SVM's fit on digits (45 pairs x 6 solves).
final class DenseKernel: KernelRows {
    let count: Int
    let diagonal: [Double]
    private let full: Matrix
    private let rows: [Int]
    private let values: UnsafeMutablePointer<Double>
    private var gathered: [Bool]
    /// rows == 0..<n (two classes, no internal fold): a row is a plain copy.
    private let inOrder: Bool

    init(gathering full: Matrix, rows: [Int]) {
        let l = rows.count, n = full.columns
        count = l
        self.full = full
        self.rows = rows
        values = UnsafeMutablePointer<Double>.allocate(capacity: max(l * l, 1))
        gathered = [Bool](repeating: false, count: l)
        inOrder = l == n && rows.elementsEqual(0..<n)
        diagonal = full.values.withUnsafeBufferPointer { k in rows.map { k[$0 * n + $0] } }
    }

    deinit { values.deallocate() }

    func row(_ i: Int, keeping: Int) -> UnsafePointer<Double> {
        let target = values + i * count
        if !gathered[i] {
            gathered[i] = true
            let n = full.columns
            full.values.withUnsafeBufferPointer { k in
                guard let base = k.baseAddress else { return }
                let source = base + rows[i] * n
                if inOrder {
                    target.update(from: source, count: n)
                } else {
                    for (b, c) in rows.enumerated() { target[b] = source[c] }
                }
            }
        }
        return UnsafePointer(target)
    }
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
