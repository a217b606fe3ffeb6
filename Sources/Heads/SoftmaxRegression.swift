// Multinomial logistic (softmax) regression trained with Adam.
// Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1.
//
// Glossary: W (features x classes) weights, b (classes) biases, w_i row weight (sample x class weight),
// l2 the ridge strength, alpha the learning rate, beta1/beta2/epsilon Adam's constants.
// Objective (what `objective` reports and the fixture's exact optimum is computed for):
//     J(W, b) = sum_i w_i * (-log softmax(x_i W + b)[y_i]) / sum_i w_i + l2/2 * ||W||_F^2
// Mini-batches drawn without replacement from a SplitMix64 shuffle per epoch; each batch's gradient is
// scaled by n / batch so it estimates the full gradient. The step size decays linearly to 0 over the
// epochs (when `annealing`), so the last iterate settles at the optimum instead of hovering around it.

import Foundation
import LinearAlgebra

public struct SoftmaxRegression: Classifier {
    public let learningRate: Double
    public let epochs: Int
    /// Rows per mini-batch; nil = full batch.
    public let batchSize: Int?
    public let l2: Double
    public let classWeight: ClassWeight
    public let annealing: Bool
    public let seed: UInt64
    public var name: String { "softmax" }

    public init(learningRate: Double = 0.05, epochs: Int = 300, batchSize: Int? = 32, l2: Double = 0.01,
                classWeight: ClassWeight = .balanced, annealing: Bool = true, seed: UInt64 = 0) throws {
        func bad(_ name: String, _ detail: String) -> HeadsError { .invalidHyperparameter(head: "softmax", name: name, detail: detail) }
        guard learningRate > 0, learningRate.isFinite else { throw bad("learningRate", "\(learningRate) must be positive") }
        guard epochs >= 1 else { throw bad("epochs", "\(epochs) must be at least 1") }
        if let batchSize, batchSize < 1 { throw bad("batchSize", "\(batchSize) must be at least 1") }
        guard l2 >= 0, l2.isFinite else { throw bad("l2", "\(l2) must be non-negative") }
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

        public func logits(_ features: Matrix) -> Matrix {
            precondition(features.columns == weights.rows, "softmax: fitted on \(weights.rows) columns, got \(features.columns)")
            var z = Matrix(rows: features.rows, columns: classes.count)
            for r in 0..<z.rows { for c in 0..<z.columns { z.values[r * z.columns + c] = biases[c] } }
            do { try gemm(features, weights, beta: 1, into: &z) } catch { preconditionFailure("softmax: \(error)") }
            return z
        }

        public func predictProba(_ features: Matrix) -> Matrix {
            var p = logits(features)
            softmaxRows(&p)
            return p
        }
    }

    /// J(W, b) of the header on a training set (labels given as class values of `model.classes`).
    public static func objective(_ model: Fitted, features: Matrix, labels: [Int], l2: Double, classWeight: ClassWeight,
                                 sampleWeights: [Double]? = nil) throws -> Double {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: classWeight, head: "softmax")
        let p = model.predictProba(features)
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
        return Fitted(classes: data.classes, weights: W, biases: b)
    }
}
