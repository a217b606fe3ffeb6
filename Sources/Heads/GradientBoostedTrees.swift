// Histogram-based gradient-boosted trees, as scikit-learn's HistGradientBoostingClassifier
// (sklearn/ensemble/_hist_gradient_boosting: binning → histogram → splitting → grower → predictor),
// itself after LightGBM (Ke et al. 2017). Newton boosting (Friedman 2001; Chen & Guestrin 2016).
//
// Glossary: g, h the per-row gradient and hessian of the loss w.r.t. the raw score (times the row
// weight), G, H their sums over a node, lambda the L2 penalty on leaf values, eta the learning rate.
//   binary:      one tree per round on the half binomial loss, g = p - t, h = p (1 - p)
//   multi-class: one tree per class per round on the softmax loss, g_k = p_k - t_k, h_k = p_k (1 - p_k)
//   split gain:  G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda) - G^2 / (H + lambda), best > 0 taken
//   leaf value:  -eta * G / (H + lambda)
// Trees grow best-first (largest gain first) up to `maxLeafNodes`, `maxDepth`; each child keeps at least
// `minSamplesLeaf` rows and hessian 1e-3. Binning (<= maxBins bins per feature): midpoints between
// distinct values when there are few enough, else the 'midpoint' percentiles at 1/maxBins steps; a row
// goes left when its raw value <= the split threshold. Early stopping, when asked, holds out a
// stratified inner split of the TRAINING rows only, never the scored fold.
// Split search: histograms per node (below), or, for fits with few rows per bin (an embedding set: 54 rows,
// 2048 features), presorted rank lists scanned eight features at a time (PresortedSplitSearch.swift); same trees.

import CRankLists
import Foundation
import LinearAlgebra

public struct GradientBoostedTrees: Classifier {
    public struct EarlyStopping: Sendable, Equatable {
        public var validationFraction: Double
        public var patience: Int
        public var tolerance: Double
        public init(validationFraction: Double = 0.1, patience: Int = 10, tolerance: Double = 1e-7) {
            self.validationFraction = validationFraction
            self.patience = patience
            self.tolerance = tolerance
        }
    }

    /// How a node's best split is found. The same trees either way (PresortedSplitSearch.swift says why); `histograms`
    /// is the plain path the tests hold the presorted one to.
    public enum SplitSearch: Sendable, Equatable {
        /// Presorted rank lists for fits with few rows per bin and every feature a candidate, histograms otherwise.
        case automatic
        /// `automatic` with the plain loop partitioning the lists of fits of at most 64 rows, also where the CPU has
        /// AVX-512 byte compress (so that the tests hold that path too on such a machine).
        case automaticWithoutVectorCompress
        /// Histograms of (G, H, count) per bin at every node.
        case histograms
    }

    public let learningRate: Double
    public let rounds: Int
    public let maxLeafNodes: Int
    public let maxDepth: Int?
    public let minSamplesLeaf: Int
    public let l2: Double
    public let maxBins: Int
    /// Fraction of features considered at each split (scikit-learn's max_features), drawn from the seed.
    public let featureFraction: Double
    public let classWeight: ClassWeight
    public let earlyStopping: EarlyStopping?
    public let seed: UInt64
    public let splitSearch: SplitSearch
    public var name: String { "gradient-boosted-trees" }
    /// Whether this CPU partitions the presorted lists of small fits with AVX-512 byte compress (VBMI2, BITALG).
    public static var hasVectorCompress: Bool { carcinoma_rank_lists_have_compress() != 0 }

    /// Defaults learn on ~50 rows: scikit-learn's min_samples_leaf 20 stops a 55-row fold from splitting.
    public init(learningRate: Double = 0.1, rounds: Int = 100, maxLeafNodes: Int = 31, maxDepth: Int? = nil,
                minSamplesLeaf: Int = 3, l2: Double = 1, maxBins: Int = 255, featureFraction: Double = 1,
                classWeight: ClassWeight = .balanced, earlyStopping: EarlyStopping? = nil, seed: UInt64 = 0,
                splitSearch: SplitSearch = .automatic) throws {
        func bad(_ name: String, _ detail: String) -> HeadsError { .invalidHyperparameter(head: "gradient-boosted-trees", name: name, detail: detail) }
        guard learningRate > 0, learningRate.isFinite else { throw bad("learningRate", "\(learningRate) must be positive") }
        guard rounds >= 1 else { throw bad("rounds", "\(rounds) must be at least 1") }
        guard maxLeafNodes >= 2 else { throw bad("maxLeafNodes", "\(maxLeafNodes) must be at least 2") }
        if let maxDepth, maxDepth < 1 { throw bad("maxDepth", "\(maxDepth) must be at least 1") }
        guard minSamplesLeaf >= 1 else { throw bad("minSamplesLeaf", "\(minSamplesLeaf) must be at least 1") }
        guard l2 >= 0, l2.isFinite else { throw bad("l2", "\(l2) must be non-negative") }
        guard (2...255).contains(maxBins) else { throw bad("maxBins", "\(maxBins) must be in 2...255") }
        guard featureFraction > 0, featureFraction <= 1 else { throw bad("featureFraction", "\(featureFraction) must be in (0, 1]") }
        if let e = earlyStopping {
            guard e.validationFraction > 0, e.validationFraction < 1 else { throw bad("validationFraction", "\(e.validationFraction) must be in (0, 1)") }
            guard e.patience >= 1 else { throw bad("patience", "\(e.patience) must be at least 1") }
        }
        self.learningRate = learningRate
        self.rounds = rounds
        self.maxLeafNodes = maxLeafNodes
        self.maxDepth = maxDepth
        self.minSamplesLeaf = minSamplesLeaf
        self.l2 = l2
        self.maxBins = maxBins
        self.featureFraction = featureFraction
        self.classWeight = classWeight
        self.earlyStopping = earlyStopping
        self.seed = seed
        self.splitSearch = splitSearch
    }

    /// A fitted tree in flat arrays: node i splits on feature[i] at threshold[i] (left when x <= threshold)
    /// or, when left[i] == -1, is a leaf with value[i].
    public struct Tree: Sendable {
        public let feature: [Int]
        public let threshold: [Double]
        public let left: [Int]
        public let right: [Int]
        public let value: [Double]
        public var leafCount: Int { left.filter { $0 < 0 }.count }

        func predict(_ row: UnsafeBufferPointer<Double>) -> Double {
            var node = 0
            while left[node] >= 0 { node = row[feature[node]] <= threshold[node] ? left[node] : right[node] }
            return value[node]
        }
    }

    public struct Fitted: FittedClassifier {
        public let classes: [Int]
        /// Initial raw score per output (1 for binary, classes.count otherwise).
        public let baseline: [Double]
        /// trees[round][output]
        public let trees: [[Tree]]
        /// Columns of the matrix the trees were grown on (predictProba refuses any other width).
        public let featureCount: Int

        public func rawScores(_ features: Matrix) -> Matrix {
            let outputs = baseline.count
            var raw = Matrix(rows: features.rows, columns: outputs)
            features.values.withUnsafeBufferPointer { x in
                for r in 0..<features.rows {
                    let row = UnsafeBufferPointer(rebasing: x[(r * features.columns)..<((r + 1) * features.columns)])
                    for k in 0..<outputs {
                        var s = baseline[k]
                        for round in trees { s += round[k].predict(row) }
                        raw[r, k] = s
                    }
                }
            }
            return raw
        }

        public func predictProba(_ features: Matrix) throws -> Matrix {
            try requireFeatureWidth(features, head: "GradientBoostedTrees")
            return probabilities(fromRaw: rawScores(features), classCount: classes.count)
        }
    }

    public func fit(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> any FittedClassifier {
        try fitTrees(features, labels: labels, sampleWeights: sampleWeights)
    }

    public func fitTrees(_ features: Matrix, labels: [Int], sampleWeights: [Double]?) throws -> Fitted {
        let data = try makeTrainingSet(features, labels: labels, sampleWeights: sampleWeights, classWeight: classWeight, head: name)
        var rng = SplitMix64(seed: seed)
        // Inner split for early stopping: stratified, from the training rows only.
        var trainRows = Array(0..<data.rowCount), validationRows = [Int]()
        if let e = earlyStopping {
            trainRows = []
            for c in 0..<data.classCount {
                let members = shuffled((0..<data.rowCount).filter { data.targets[$0] == c }, using: &rng)
                let held = members.count > 1 ? max(1, Int((Double(members.count) * e.validationFraction).rounded())) : 0
                validationRows += members[0..<held]
                trainRows += members[held...]
            }
            trainRows.sort(); validationRows.sort()
        }
        let x = features.selectingRows(trainRows)
        let targets = trainRows.map { data.targets[$0] }, weights = trainRows.map { data.weights[$0] }
        let binner = FeatureBinner(x, maxBins: maxBins)
        let n = x.rows, k = data.classCount, outputs = k == 2 ? 1 : k

        // Baseline: log-odds (binary) or centred log-priors (multi-class) of the weighted class frequencies.
        var prior = [Double](repeating: 0, count: k)
        for i in 0..<n { prior[targets[i]] += weights[i] }
        let total = prior.reduce(0, +)
        prior = prior.map { min(max($0 / total, 1e-15), 1 - 1e-15) }
        let baseline: [Double]
        if outputs == 1 { baseline = [log(prior[1] / (1 - prior[1]))] }
        else { let logs = prior.map { log($0) }; let m = logs.reduce(0, +) / Double(k); baseline = logs.map { $0 - m } }

        var raw = Matrix(rows: n, columns: outputs)
        for r in 0..<n { for o in 0..<outputs { raw[r, o] = baseline[o] } }
        let validation = features.selectingRows(validationRows)
        var validationRaw = Matrix(rows: validation.rows, columns: outputs)
        for r in 0..<validation.rows { for o in 0..<outputs { validationRaw[r, o] = baseline[o] } }
        var bestLoss = Double.infinity, bestRounds = 0, roundsWithoutImprovement = 0

        var trees = [[Tree]]()
        // Multi-class rounds grow their trees (one per class, all from the same probabilities) side by side on
        // the cores, each tree on one thread, as many at a time as there are cores; the trees left over when
        // the classes do not divide among the cores (3 classes on 2 cores: the third), and a single tree per
        // round (binary), split large nodes' feature scans over two threads instead. Same trees either way
        // (each tree's arithmetic is sequential in the same order); with featureFraction < 1 each multi-class
        // tree draws from its own generator, seeded from the fit's in round and class order.
        let workers = outputs > 1 ? min(outputs, max(1, ProcessInfo.processInfo.activeProcessorCount)) : 1
        let sideBySide = outputs - outputs % workers
        let grower = TreeGrower(binner: binner, maxLeafNodes: maxLeafNodes, maxDepth: maxDepth, minSamplesLeaf: minSamplesLeaf,
                                l2: l2, learningRate: learningRate, featureFraction: featureFraction, parallelScan: workers == 1,
                                presorted: featureFraction == 1 && splitSearch != .histograms ? PresortedColumns(binner) : nil,
                                presortedCompress: splitSearch != .automaticWithoutVectorCompress)
        var splitScanGrower = grower
        splitScanGrower.parallelScan = true
        for _ in 0..<rounds {
            let p = probabilities(fromRaw: raw, classCount: k)
            var round = [Tree?](repeating: nil, count: outputs)
            var treeGenerators = outputs > 1 ? (0..<outputs).map { _ in SplitMix64(seed: rng.next()) } : []
            // One output's gradient and hessian, and a tree's updates of its raw scores (column o only: outputs never
            // share a cell).
            func gradients(_ o: Int) -> (gradient: [Double], hessian: [Double]) {
                let column = outputs == 1 ? 1 : o
                var gradient = [Double](repeating: 0, count: n), hessian = gradient
                for i in 0..<n {
                    let pi = p[i, column], t = targets[i] == column ? 1.0 : 0.0
                    gradient[i] = weights[i] * (pi - t)
                    hessian[i] = weights[i] * pi * (1 - pi)
                }
                return (gradient, hessian)
            }
            func add(_ tree: Tree, _ o: Int, raw: UnsafeMutableBufferPointer<Double>, validationRaw: UnsafeMutableBufferPointer<Double>) {
                x.values.withUnsafeBufferPointer { xs in
                    for r in 0..<n { raw[r * outputs + o] += tree.predict(UnsafeBufferPointer(rebasing: xs[(r * x.columns)..<((r + 1) * x.columns)])) }
                }
                validation.values.withUnsafeBufferPointer { xs in
                    for r in 0..<validation.rows { validationRaw[r * outputs + o] += tree.predict(UnsafeBufferPointer(rebasing: xs[(r * x.columns)..<((r + 1) * x.columns)])) }
                }
            }
            func growOutput(_ o: Int, _ generator: inout SplitMix64, raw: UnsafeMutableBufferPointer<Double>,
                            validationRaw: UnsafeMutableBufferPointer<Double>) -> Tree {
                let (gradient, hessian) = gradients(o)
                let tree = (o < sideBySide ? grower : splitScanGrower).grow(gradient: gradient, hessian: hessian, rng: &generator)
                add(tree, o, raw: raw, validationRaw: validationRaw)
                return tree
            }
            raw.values.withUnsafeMutableBufferPointer { rawValues in
            validationRaw.values.withUnsafeMutableBufferPointer { validationValues in
                if let columns = grower.presorted, let compact = columns.compactRoot {
                    // At most 64 rows without ties: the round's trees grow step by step together, their scans cut into
                    // ranges of features that the cores take from one pool (TreeGrower.growInLockstep).
                    let growths = (0..<outputs).map { o in
                        let (gradient, hessian) = gradients(o)
                        return CompactGrowth(grower, columns: columns, root: compact, gradient: gradient, hessian: hessian)
                    }
                    grower.growInLockstep(growths, threads: max(1, ProcessInfo.processInfo.activeProcessorCount))
                    for o in 0..<outputs {
                        let tree = growths[o].tree()
                        add(tree, o, raw: rawValues, validationRaw: validationValues)
                        round[o] = tree
                    }
                    return
                }
                if workers == 1 {
                    for o in 0..<outputs {
                        if outputs == 1 { round[o] = growOutput(o, &rng, raw: rawValues, validationRaw: validationValues) }
                        else { round[o] = growOutput(o, &treeGenerators[o], raw: rawValues, validationRaw: validationValues) }
                    }
                    return
                }
                let lock = NSLock()
                var next = 0
                round.withUnsafeMutableBufferPointer { round in
                treeGenerators.withUnsafeMutableBufferPointer { generators in
                    DispatchQueue.concurrentPerform(iterations: workers) { _ in
                        while true {
                            lock.lock(); let o = next; next += 1; lock.unlock()
                            if o >= sideBySide { return }
                            round[o] = growOutput(o, &generators[o], raw: rawValues, validationRaw: validationValues)
                        }
                    }
                    for o in sideBySide..<outputs { round[o] = growOutput(o, &generators[o], raw: rawValues, validationRaw: validationValues) }
                } }
            } }
            trees.append(round.map { $0! })
            if let e = earlyStopping {
                let pv = probabilities(fromRaw: validationRaw, classCount: k)
                var loss = 0.0, weightSum = 0.0
                for (r, row) in validationRows.enumerated() {
                    loss -= data.weights[row] * log(max(pv[r, data.targets[row]], 1e-300))
                    weightSum += data.weights[row]
                }
                loss /= max(weightSum, 1e-300)
                if loss < bestLoss - e.tolerance { bestLoss = loss; bestRounds = trees.count; roundsWithoutImprovement = 0 }
                else { roundsWithoutImprovement += 1; if roundsWithoutImprovement >= e.patience { break } }
            }
        }
        if earlyStopping != nil { trees = Array(trees.prefix(max(bestRounds, 1))) }
        return Fitted(classes: data.classes, baseline: baseline, trees: trees, featureCount: features.columns)
    }
}

/// Sigmoid of one raw column (binary) or row softmax.
func probabilities(fromRaw raw: Matrix, classCount: Int) -> Matrix {
    if raw.columns == 1 {
        var p = Matrix(rows: raw.rows, columns: 2)
        for r in 0..<raw.rows {
            let z = raw[r, 0]
            let positive = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
            p[r, 0] = 1 - positive; p[r, 1] = positive
        }
        return p
    }
    var p = raw
    softmaxRows(&p)
    return p
}

/// Per-feature bin thresholds (scikit-learn _find_binning_thresholds) and the binned training matrix.
public struct FeatureBinner: Sendable {
    /// thresholds[f]: ascending; bin b holds values in (thresholds[b-1], thresholds[b]].
    public let thresholds: [[Double]]
    /// rows x features, column-major (binned[f * rows + r]) for histogram building one feature at a time.
    public let binned: [UInt8]
    /// The same bins row-major (binnedRows[r * features + f]), for building every feature's histogram in one pass over the rows.
    public let binnedRows: [UInt8]
    public let rows: Int
    public let features: Int

    public init(_ x: Matrix, maxBins: Int) {
        rows = x.rows
        features = x.columns
        var thresholds = [[Double]](repeating: [], count: x.columns)
        var binned = [UInt8](repeating: 0, count: x.rows * x.columns)
        // Features are binned independently: large matrices in two halves on two threads (the same bins either way).
        let threads = x.rows * x.columns >= 1 << 15 && ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1
        let (rowCount, featureCount) = (x.rows, x.columns)
        thresholds.withUnsafeMutableBufferPointer { thresholds in
        binned.withUnsafeMutableBufferPointer { binned in
        x.values.withUnsafeBufferPointer { values in
            DispatchQueue.concurrentPerform(iterations: threads) { part in
                var sorted = [(value: Double, row: Int)]()
                sorted.reserveCapacity(rowCount)
                for f in (featureCount * part / threads)..<(featureCount * (part + 1) / threads) {
                    sorted.removeAll(keepingCapacity: true)
                    var moderate = true   // |v| <= 1e307: no midpoint overflows
                    for r in 0..<rowCount {
                        let v = values[r * featureCount + f]
                        moderate = moderate && abs(v) <= 1e307
                        sorted.append((v, r))
                    }
                    sorted.sort { $0.value < $1.value }
                    let column = sorted.map(\.value)
                    var distinct = [Double]()
                    for v in column where distinct.last != v { distinct.append(v) }
                    var t: [Double]
                    if distinct.count <= maxBins {
                        t = (0..<max(distinct.count - 1, 0)).map { (distinct[$0] + distinct[$0 + 1]) * 0.5 }
                        if moderate {
                            // The bins straight from the sorted order: the j-th distinct value d_j lies above every
                            // midpoint t_i, i < j - 1 (t_i <= d_(i+1) < d_j), and below none from t_j on (t_j >= d_j);
                            // t_(j-1) lies in [d_(j-1), d_j] and counts unless it rounded to d_j. The binary search's bins.
                            var j = -1, previous = 0.0
                            for (v, r) in sorted {
                                if j < 0 || v != previous { j += 1; previous = v }
                                binned[f * rowCount + r] = UInt8(j > 0 && t[j - 1] >= v ? j - 1 : j)
                            }
                            thresholds[f] = t
                            continue
                        }
                    } else {
                        // numpy.percentile(method="midpoint") at 100 * q / maxBins, q = 1 ... maxBins - 1.
                        let n = Double(column.count - 1)
                        t = (1..<maxBins).map { q in
                            let position = Double(q) / Double(maxBins) * n
                            return (column[Int(position.rounded(.down))] + column[Int(position.rounded(.up))]) * 0.5
                        }
                    }
                    for r in 0..<rowCount {
                        // bin = number of thresholds strictly below the value (binary search).
                        let v = values[r * featureCount + f]
                        var lo = 0, hi = t.count
                        while lo < hi { let mid = (lo + hi) / 2; if v <= t[mid] { hi = mid } else { lo = mid + 1 } }
                        binned[f * rowCount + r] = UInt8(lo)
                    }
                    thresholds[f] = t
                }
            }
        } } }
        self.thresholds = thresholds
        self.binCounts = thresholds.map { $0.count + 1 }
        self.binned = binned
        var binnedRows = [UInt8](repeating: 0, count: x.rows * x.columns)
        for f in 0..<x.columns { for r in 0..<x.rows { binnedRows[r * x.columns + f] = binned[f * x.rows + r] } }
        self.binnedRows = binnedRows
    }

    /// binCounts[f] = thresholds[f].count + 1.
    public let binCounts: [Int]
    public func binCount(_ feature: Int) -> Int { binCounts[feature] }
}

/// Best-first tree growth on histograms of (G, H, count) per bin (scikit-learn's TreeGrower + Splitter).
struct TreeGrower {
    let binner: FeatureBinner
    let maxLeafNodes: Int
    let maxDepth: Int?
    let minSamplesLeaf: Int
    let l2: Double
    let learningRate: Double
    let featureFraction: Double
    /// Large nodes scan their features in two halves on two threads (when the trees are not already grown in parallel).
    var parallelScan = true
    /// The fit's presorted rank lists when it has few rows per bin and every feature is a candidate (PresortedSplitSearch.swift).
    var presorted: PresortedColumns? = nil
    /// Partition fits of at most 64 rows with AVX-512 byte compress where the CPU has it (false: the plain loop).
    var presortedCompress = true
    let minimumHessian = 1e-3

    struct Split { var gain: Double; var feature: Int; var bin: Int }

    struct Node {
        var rows: [Int]
        var depth: Int
        var G: Double
        var H: Double
        var split: Split?
        /// Kept while the node is an open leaf with a split, when histograms are subtracted (see `grow`).
        var histogram: [SIMD4<Double>]? = nil
        var feature = -1, threshold = 0.0, left = -1, right = -1, value = 0.0
    }

    /// Best-first growth's next node to split: the open leaf (no children yet, a split found) with the largest gain, ties
    /// to the earliest node; nil when no leaf has a split left.
    static func bestOpenLeaf(_ nodes: [Node]) -> Int? {
        var chosen: Int?
        for i in nodes.indices where nodes[i].left < 0 && nodes[i].split != nil {
            if chosen == nil || nodes[i].split!.gain > nodes[chosen!].split!.gain { chosen = i }
        }
        return chosen
    }

    /// Scans every candidate feature's histogram of the node's rows for the split of largest gain.
    /// Only the bins that hold rows are visited (found with a 256-bit occupancy mask, in ascending
    /// order): an empty bin leaves (G_L, H_L, count_L) as the previous bin left them, so it can never
    /// beat that bin's gain under the strict `>`, and skipping it changes no result bit.
    func bestSplit(_ rows: [Int], G: Double, H: Double, gradient: [Double], hessian: [Double], rng: inout SplitMix64) -> Split? {
        var candidates = Array(0..<binner.features)
        if featureFraction < 1 {
            let count = max(1, Int((featureFraction * Double(binner.features)).rounded(.down)))
            candidates = Array(shuffled(candidates, using: &rng).prefix(count)).sorted()
        }
        let parentLoss = G * G / (H + l2)
        // The node's (gradient, hessian, 1, 0) per row, contiguous in row order (read once per feature): one
        // vector add puts a row into its bin's (G, H, row count); the count is exact in a Double.
        let nodeStatistics = rows.map { SIMD4<Double>(gradient[$0], hessian[$0], 1, 0) }
        // Large nodes: the candidate features in two halves on two cores. The first half's best wins
        // ties, exactly as the sequential scan's strict `>` lets the earlier feature win.
        if parallelScan && rows.count * candidates.count >= 1 << 14 {
            let middle = candidates.count / 2
            var halves: [(gain: Double, feature: Int, bin: Int)] = [(0, -1, -1), (0, -1, -1)]
            halves.withUnsafeMutableBufferPointer { halves in
                DispatchQueue.concurrentPerform(iterations: 2) { half in
                    halves[half] = scanFeatures(half == 0 ? candidates[..<middle] : candidates[middle...], rows: rows,
                                                statistics: nodeStatistics, G: G, H: H, parentLoss: parentLoss)
                }
            }
            let best = halves[1].gain > halves[0].gain ? halves[1] : halves[0]
            return best.feature >= 0 ? Split(gain: best.gain, feature: best.feature, bin: best.bin) : nil
        }
        let best = scanFeatures(candidates[...], rows: rows, statistics: nodeStatistics, G: G, H: H, parentLoss: parentLoss)
        return best.feature >= 0 ? Split(gain: best.gain, feature: best.feature, bin: best.bin) : nil
    }

    /// Division-free screen for the gain scan. A candidate can beat `bestGain` only if
    ///   S = G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda) > bestGain + parentLoss,
    /// i.e. G_L^2 (H_R + lambda) + G_R^2 (H_L + lambda) > (bestGain + parentLoss) (H_L + lambda) (H_R + lambda)
    /// (every term non-negative, both denominators positive). Products carry a relative rounding error of a few
    /// ulps against the ~1e-16 of the gain's own rounding, so a candidate whose products fall short of the right
    /// side times (1 - 1e-12) cannot pass the exact test `gain > bestGain` either; it is skipped without its two
    /// divisions, and every other candidate still meets the exact test. Returns the factor (bestGain + parentLoss)
    /// (1 - 1e-12), or 0 (screen nothing) where the bound could underflow or the node's sums overflow.
    @inline(__always)
    static func screenFloor(bestGain: Double, parentLoss: Double, screenSafe: Bool) -> Double {
        let floor = bestGain + parentLoss
        return screenSafe && floor > 1e-200 ? floor * (1 - 1e-12) : 0
    }

    /// The best (gain > 0, feature, bin) over `features` in order (feature -1 when none), from histograms
    /// of the node's `rows` with their (gradient, hessian, 1, 0) `statistics`.
    func scanFeatures(_ features: ArraySlice<Int>, rows: [Int], statistics nodeStatistics: [SIMD4<Double>],
                      G: Double, H: Double, parentLoss: Double) -> (gain: Double, feature: Int, bin: Int) {
        // Many rows per bin (digits: 1572 rows, <= 17 bins; any large node): every feature's histogram in one
        // pass over the rows. Consecutive updates then go to different features' bins, where the pass one
        // feature at a time adds to the same few bins back to back and waits on each store. Each bin still
        // sums its rows in row order, so the histograms, and the trees, are the same bit for bit.
        var totalBins = 0
        for f in features { totalBins += binner.binCounts[f] }
        if rows.count * features.count >= 2 * totalBins && totalBins <= 1 << 15 {
            return scanFeaturesRowWise(features, totalBins: totalBins, rows: rows, statistics: nodeStatistics, G: G, H: H, parentLoss: parentLoss)
        }
        let n = binner.rows
        let rowCount = rows.count, minSamplesLeaf = minSamplesLeaf, minimumHessian = minimumHessian, l2 = l2
        let screenSafe = abs(G) < 1e100 && H + l2 < 1e100
        var bestGain = 0.0, bestFeature = -1, bestBin = -1
        var floor = Self.screenFloor(bestGain: 0, parentLoss: parentLoss, screenSafe: screenSafe)
        // Per bin: (G, H, row count, 0); all zero between features.
        var histogram = [SIMD4<Double>](repeating: .zero, count: 256)
        var occupiedWords = [UInt64](repeating: 0, count: 4)
        binner.binned.withUnsafeBufferPointer { binned in
        binner.binCounts.withUnsafeBufferPointer { binCounts in
        rows.withUnsafeBufferPointer { rows in
        nodeStatistics.withUnsafeBufferPointer { statistics in
        histogram.withUnsafeMutableBufferPointer { histogram in
        occupiedWords.withUnsafeMutableBufferPointer { occupied in
            guard let binnedBase = binned.baseAddress else { return }
            for f in features {
                let bins = binCounts[f]
                if bins < 2 { continue }
                let column = binnedBase + f * n
                // Bins 0 ..< 64 (every feature of a data set with at most 64 distinct values per column, as any
                // small one): the occupancy mask stays in a register.
                var words = 1, low: UInt64 = 0
                if bins <= 64 {
                    for t in 0..<rowCount {
                        let b = Int(column[rows[t]])
                        histogram[b] += statistics[t]
                        low |= UInt64(1) << UInt64(b)
                    }
                } else {
                    words = 4
                    for t in 0..<rowCount {
                        let b = Int(column[rows[t]])
                        histogram[b] += statistics[t]
                        occupied[b >> 6] |= UInt64(1) << UInt64(b & 63)
                    }
                    low = occupied[0]
                }
                var gl = 0.0, hl = 0.0, cl = 0
                var stopped = false
                for word in 0..<words {
                    var mask = word == 0 ? low : occupied[word]
                    occupied[word] = 0
                    while mask != 0 {
                        let b = word << 6 + mask.trailingZeroBitCount
                        mask &= mask &- 1
                        let bin = histogram[b]
                        histogram[b] = .zero
                        if stopped || b >= bins - 1 { continue }
                        gl += bin.x; hl += bin.y; cl += Int(bin.z)
                        let cr = rowCount - cl
                        if cl < minSamplesLeaf { continue }
                        if cr < minSamplesLeaf { stopped = true; continue }
                        let hr = H - hl, gr = G - gl
                        if hl < minimumHessian { continue }
                        if hr < minimumHessian { stopped = true; continue }
                        let hlL = hl + l2, hrL = hr + l2, gl2 = gl * gl, gr2 = gr * gr
                        if gl2 * hrL + gr2 * hlL < floor * (hlL * hrL) { continue }
                        let gain = gl2 / hlL + gr2 / hrL - parentLoss
                        if gain > bestGain {
                            bestGain = gain; bestFeature = f; bestBin = b
                            floor = Self.screenFloor(bestGain: gain, parentLoss: parentLoss, screenSafe: screenSafe)
                        }
                    }
                }
            }
        } } } } } }
        return (bestGain, bestFeature, bestBin)
    }

    /// `scanFeatures` with every feature's histogram built in one pass over the node's rows (row-major bins), then
    /// each feature's bins scanned in ascending order, empty bins skipped (as the occupancy mask skips them).
    func scanFeaturesRowWise(_ features: ArraySlice<Int>, totalBins: Int, rows: [Int], statistics: [SIMD4<Double>],
                             G: Double, H: Double, parentLoss: Double) -> (gain: Double, feature: Int, bin: Int) {
        // offsets[j]: first histogram slot of the j-th candidate feature.
        var offsets = [Int](repeating: 0, count: features.count + 1)
        var columns = [Int](repeating: 0, count: features.count)
        for (j, f) in features.enumerated() { columns[j] = f; offsets[j + 1] = offsets[j] + binner.binCounts[f] }
        let histogram = buildHistogramRowWise(columns: columns, offsets: offsets, rows: rows, statistics: statistics)
        return scanHistogram(histogram, columns: columns, offsets: offsets, rowCount: rows.count, G: G, H: H, parentLoss: parentLoss)
    }

    /// Per bin (G, H, row count, 0) of every feature in `columns` (feature columns[j]'s bins from slot offsets[j]),
    /// in one pass over `rows`: one vector add per row and feature (the count is exact in a Double).
    func buildHistogramRowWise(columns: [Int], offsets: [Int], rows: [Int], statistics: [SIMD4<Double>]) -> [SIMD4<Double>] {
        let width = binner.features, candidateCount = columns.count, rowCount = rows.count
        let contiguous = columns.last.map { $0 - columns[0] == candidateCount - 1 } ?? true
        var histogram = [SIMD4<Double>](repeating: .zero, count: offsets[candidateCount])
        binner.binnedRows.withUnsafeBufferPointer { binnedRows in
        rows.withUnsafeBufferPointer { rows in
        statistics.withUnsafeBufferPointer { statistics in
        offsets.withUnsafeBufferPointer { offsets in
        columns.withUnsafeBufferPointer { columns in
        histogram.withUnsafeMutableBufferPointer { histogram in
            guard let binnedBase = binnedRows.baseAddress, candidateCount > 0 else { return }
            if contiguous {
                for t in 0..<rowCount {
                    let s = statistics[t], row = binnedBase + rows[t] * width + columns[0]
                    for j in 0..<candidateCount { histogram[offsets[j] + Int(row[j])] += s }
                }
            } else {
                for t in 0..<rowCount {
                    let s = statistics[t], row = binnedBase + rows[t] * width
                    for j in 0..<candidateCount { histogram[offsets[j] + Int(row[columns[j]])] += s }
                }
            }
        } } } } } }
        return histogram
    }

    /// The best (gain > 0, feature, bin) over a node's histogram of `rowCount` rows laid out as `buildHistogramRowWise`
    /// writes it; features in order, bins ascending, empty bins skipped.
    func scanHistogram(_ histogram: [SIMD4<Double>], columns: [Int], offsets: [Int], rowCount: Int,
                       G: Double, H: Double, parentLoss: Double) -> (gain: Double, feature: Int, bin: Int) {
        let minSamplesLeaf = minSamplesLeaf, minimumHessian = minimumHessian, l2 = l2
        let screenSafe = abs(G) < 1e100 && H + l2 < 1e100
        var bestGain = 0.0, bestFeature = -1, bestBin = -1
        var floor = Self.screenFloor(bestGain: 0, parentLoss: parentLoss, screenSafe: screenSafe)
        histogram.withUnsafeBufferPointer { histogram in
        offsets.withUnsafeBufferPointer { offsets in
            for j in 0..<columns.count {
                let first = offsets[j], last = offsets[j + 1] - 1   // the last bin is never a split (right side empty)
                var gl = 0.0, hl = 0.0, cl = 0
                for slot in first..<last {
                    let bin = histogram[slot], binCount = Int(bin.z)
                    if binCount == 0 { continue }
                    gl += bin.x; hl += bin.y; cl += binCount
                    let cr = rowCount - cl
                    if cl < minSamplesLeaf { continue }
                    if cr < minSamplesLeaf { break }
                    let hr = H - hl, gr = G - gl
                    if hl < minimumHessian { continue }
                    if hr < minimumHessian { break }
                    let hlL = hl + l2, hrL = hr + l2, gl2 = gl * gl, gr2 = gr * gr
                    if gl2 * hrL + gr2 * hlL < floor * (hlL * hrL) { continue }   // cannot win (screenFloor)
                    let gain = gl2 / hlL + gr2 / hrL - parentLoss
                    if gain > bestGain {
                        bestGain = gain; bestFeature = columns[j]; bestBin = slot - first
                        floor = Self.screenFloor(bestGain: gain, parentLoss: parentLoss, screenSafe: screenSafe)
                    }
                }
            }
        } }
        return (bestGain, bestFeature, bestBin)
    }

    func grow(gradient: [Double], hessian: [Double], rng: inout SplitMix64) -> GradientBoostedTrees.Tree {
        if let presorted, featureFraction == 1 { return growPresorted(presorted, gradient: gradient, hessian: hessian) }
        let all = Array(0..<binner.rows)
        var nodes = [Node]()
        // Histogram subtraction (LightGBM; scikit-learn's histogram.py): a node whose histogram was built over every
        // feature keeps it until it is split; then only the child with fewer rows is built from its rows and the
        // other is the parent's minus it, bin by bin. Used where every node sees every feature (featureFraction 1)
        // and the tree is grown on one thread (a multi-class round's side-by-side trees: digits), for nodes with
        // many rows per bin. The counts stay exact; the subtracted G and H differ from a direct sum by rounding
        // only, so a near-tie between two candidate splits may resolve the other way than with direct sums.
        let allColumns = Array(0..<binner.features)
        var allOffsets = [0]
        for f in allColumns { allOffsets.append(allOffsets[f] + binner.binCounts[f]) }
        let allBins = allOffsets[binner.features]
        let subtract = featureFraction == 1 && !parallelScan && binner.features > 0 && allBins <= 1 << 15
        func statistics(_ rows: [Int]) -> [SIMD4<Double>] { rows.map { SIMD4<Double>(gradient[$0], hessian[$0], 1, 0) } }
        func makeNode(_ rows: [Int], depth: Int, histogram: [SIMD4<Double>]?, rng: inout SplitMix64) -> Node {
            var G = 0.0, H = 0.0
            for r in rows { G += gradient[r]; H += hessian[r] }
            var node = Node(rows: rows, depth: depth, G: G, H: H)
            let depthAllows = maxDepth.map { depth < $0 } ?? true
            if depthAllows && rows.count >= 2 * minSamplesLeaf {
                if subtract && (histogram != nil || rows.count * binner.features >= 2 * allBins) {
                    // The same histogram (built directly) and scan as bestSplit's row-wise path takes for this node.
                    let nodeHistogram = histogram ?? buildHistogramRowWise(columns: allColumns, offsets: allOffsets, rows: rows,
                                                                           statistics: statistics(rows))
                    let best = scanHistogram(nodeHistogram, columns: allColumns, offsets: allOffsets, rowCount: rows.count,
                                             G: G, H: H, parentLoss: G * G / (H + l2))
                    if best.feature >= 0 {
                        node.split = Split(gain: best.gain, feature: best.feature, bin: best.bin)
                        node.histogram = nodeHistogram
                    }
                } else {
                    node.split = bestSplit(rows, G: G, H: H, gradient: gradient, hessian: hessian, rng: &rng)
                }
            }
            return node
        }
        nodes.append(makeNode(all, depth: 0, histogram: nil, rng: &rng))
        var leaves = 1
        while leaves < maxLeafNodes {
            guard let chosen = TreeGrower.bestOpenLeaf(nodes) else { break }
            let split = nodes[chosen].split!
            let base = split.feature * binner.rows
            var leftRows = [Int](), rightRows = [Int]()
            for r in nodes[chosen].rows { if Int(binner.binned[base + r]) <= split.bin { leftRows.append(r) } else { rightRows.append(r) } }
            let depth = nodes[chosen].depth + 1
            var leftHistogram: [SIMD4<Double>]? = nil, rightHistogram: [SIMD4<Double>]? = nil
            if let parent = nodes[chosen].histogram {
                let leftIsSmaller = leftRows.count <= rightRows.count
                let smaller = leftIsSmaller ? leftRows : rightRows
                let small = buildHistogramRowWise(columns: allColumns, offsets: allOffsets, rows: smaller, statistics: statistics(smaller))
                var large = parent
                for i in 0..<large.count { large[i] -= small[i] }
                (leftHistogram, rightHistogram) = leftIsSmaller ? (small, large) : (large, small)
            }
            nodes[chosen].histogram = nil
            let leftNode = makeNode(leftRows, depth: depth, histogram: leftHistogram, rng: &rng)
            let rightNode = makeNode(rightRows, depth: depth, histogram: rightHistogram, rng: &rng)
            nodes[chosen].feature = split.feature
            nodes[chosen].threshold = binner.thresholds[split.feature][split.bin]
            nodes[chosen].left = nodes.count
            nodes[chosen].right = nodes.count + 1
            nodes[chosen].rows = []
            nodes.append(leftNode)
            nodes.append(rightNode)
            leaves += 1
        }
        return GradientBoostedTrees.Tree(
            feature: nodes.map(\.feature), threshold: nodes.map(\.threshold), left: nodes.map(\.left), right: nodes.map(\.right),
            value: nodes.map { $0.left < 0 ? -learningRate * $0.G / ($0.H + l2 + Double.ulpOfOne) : 0 })
    }
}
