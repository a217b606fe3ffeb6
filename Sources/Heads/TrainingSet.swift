// Validation shared by every head: labels to class indices, finite features, sample and class weights.

import Foundation
import LinearAlgebra

/// How training rows of each class are weighted.
public enum ClassWeight: String, Sendable, Equatable, CaseIterable {
    /// Every row weighs 1 (times its sample weight).
    case none
    /// scikit-learn's "balanced": class k weighs n_samples / (n_classes * count_k).
    case balanced
}

/// A validated training set: labels mapped to indices into the sorted `classes`.
struct TrainingSet {
    let features: Matrix
    let classes: [Int]
    /// Class index of each row.
    let targets: [Int]
    /// Sample weight times class weight of each row.
    let weights: [Double]
    let classCounts: [Int]
    var rowCount: Int { features.rows }
    var classCount: Int { classes.count }
}

/// Balanced class weights n / (K * count_k) from per-class counts (classes with no rows get 0).
public func balancedClassWeights(counts: [Int]) -> [Double] {
    let n = Double(counts.reduce(0, +)), k = Double(counts.count)
    return counts.map { $0 > 0 ? n / (k * Double($0)) : 0 }
}

/// Throws naming the first non-finite entry.
func checkFinite(_ features: Matrix, head: String) throws {
    if let bad = features.firstNonFinite() {
        throw HeadsError.nonFiniteFeature(head: head, row: bad.row, column: bad.column, value: features[bad.row, bad.column])
    }
}

func makeTrainingSet(_ features: Matrix, labels: [Int], sampleWeights: [Double]?, classWeight: ClassWeight,
                     head: String) throws -> TrainingSet {
    guard features.rows > 0 else { throw HeadsError.emptyTrainingSet(head: head) }
    guard features.columns > 0 else { throw HeadsError.shapeMismatch(head: head, detail: "features have no columns") }
    guard labels.count == features.rows else {
        throw HeadsError.shapeMismatch(head: head, detail: "\(features.rows) feature rows but \(labels.count) labels")
    }
    try checkFinite(features, head: head)
    let classes = Array(Set(labels)).sorted()
    guard classes.count >= 2 else { throw HeadsError.singleClass(head: head, label: classes[0]) }
    var indexOf = [Int: Int]()
    for (i, c) in classes.enumerated() { indexOf[c] = i }
    let targets = labels.map { indexOf[$0]! }
    var counts = [Int](repeating: 0, count: classes.count)
    for t in targets { counts[t] += 1 }
    var weights = [Double](repeating: 1, count: labels.count)
    if let sampleWeights {
        guard sampleWeights.count == labels.count else {
            throw HeadsError.invalidSampleWeights(head: head, detail: "\(sampleWeights.count) weights for \(labels.count) rows")
        }
        if let bad = sampleWeights.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw HeadsError.invalidSampleWeights(head: head, detail: "weight \(sampleWeights[bad]) at row \(bad) is negative or not finite")
        }
        guard sampleWeights.reduce(0, +) > 0 else { throw HeadsError.invalidSampleWeights(head: head, detail: "all weights are zero") }
        weights = sampleWeights
    }
    if classWeight == .balanced {
        let perClass = balancedClassWeights(counts: counts)
        for i in 0..<weights.count { weights[i] *= perClass[targets[i]] }
    }
    return TrainingSet(features: features, classes: classes, targets: targets, weights: weights, classCounts: counts)
}

/// Fisher–Yates shuffle driven by SplitMix64 (own loop, so the order never depends on the standard library's algorithm).
func shuffled(_ values: [Int], using rng: inout SplitMix64) -> [Int] {
    var a = values
    if a.count < 2 { return a }
    for i in stride(from: a.count - 1, to: 0, by: -1) {
        let j = Int(rng.next() % UInt64(i + 1))
        a.swapAt(i, j)
    }
    return a
}

/// A uniform Double in [0, 1) from the top 53 bits.
func uniform(_ rng: inout SplitMix64) -> Double { Double(rng.next() >> 11) * 0x1p-53 }

/// Row-wise softmax in place (max-subtracted, so never NaN for finite logits).
func softmaxRows(_ m: inout Matrix) {
    for r in 0..<m.rows {
        let base = r * m.columns
        var top = -Double.infinity
        for c in 0..<m.columns { top = max(top, m.values[base + c]) }
        var sum = 0.0
        for c in 0..<m.columns { let e = exp(m.values[base + c] - top); m.values[base + c] = e; sum += e }
        for c in 0..<m.columns { m.values[base + c] /= sum }
    }
}
