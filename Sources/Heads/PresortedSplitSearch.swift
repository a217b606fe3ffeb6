// Split search on presorted rank lists, for fits with few rows per bin (an embedding set: 54 training rows,
// 2048 continuous features, every row its own bin). The same splits as the histogram scan of
// GradientBoostedTrees.swift, bit for bit, at a fraction of its cost there.
//
// Why: with about one row per bin a node's histogram is a permutation of its rows, and the histogram scan pays
// a scattered store per row and feature, then a dependent scalar chain of sums and gain tests per occupied bin
// (~19 cycles per row and feature on the 62 x 2048 set). Here each feature's training rows are sorted once per
// fit by (bin, row), as the exact greedy splitters of XGBoost (Chen & Guestrin 2016, Alg. 1) and scikit-learn's
// DecisionTree presort them; a node keeps its rows in that order for every feature, and a split partitions the
// lists stably into its children (LightGBM's DataPartition, applied to sorted lists). The lists are stored by blocks of
// eight features, rank by rank within a block, the eight side by side (ids[(b * ranks + k) * 8 + j]: the row of rank k
// in feature 8 b + j), so one step of the scan advances eight features at once in SIMD lanes over contiguous memory,
// and the partition writes each child list in one pass. Fits of at most 64 rows (an OxML fold) keep one-byte row ids,
// each feature's list contiguous, and partition them with AVX-512 byte compress (CRankLists; a plain loop without it):
// a scan then walks only the node's own rows (see `growCompacted`). With ties they instead skip the partitions: every
// node walks the root's lists and counts only its own rows, named by a 64-bit mask (see `growMasked`).
//
// Exactness (why the splits are those of `TreeGrower.scanFeatures`):
//   - the histogram's bin b holds (0 + g_a) + g_b + ... over the node's rows in the bin in ascending row order, and
//     the scan adds the bins in ascending order; the lists hold a node's rows by (bin, row), so summing a run of
//     equal bins from zero and adding it to the running sums at the run's end repeats those additions exactly. When
//     no training row shares a bin with another (`tieFree`) every run is one row, and (0 + g) + s = g + s bit for bit
//     (only -0 + 0 differs, and a running sum that starts at +0 never is -0);
//   - a split is tested at the end of each run, i.e. at each occupied bin, except the last (its right side empty);
//     the tests (row counts, hessians >= 1e-3, the division-free screen, gain > best) are the same expressions in
//     the same order per lane; "break" there (right count or right hessian too small) is a mask here, the same
//     thing because both only shrink as the left side grows;
//   - the winner is the first (feature, bin) of largest gain: each lane keeps its first best under `>`, lanes and
//     blocks are combined in feature order under `>`. The screen's floor is the best gain so far over every lane;
//     it only skips candidates of smaller gain (see `screenFloor`), never one that ties the best.
// Used when every feature is a candidate at every node (featureFraction 1) and the fit has fewer than ~2 rows per
// bin (the histogram scan's own threshold for building histograms row-wise; the fits above it never take this path
// and the fits below it never subtract histograms, so their sums are the direct sums computed here).

import CRankLists
import Foundation

/// Every feature's training rows in ascending (bin, row) order, in blocks of eight features (ids[(b * rows + k) * 8 + j]:
/// rank k of feature 8 b + j), the features padded to a multiple of eight. Built once per fit, shared by every tree and thread.
struct PresortedColumns: @unchecked Sendable {
    static let lanes = 8
    let rows: Int
    let features: Int
    /// features rounded up to a multiple of `lanes`; padding columns hold row 0 in bin 0 at every rank.
    let width: Int
    /// The root's lists: ranks 0 ..< rows.
    let root: RankLists
    /// No two training rows share a bin in any feature (every run of equal bins is one row long).
    let tieFree: Bool
    /// Fits of at most 64 rows without ties: the root's lists again, one byte a row, feature by feature (`growCompacted`);
    /// padding features list the rows in order.
    let compactRoot: CompactLists?
    /// Bytes from one feature's compact list to the next.
    let compactStride: Int

    /// nil when the fit has many rows per bin (n * features >= 2 * total bins), more rows than a UInt16 names,
    /// or lists too large to keep (n * width > 2^22 entries).
    init?(_ binner: FeatureBinner) {
        let n = binner.rows, features = binner.features
        let totalBins = binner.binCounts.reduce(0, +)
        let width = (features + PresortedColumns.lanes - 1) / PresortedColumns.lanes * PresortedColumns.lanes
        guard n >= 1, features >= 1, n <= Int(UInt16.max) + 1, n * features < 2 * totalBins, n * width <= 1 << 22 else { return nil }
        let root = RankLists(ranks: n, width: width)
        root.ids.initialize(repeating: 0, count: n * width)
        root.bins.initialize(repeating: 0, count: n * width)
        var tieFree = true
        var start = [Int](repeating: 0, count: 257)
        binner.binned.withUnsafeBufferPointer { binned in
            for f in 0..<features {
                // Counting sort by bin, stable in row order.
                for b in 0..<257 { start[b] = 0 }
                for r in 0..<n { start[Int(binned[f * n + r]) + 1] += 1 }
                for b in 0..<256 { if start[b + 1] > 1 { tieFree = false }; start[b + 1] += start[b] }
                for r in 0..<n {
                    let b = Int(binned[f * n + r]), k = start[b]
                    start[b] = k + 1
                    root.ids[root.slot(f, k)] = UInt16(r)
                    root.bins[root.slot(f, k)] = UInt8(b)
                }
            }
        }
        self.rows = n
        self.features = features
        self.width = width
        self.root = root
        self.tieFree = tieFree
        compactStride = CompactLists.stride(n)
        if n <= 64 && tieFree {
            let compact = CompactLists(bytes: width * compactStride)
            for f in 0..<width {
                for k in 0..<n { compact.ids[f * compactStride + k] = f < features ? UInt8(root.ids[root.slot(f, k)]) : UInt8(k) }
            }
            compactRoot = compact
        } else {
            compactRoot = nil
        }
    }
}

/// Rank lists of one node, or of both children of a split (left child's ranks first, then the right's):
/// ids[slot(f, k)] is the row of rank k in feature f, bins[slot(f, k)] its bin. Written once (by the fit or by one
/// partition, each thread its own columns), then only read.
final class RankLists: @unchecked Sendable {
    let ids: UnsafeMutablePointer<UInt16>
    let bins: UnsafeMutablePointer<UInt8>
    /// Ranks per block of eight features.
    let ranks: Int
    /// Rank k of feature f: block f / 8, then rank, then lane f % 8.
    @inline(__always) func slot(_ feature: Int, _ rank: Int) -> Int {
        ((feature / PresortedColumns.lanes) * ranks + rank) * PresortedColumns.lanes + feature % PresortedColumns.lanes
    }
    init(ranks: Int, width: Int) {
        self.ranks = ranks
        ids = .allocate(capacity: max(ranks * width, 1))
        bins = .allocate(capacity: max(ranks * width, 1))
    }
    deinit { ids.deallocate(); bins.deallocate() }
}

typealias Lanes8 = SIMD8<Double>

/// Lane-wise zero extension (one vpmovzx; the generic `init(truncatingIfNeeded:)` compiles to a loop over the lanes).
@inline(__always) func widen<Scalar: FixedWidthInteger & UnsignedInteger>(_ v: SIMD8<Scalar>) -> SIMD8<UInt64> {
    SIMD8<UInt64>(UInt64(v[0]), UInt64(v[1]), UInt64(v[2]), UInt64(v[3]), UInt64(v[4]), UInt64(v[5]), UInt64(v[6]), UInt64(v[7]))
}

/// `v` in the lanes where `select` is all ones, +0 where it is zero (a masked add is then exact: x + +0 = x for every
/// x a sum from +0 can be). Bit operations instead of `replace(with:where:)`, which compiles to a loop over the lanes.
@inline(__always) func keep(_ v: SIMD8<Double>, _ select: SIMD8<UInt64>) -> SIMD8<Double> {
    unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt64>.self) & select, to: SIMD8<Double>.self)
}

/// `a` in the lanes where `select` is all ones, `b` where it is zero (bit operations: one vpternlogq).
@inline(__always) func choose(_ select: SIMD8<UInt64>, _ a: Lanes8, _ b: Lanes8) -> Lanes8 {
    unsafeBitCast((unsafeBitCast(a, to: SIMD8<UInt64>.self) & select) | (unsafeBitCast(b, to: SIMD8<UInt64>.self) & ~select), to: Lanes8.self)
}

/// The lanes of a comparison's mask as bits (all ones where true): SIMDMask's public storage.
@inline(__always) func bitsOf(_ mask: SIMDMask<SIMD8<Int64>>) -> SIMD8<UInt64> { unsafeBitCast(mask._storage, to: SIMD8<UInt64>.self) }

/// All ones in the lanes where two bins (0 ... 255) differ: a run of equal bins ends there.
@inline(__always) func runEnds(_ current: SIMD8<UInt64>, _ next: SIMD8<UInt64>) -> SIMD8<UInt64> {
    let differs = (current ^ next) &+ SIMD8<UInt64>(repeating: 255)   // >= 256 exactly when they differ
    let bit = SIMD8<UInt64>(differs[0] &>> 8, differs[1] &>> 8, differs[2] &>> 8, differs[3] &>> 8,
                            differs[4] &>> 8, differs[5] &>> 8, differs[6] &>> 8, differs[7] &>> 8)
    return SIMD8<UInt64>() &- bit
}

/// One node's constants for the single-node scans' lane-wise split tests, the same for every feature and rank: its
/// sums G and H, lambda, the minimum hessian and its loss G^2 / (H + lambda) in every lane, and what the screen's floor
/// needs (`LaneBests`).
struct NodeLanes {
    let parentLoss: Double, screenSafe: Bool
    let g: Lanes8, h: Lanes8, l2: Lanes8, minimumHessian: Lanes8, parent: Lanes8

    init(G: Double, H: Double, l2: Double, minimumHessian: Double) {
        parentLoss = G * G / (H + l2)
        screenSafe = abs(G) < 1e100 && H + l2 < 1e100
        g = Lanes8(repeating: G); h = Lanes8(repeating: H); self.l2 = Lanes8(repeating: l2)
        self.minimumHessian = Lanes8(repeating: minimumHessian); parent = Lanes8(repeating: parentLoss)
    }

    /// The candidates whose left sides have the sums (gl, hl), one per lane, where `open` (their row counts allow
    /// them): the hessian tests and the screen against the scan's floor, then the exact gain against each lane's best.
    @inline(__always)
    func test(gl: Lanes8, hl: Lanes8, open: SIMDMask<SIMD8<Int64>>, rank k: Int, bests: inout LaneBests) {
        let hr = h - hl, gr = g - gl
        let hlL = hl + l2, hrL = hr + l2, gl2 = gl * gl, gr2 = gr * gr
        let screen = Lanes8(repeating: bests.floor) * (hlL * hrL)
        let pass = open .& .!(hl .< minimumHessian) .& .!(hr .< minimumHessian) .& .!(gl2 * hrL + gr2 * hlL .< screen)
        if !any(pass) { return }
        let gain = gl2 / hlL + gr2 / hrL - parent
        bests.record(gain, pass, rank: k)
    }
}

/// The running bests of one presorted scan: each lane's best gain and the rank where it was found, the best gain of the
/// scan so far and the screen's floor from it (`screenFloor`), and room for one vector of gains and one of pass bits.
/// The rare passing lanes are recorded one by one through memory: as vectors carried by the scan's loop, the lanes'
/// bests make LLVM split the sums too into 128-bit pieces.
struct LaneBests {
    let gain = UnsafeMutablePointer<Double>.allocate(capacity: PresortedColumns.lanes)
    let rank = UnsafeMutablePointer<Int>.allocate(capacity: PresortedColumns.lanes)
    private let scratch = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 64)
    private let parentLoss: Double, screenSafe: Bool
    private var bestSoFar = 0.0
    private(set) var floor: Double

    init(parentLoss: Double, screenSafe: Bool) {
        self.parentLoss = parentLoss
        self.screenSafe = screenSafe
        floor = TreeGrower.screenFloor(bestGain: 0, parentLoss: parentLoss, screenSafe: screenSafe)
    }

    func deallocate() { gain.deallocate(); rank.deallocate(); scratch.deallocate() }

    /// A new block of eight features: no lane has a candidate yet (the scan's best and floor carry on).
    func resetLanes() { for lane in 0..<PresortedColumns.lanes { gain[lane] = 0; rank[lane] = -1 } }

    /// The lanes of `pass` whose gain beats their best so far take it, with `rank`; a new best of the scan raises the floor.
    @inline(__always)
    mutating func record(_ gains: SIMD8<Double>, _ pass: SIMDMask<SIMD8<Int64>>, rank k: Int) {
        scratch.storeBytes(of: gains, as: SIMD8<Double>.self)
        scratch.storeBytes(of: bitsOf(pass), toByteOffset: 64, as: SIMD8<UInt64>.self)
        for lane in 0..<PresortedColumns.lanes where scratch.load(fromByteOffset: 64 + 8 * lane, as: UInt64.self) != 0 {
            let candidate = scratch.load(fromByteOffset: 8 * lane, as: Double.self)
            if candidate > gain[lane] {
                gain[lane] = candidate; rank[lane] = k
                if candidate > bestSoFar {
                    bestSoFar = candidate
                    floor = TreeGrower.screenFloor(bestGain: candidate, parentLoss: parentLoss, screenSafe: screenSafe)
                }
            }
        }
    }
}

extension TreeGrower {
    typealias Lanes = SIMD8<Double>
    typealias Candidate = (gain: Double, feature: Int, bin: Int)

    /// The best split (gain > 0; feature -1 when none) of a node of `rankCount` rows whose lists are ranks
    /// first ..< first + rankCount of `lists`, over the feature blocks `blocks` (features 8 b ..< 8 b + 8), from the
    /// per-row `gradient` and `hessian` and the node's sums G, H.
    func scanPresorted(_ columns: PresortedColumns, lists: RankLists, first: Int, rankCount r: Int, blocks: Range<Int>,
                       gradient: UnsafePointer<Double>, hessian: UnsafePointer<Double>, G: Double, H: Double) -> Candidate {
        let features = columns.features, msl = minSamplesLeaf, stride = lists.ranks
        var best: Candidate = (0, -1, -1)
        // Each side keeps >= minSamplesLeaf rows: the left side's last rank k is in msl - 1 ... r - 1 - msl.
        guard r >= 2 * msl, r >= 2 else { return best }
        let node = NodeLanes(G: G, H: H, l2: l2, minimumHessian: minimumHessian)
        var bests = LaneBests(parentLoss: node.parentLoss, screenSafe: node.screenSafe)
        defer { bests.deallocate() }
        let laneIndex = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
        let idBase = UnsafePointer(lists.ids), binBase = UnsafePointer(lists.bins)
        for block in blocks {
            let f0 = block * PresortedColumns.lanes
            let real = laneIndex .< SIMD8<Int64>(repeating: Int64(features - f0))   // padding lanes never split
            var gl = Lanes(), hl = Lanes()
            bests.resetLanes()
            // Eight features' (g, h) at rank k, gathered by row.
            @inline(__always) func load(_ k: Int) -> (g: Lanes, h: Lanes) {
                let p = idBase + (block * stride + first + k) * PresortedColumns.lanes
                let i0 = Int(p[0]), i1 = Int(p[1]), i2 = Int(p[2]), i3 = Int(p[3]), i4 = Int(p[4]), i5 = Int(p[5]), i6 = Int(p[6]), i7 = Int(p[7])
                return (Lanes(gradient[i0], gradient[i1], gradient[i2], gradient[i3], gradient[i4], gradient[i5], gradient[i6], gradient[i7]),
                        Lanes(hessian[i0], hessian[i1], hessian[i2], hessian[i3], hessian[i4], hessian[i5], hessian[i6], hessian[i7]))
            }
            // One candidate per lane (left side: the ranks up to k), `open` where its row counts allow it: the
            // hessian tests, the screen, then the exact gain against the lane's best.
            @inline(__always) func test(_ k: Int, _ open: SIMDMask<SIMD8<Int64>>) {
                node.test(gl: gl, hl: hl, open: open, rank: k, bests: &bests)
            }
            if columns.tieFree {
                // Every rank ends a run: cl = k + 1 and cr = r - k - 1, the same in every lane.
                for k in 0..<(msl - 1) { let s = load(k); gl += s.g; hl += s.h }
                for k in (msl - 1)...(r - 1 - msl) {
                    let s = load(k)
                    gl += s.g; hl += s.h
                    test(k, real)
                }
            } else {
                // Runs of equal bins summed from zero and added at the run's end (the histogram's per-bin sums).
                var runG = Lanes(), runH = Lanes(), runCount = Lanes(), cl = Lanes()
                let one = Lanes(repeating: 1), mslVector = Lanes(repeating: Double(msl)), rVector = Lanes(repeating: Double(r))
                let binRow = UnsafeRawPointer(binBase + (block * stride + first) * PresortedColumns.lanes)
                let firstBins: SIMD8<UInt8> = binRow.loadUnaligned(as: SIMD8<UInt8>.self)
                var current = widen(firstBins)
                for k in 0..<(r - 1) {
                    let s = load(k)
                    runG += s.g; runH += s.h; runCount += one
                    let nextBins: SIMD8<UInt8> = binRow.loadUnaligned(fromByteOffset: (k + 1) * PresortedColumns.lanes, as: SIMD8<UInt8>.self)
                    let next = widen(nextBins)
                    let ends = runEnds(current, next)
                    current = next
                    gl += keep(runG, ends); hl += keep(runH, ends); cl += keep(runCount, ends)
                    runG = keep(runG, ~ends); runH = keep(runH, ~ends); runCount = keep(runCount, ~ends)
                    test(k, real .& (ends .!= SIMD8<UInt64>()) .& .!(cl .< mslVector) .& .!(rVector - cl .< mslVector))
                }
            }
            for lane in 0..<PresortedColumns.lanes where bests.gain[lane] > best.gain {
                let f = f0 + lane, row = Int(idBase[lists.slot(f, first + bests.rank[lane])])
                best = (bests.gain[lane], f, Int(binner.binned[f * columns.rows + row]))
            }
        }
        return best
    }

    /// Partitions a node's lists (ranks first ..< first + r of `lists`) into `children`, columns `columnRange` only:
    /// in every column the rows going left (goesLeft[row] == 1; leftCount of them) to ranks 0 ..< leftCount, the
    /// others to ranks leftCount ..< r, each side in the parent's order. Padding columns get row 0 in bin 0.
    func partitionPresorted(_ columns: PresortedColumns, lists: RankLists, first: Int, rankCount r: Int, goesLeft: UnsafePointer<UInt8>,
                            leftCount: Int, columnRange: Range<Int>, into children: RankLists) {
        let lower = columnRange.lowerBound, realEnd = max(lower, min(columnRange.upperBound, columns.features))
        guard lower < columnRange.upperBound else { return }
        let ids = children.ids, bins = children.bins, source = UnsafePointer(lists.ids), sourceBins = UnsafePointer(lists.bins)
        for f in lower..<realEnd {
            // One column: its left rows to ranks 0 ..< leftCount in order, the others after them.
            var left = 0
            for k in 0..<r {
                let from = lists.slot(f, first + k)
                let id = source[from], isLeft = Int(goesLeft[Int(id)])
                let rightRank = leftCount + k - left
                let destination = children.slot(f, rightRank + (left - rightRank) * isLeft)   // branch-free: left ? left : rightRank
                ids[destination] = id
                bins[destination] = sourceBins[from]
                left += isLeft
            }
        }
        for f in realEnd..<columnRange.upperBound { for k in 0..<r { ids[children.slot(f, k)] = 0; bins[children.slot(f, k)] = 0 } }
    }

    /// `grow` for fits with presorted columns: the same best-first growth, the same trees.
    func growPresorted(_ columns: PresortedColumns, gradient: [Double], hessian: [Double]) -> GradientBoostedTrees.Tree {
        if columns.rows <= 64 {
            if let compact = columns.compactRoot { return growCompacted(columns, root: compact, gradient: gradient, hessian: hessian) }
            return growMasked(columns, gradient: gradient, hessian: hessian)
        }
        let n = binner.rows, width = columns.width, blockCount = width / PresortedColumns.lanes
        var nodes = [Node]()
        // Open leaves' lists (node index → lists and first rank), dropped when the leaf is split.
        var openLists = [Int: (lists: RankLists, first: Int)]()
        func sums(_ rows: [Int]) -> (G: Double, H: Double) {
            var G = 0.0, H = 0.0
            for r in rows { G += gradient[r]; H += hessian[r] }
            return (G, H)
        }
        func splittable(_ rows: [Int], depth: Int) -> Bool { (maxDepth.map { depth < $0 } ?? true) && rows.count >= 2 * minSamplesLeaf }
        func node(_ rows: [Int], depth: Int, _ G: Double, _ H: Double, best: Candidate?) -> Node {
            var node = Node(rows: rows, depth: depth, G: G, H: H)
            if let best, best.feature >= 0 { node.split = Split(gain: best.gain, feature: best.feature, bin: best.bin) }
            return node
        }
        // Large nodes: the feature blocks in two halves on two threads (the first half wins ties, as in feature order).
        func threads(_ rows: Int) -> Int { parallelScan && rows * width >= 1 << 14 && blockCount >= 2 ? 2 : 1 }
        func halves(_ count: Int) -> [Range<Int>] { count == 1 ? [0..<blockCount] : [0..<(blockCount / 2), (blockCount / 2)..<blockCount] }
        gradient.withUnsafeBufferPointer { gradientBuffer in
        hessian.withUnsafeBufferPointer { hessianBuffer in
        withExtendedLifetime(columns.root) {
            guard let gradientBase = gradientBuffer.baseAddress, let hessianBase = hessianBuffer.baseAddress else { return }
            let all = Array(0..<n)
            let (rootG, rootH) = sums(all)
            var rootBest: Candidate? = nil
            if splittable(all, depth: 0) {
                let parts = halves(threads(n))
                var found = [Candidate](repeating: (0, -1, -1), count: parts.count)
                found.withUnsafeMutableBufferPointer { found in
                    DispatchQueue.concurrentPerform(iterations: parts.count) { part in
                        found[part] = scanPresorted(columns, lists: columns.root, first: 0, rankCount: n, blocks: parts[part],
                                                    gradient: gradientBase, hessian: hessianBase, G: rootG, H: rootH)
                    }
                }
                rootBest = found.count == 2 && found[1].gain > found[0].gain ? found[1] : found[0]
            }
            nodes.append(node(all, depth: 0, rootG, rootH, best: rootBest))
            if nodes[0].split != nil { openLists[0] = (columns.root, 0) }
            let goesLeft = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
            defer { goesLeft.deallocate() }
            goesLeft.initialize(repeating: 0, count: n)
            var leaves = 1
            while leaves < maxLeafNodes {
                guard let chosen = TreeGrower.bestOpenLeaf(nodes) else { break }
                let split = nodes[chosen].split!
                let base = split.feature * binner.rows
                var leftRows = [Int](), rightRows = [Int]()
                for r in nodes[chosen].rows {
                    let left = Int(binner.binned[base + r]) <= split.bin
                    goesLeft[r] = left ? 1 : 0
                    if left { leftRows.append(r) } else { rightRows.append(r) }
                }
                let depth = nodes[chosen].depth + 1
                let parent = openLists.removeValue(forKey: chosen)
                let (leftG, leftH) = sums(leftRows), (rightG, rightH) = sums(rightRows)
                let scanLeft = splittable(leftRows, depth: depth), scanRight = splittable(rightRows, depth: depth)
                var leftBest: Candidate? = nil, rightBest: Candidate? = nil
                var children: RankLists? = nil
                if let parent, scanLeft || scanRight {
                    // Both children's lists in one pass over the parent's, then their scans; on two threads each
                    // thread partitions and scans its own columns.
                    let r = nodes[chosen].rows.count, leftCount = leftRows.count
                    let lists = RankLists(ranks: r, width: width)
                    let parts = halves(threads(r))
                    var found = [(left: Candidate, right: Candidate)](repeating: ((0, -1, -1), (0, -1, -1)), count: parts.count)
                    found.withUnsafeMutableBufferPointer { found in
                        DispatchQueue.concurrentPerform(iterations: parts.count) { part in
                            let blocks = parts[part]
                            partitionPresorted(columns, lists: parent.lists, first: parent.first, rankCount: r, goesLeft: goesLeft,
                                               leftCount: leftCount,
                                               columnRange: (blocks.lowerBound * PresortedColumns.lanes)..<(blocks.upperBound * PresortedColumns.lanes),
                                               into: lists)
                            if scanLeft {
                                found[part].left = scanPresorted(columns, lists: lists, first: 0, rankCount: leftCount, blocks: blocks,
                                                                 gradient: gradientBase, hessian: hessianBase, G: leftG, H: leftH)
                            }
                            if scanRight {
                                found[part].right = scanPresorted(columns, lists: lists, first: leftCount, rankCount: r - leftCount,
                                                                  blocks: blocks, gradient: gradientBase, hessian: hessianBase, G: rightG, H: rightH)
                            }
                        }
                    }
                    let last = found.count - 1
                    leftBest = found[last].left.gain > found[0].left.gain ? found[last].left : found[0].left
                    rightBest = found[last].right.gain > found[0].right.gain ? found[last].right : found[0].right
                    children = lists
                }
                nodes[chosen].feature = split.feature
                nodes[chosen].threshold = binner.thresholds[split.feature][split.bin]
                nodes[chosen].left = nodes.count
                nodes[chosen].right = nodes.count + 1
                nodes[chosen].rows = []
                let leftIndex = nodes.count
                nodes.append(node(leftRows, depth: depth, leftG, leftH, best: leftBest))
                nodes.append(node(rightRows, depth: depth, rightG, rightH, best: rightBest))
                if let children {
                    if nodes[leftIndex].split != nil { openLists[leftIndex] = (children, 0) }
                    if nodes[leftIndex + 1].split != nil { openLists[leftIndex + 1] = (children, leftRows.count) }
                }
                leaves += 1
            }
        } } }
        return GradientBoostedTrees.Tree(
            feature: nodes.map(\.feature), threshold: nodes.map(\.threshold), left: nodes.map(\.left), right: nodes.map(\.right),
            value: nodes.map { $0.left < 0 ? -learningRate * $0.G / ($0.H + l2 + Double.ulpOfOne) : 0 })
    }

    // Fits of at most 64 rows (an OxML fold: 54): no partitions. Every node walks the root's lists, rank by rank,
    // and counts only its own rows, named by a 64-bit mask: lane j's row (ids[slot(f, k)], f = 8 b + j) is in the
    // node when that bit of the mask is set, one variable shift for eight lanes; the lanes' (g, h) are gathered by row
    // from 2 x 64 doubles that stay in L1 (laying them out in the lists' order once per tree instead, 2 x 8 x n x width
    // bytes, was slower: the scans then stream that from L2/L3).
    // Adding nothing for another node's row leaves the sums as they are, so a node's sums at each rank are the sums
    // over its own rows up to that rank, in the same order as from its own lists.

    /// `scanPresorted` for a node given by `members` (bit r: row r is in the node; `memberCount` rows) over the
    /// root's lists, with the tree's gradient in statistics[0 ..< n] and its hessian in statistics[n ..< 2 n].
    func scanMasked(_ columns: PresortedColumns, members: UInt64, memberCount r: Int, blocks: Range<Int>,
                    statistics: UnsafePointer<Double>, G: Double, H: Double) -> Candidate {
        let features = columns.features, n = columns.rows, msl = minSamplesLeaf
        var best: Candidate = (0, -1, -1)
        guard r >= 2 * msl, r >= 2 else { return best }
        let node = NodeLanes(G: G, H: H, l2: l2, minimumHessian: minimumHessian)
        var bests = LaneBests(parentLoss: node.parentLoss, screenSafe: node.screenSafe)
        defer { bests.deallocate() }
        let one = Lanes(repeating: 1), mslVector = Lanes(repeating: Double(msl)), rVector = Lanes(repeating: Double(r))
        // Lane-wise shifts and vector-to-vector compares written out: the generic SIMD `&>>` and compares with a
        // scalar compile to loops over the lanes, these to one vpsrlvq and one vptestmq.
        let oneBit = SIMD8<UInt64>(repeating: 1), noBits = SIMD8<UInt64>()
        let laneIndex = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
        let idBase = UnsafeRawPointer(columns.root.ids), binBase = UnsafeRawPointer(columns.root.bins)
        let rowIds = UnsafePointer(columns.root.ids)
        for block in blocks {
            let f0 = block * PresortedColumns.lanes
            let real = laneIndex .< SIMD8<Int64>(repeating: Int64(features - f0))   // padding lanes never split
            var gl = Lanes(), hl = Lanes(), cl = Lanes()
            bests.resetLanes()
            // All ones in the lanes whose row at rank k is in the node, else zero.
            @inline(__always) func member(_ k: Int) -> SIMD8<UInt64> {
                let ids: SIMD8<UInt16> = idBase.loadUnaligned(fromByteOffset: 2 * (block * n + k) * PresortedColumns.lanes, as: SIMD8<UInt16>.self)
                let shift = widen(ids)
                let bits = SIMD8<UInt64>(members &>> shift[0], members &>> shift[1], members &>> shift[2], members &>> shift[3],
                                         members &>> shift[4], members &>> shift[5], members &>> shift[6], members &>> shift[7])
                return noBits &- (bits & oneBit)
            }
            @inline(__always) func load(_ k: Int, _ select: SIMD8<UInt64>) -> (g: Lanes, h: Lanes, count: Lanes) {
                let p = rowIds + (block * n + k) * PresortedColumns.lanes
                let i0 = Int(p[0]), i1 = Int(p[1]), i2 = Int(p[2]), i3 = Int(p[3]), i4 = Int(p[4]), i5 = Int(p[5]), i6 = Int(p[6]), i7 = Int(p[7])
                let g = Lanes(statistics[i0], statistics[i1], statistics[i2], statistics[i3], statistics[i4], statistics[i5], statistics[i6], statistics[i7])
                let h = statistics + n
                return (keep(g, select), keep(Lanes(h[i0], h[i1], h[i2], h[i3], h[i4], h[i5], h[i6], h[i7]), select), keep(one, select))
            }
            @inline(__always) func test(_ k: Int, _ open: SIMDMask<SIMD8<Int64>>) {
                node.test(gl: gl, hl: hl, open: open, rank: k, bests: &bests)
            }
            if columns.tieFree {
                // Each of the node's rows ends a run; the candidate after it has cl of the node's rows on the left.
                for k in 0..<(n - 1) {
                    let select = member(k), s = load(k, select)
                    gl += s.g; hl += s.h; cl += s.count
                    test(k, real .& (select .!= noBits) .& .!(cl .< mslVector) .& .!(rVector - cl .< mslVector))
                }
            } else {
                // Runs of equal bins (over all rows) summed from zero over the node's rows, added at the run's end; a run
                // without the node's rows adds zeros and repeats the previous candidate, which cannot win under `>`.
                var runG = Lanes(), runH = Lanes(), runCount = Lanes()
                let firstBins: SIMD8<UInt8> = binBase.loadUnaligned(fromByteOffset: block * n * PresortedColumns.lanes, as: SIMD8<UInt8>.self)
                var current = widen(firstBins)
                for k in 0..<(n - 1) {
                    let s = load(k, member(k))
                    runG += s.g; runH += s.h; runCount += s.count
                    let nextBins: SIMD8<UInt8> = binBase.loadUnaligned(fromByteOffset: (block * n + k + 1) * PresortedColumns.lanes, as: SIMD8<UInt8>.self)
                    let next = widen(nextBins)
                    let ends = runEnds(current, next)
                    current = next
                    gl += keep(runG, ends); hl += keep(runH, ends); cl += keep(runCount, ends)
                    runG = keep(runG, ~ends); runH = keep(runH, ~ends); runCount = keep(runCount, ~ends)
                    test(k, real .& (ends .!= noBits) .& .!(cl .< mslVector) .& .!(rVector - cl .< mslVector))
                }
            }
            for lane in 0..<PresortedColumns.lanes where bests.gain[lane] > best.gain {
                let f = f0 + lane
                best = (bests.gain[lane], f, Int(columns.root.bins[columns.root.slot(f, bests.rank[lane])]))
            }
        }
        return best
    }

    /// `scanMasked` for both children of a split at once, when no training rows share a bin: one walk of the lists
    /// loads each step's rows and their (g, h) once for the two, and tests each lane once, for the child its row is in
    /// (the children split the parent's rows, so a lane's row is in one of them or in neither; the other child's
    /// candidate there has no row of its own and is not tested in `scanMasked` either). Each child keeps its own sums,
    /// floor and bests, and the lane's test takes that child's sums and constants: the same expressions in the same
    /// order as in `scanMasked`, so the same candidates.
    func scanMaskedPair(_ columns: PresortedColumns, members: (UInt64, UInt64), memberCounts: (Int, Int), blocks: Range<Int>,
                        statistics: UnsafePointer<Double>, G: (Double, Double), H: (Double, Double)) -> (Candidate, Candidate) {
        precondition(columns.tieFree, "scanMaskedPair: runs of equal bins need scanMasked")
        precondition(members.0 & members.1 == 0, "scanMaskedPair: the children share a row")
        let features = columns.features, n = columns.rows, msl = minSamplesLeaf
        var best0: Candidate = (0, -1, -1), best1: Candidate = (0, -1, -1)
        let parentLoss0 = G.0 * G.0 / (H.0 + l2), parentLoss1 = G.1 * G.1 / (H.1 + l2)
        let screenSafe0 = abs(G.0) < 1e100 && H.0 + l2 < 1e100, screenSafe1 = abs(G.1) < 1e100 && H.1 + l2 < 1e100
        var bestSoFar0 = 0.0, bestSoFar1 = 0.0
        var floor0 = Self.screenFloor(bestGain: 0, parentLoss: parentLoss0, screenSafe: screenSafe0)
        var floor1 = Self.screenFloor(bestGain: 0, parentLoss: parentLoss1, screenSafe: screenSafe1)
        let gVector0 = Lanes(repeating: G.0), gVector1 = Lanes(repeating: G.1)
        let hVector0 = Lanes(repeating: H.0), hVector1 = Lanes(repeating: H.1)
        let parentVector0 = Lanes(repeating: parentLoss0), parentVector1 = Lanes(repeating: parentLoss1)
        let rVector0 = Lanes(repeating: Double(memberCounts.0)), rVector1 = Lanes(repeating: Double(memberCounts.1))
        let l2Vector = Lanes(repeating: l2), minimumHessianVector = Lanes(repeating: minimumHessian)
        let one = Lanes(repeating: 1), mslVector = Lanes(repeating: Double(msl))
        let oneBit = SIMD8<UInt64>(repeating: 1), noBits = SIMD8<UInt64>()
        let laneIndex = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7)
        let lanes = PresortedColumns.lanes
        // Gains and pass bits of one step, and each child's per-lane bests (child c's lane j at c * 8 + j).
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 192, alignment: 64)
        let laneGain = UnsafeMutablePointer<Double>.allocate(capacity: 2 * lanes)
        let laneRank = UnsafeMutablePointer<Int>.allocate(capacity: 2 * lanes)
        defer { scratch.deallocate(); laneGain.deallocate(); laneRank.deallocate() }
        let idBase = UnsafeRawPointer(columns.root.ids), rowIds = UnsafePointer(columns.root.ids)
        let hessians = statistics + n
        for block in blocks {
            let f0 = block * lanes
            let real = laneIndex .< SIMD8<Int64>(repeating: Int64(features - f0))   // padding lanes never split
            var gl0 = Lanes(), hl0 = Lanes(), cl0 = Lanes(), gl1 = Lanes(), hl1 = Lanes(), cl1 = Lanes()
            for lane in 0..<(2 * lanes) { laneGain[lane] = 0; laneRank[lane] = -1 }
            for k in 0..<(n - 1) {
                let ids: SIMD8<UInt16> = idBase.loadUnaligned(fromByteOffset: 2 * (block * n + k) * lanes, as: SIMD8<UInt16>.self)
                let shift = widen(ids)
                let bits0 = SIMD8<UInt64>(members.0 &>> shift[0], members.0 &>> shift[1], members.0 &>> shift[2], members.0 &>> shift[3],
                                          members.0 &>> shift[4], members.0 &>> shift[5], members.0 &>> shift[6], members.0 &>> shift[7])
                let bits1 = SIMD8<UInt64>(members.1 &>> shift[0], members.1 &>> shift[1], members.1 &>> shift[2], members.1 &>> shift[3],
                                          members.1 &>> shift[4], members.1 &>> shift[5], members.1 &>> shift[6], members.1 &>> shift[7])
                let select0 = noBits &- (bits0 & oneBit), select1 = noBits &- (bits1 & oneBit)
                let p = rowIds + (block * n + k) * lanes
                let i0 = Int(p[0]), i1 = Int(p[1]), i2 = Int(p[2]), i3 = Int(p[3]), i4 = Int(p[4]), i5 = Int(p[5]), i6 = Int(p[6]), i7 = Int(p[7])
                let g = Lanes(statistics[i0], statistics[i1], statistics[i2], statistics[i3], statistics[i4], statistics[i5], statistics[i6], statistics[i7])
                let h = Lanes(hessians[i0], hessians[i1], hessians[i2], hessians[i3], hessians[i4], hessians[i5], hessians[i6], hessians[i7])
                gl0 += keep(g, select0); hl0 += keep(h, select0); cl0 += keep(one, select0)
                gl1 += keep(g, select1); hl1 += keep(h, select1); cl1 += keep(one, select1)
                // Each lane's child: its sums and constants (child 0 where select0, else child 1).
                let gl = choose(select0, gl0, gl1), hl = choose(select0, hl0, hl1), cl = choose(select0, cl0, cl1)
                let gV = choose(select0, gVector0, gVector1), hV = choose(select0, hVector0, hVector1)
                let rV = choose(select0, rVector0, rVector1)
                let floorV = choose(select0, Lanes(repeating: floor0), Lanes(repeating: floor1))
                let open = real .& ((select0 | select1) .!= noBits) .& .!(cl .< mslVector) .& .!(rV - cl .< mslVector)
                let hr = hV - hl, gr = gV - gl
                let hlL = hl + l2Vector, hrL = hr + l2Vector, gl2 = gl * gl, gr2 = gr * gr
                let screen = floorV * (hlL * hrL)
                let pass = open .& .!(hl .< minimumHessianVector) .& .!(hr .< minimumHessianVector) .& .!(gl2 * hrL + gr2 * hlL .< screen)
                if !any(pass) { continue }
                // Rare: the passing lanes one by one, through memory, child 0's lanes first (the children's bests
                // and floors are independent, so the order between them does not matter; within a child it is
                // the lanes' order, as in `scanMasked`).
                let gain = gl2 / hlL + gr2 / hrL - choose(select0, parentVector0, parentVector1)
                scratch.storeBytes(of: gain, as: Lanes.self)
                scratch.storeBytes(of: bitsOf(pass), toByteOffset: 64, as: SIMD8<UInt64>.self)
                scratch.storeBytes(of: select0, toByteOffset: 128, as: SIMD8<UInt64>.self)
                for lane in 0..<lanes where scratch.load(fromByteOffset: 64 + 8 * lane, as: UInt64.self) != 0 {
                    let candidate = scratch.load(fromByteOffset: 8 * lane, as: Double.self)
                    if scratch.load(fromByteOffset: 128 + 8 * lane, as: UInt64.self) != 0 {
                        if candidate > laneGain[lane] {
                            laneGain[lane] = candidate; laneRank[lane] = k
                            if candidate > bestSoFar0 {
                                bestSoFar0 = candidate
                                floor0 = Self.screenFloor(bestGain: candidate, parentLoss: parentLoss0, screenSafe: screenSafe0)
                            }
                        }
                    } else if candidate > laneGain[lanes + lane] {
                        laneGain[lanes + lane] = candidate; laneRank[lanes + lane] = k
                        if candidate > bestSoFar1 {
                            bestSoFar1 = candidate
                            floor1 = Self.screenFloor(bestGain: candidate, parentLoss: parentLoss1, screenSafe: screenSafe1)
                        }
                    }
                }
            }
            for lane in 0..<lanes where laneGain[lane] > best0.gain {
                let f = f0 + lane
                best0 = (laneGain[lane], f, Int(columns.root.bins[columns.root.slot(f, laneRank[lane])]))
            }
            for lane in 0..<lanes where laneGain[lanes + lane] > best1.gain {
                let f = f0 + lane
                best1 = (laneGain[lanes + lane], f, Int(columns.root.bins[columns.root.slot(f, laneRank[lanes + lane])]))
            }
        }
        return (best0, best1)
    }

    /// `grow` for fits of at most 64 rows: the same best-first growth, the same trees.
    func growMasked(_ columns: PresortedColumns, gradient: [Double], hessian: [Double]) -> GradientBoostedTrees.Tree {
        let n = columns.rows, width = columns.width, blockCount = width / PresortedColumns.lanes
        var nodes = [Node]()
        func sums(_ rows: [Int]) -> (G: Double, H: Double) {
            var G = 0.0, H = 0.0
            for r in rows { G += gradient[r]; H += hessian[r] }
            return (G, H)
        }
        func mask(_ rows: [Int]) -> UInt64 { rows.reduce(0) { $0 | UInt64(1) << UInt64($1) } }
        func splittable(_ rows: [Int], depth: Int) -> Bool { (maxDepth.map { depth < $0 } ?? true) && rows.count >= 2 * minSamplesLeaf }
        func node(_ rows: [Int], depth: Int, _ G: Double, _ H: Double, best: Candidate?) -> Node {
            var node = Node(rows: rows, depth: depth, G: G, H: H)
            if let best, best.feature >= 0 { node.split = Split(gain: best.gain, feature: best.feature, bin: best.bin) }
            return node
        }
        // The tree's (g, h) in the lists' layout, and the scans: feature blocks in two halves on two threads when the
        // grower scans in parallel (the first half wins ties, as in feature order), each thread laying out its own columns.
        let parts: [Range<Int>] = parallelScan && n * width >= 1 << 14 && blockCount >= 2
            ? [0..<(blockCount / 2), (blockCount / 2)..<blockCount] : [0..<blockCount]
        let statistics = UnsafeMutablePointer<Double>.allocate(capacity: 2 * n)
        defer { statistics.deallocate() }
        for r in 0..<n { statistics[r] = gradient[r]; statistics[n + r] = hessian[r] }
        func inParts(_ body: (Range<Int>) -> (Candidate, Candidate)) -> (Candidate, Candidate) {
            if parts.count == 1 { return body(parts[0]) }
            var found = [(Candidate, Candidate)](repeating: ((0, -1, -1), (0, -1, -1)), count: parts.count)
            found.withUnsafeMutableBufferPointer { found in
                DispatchQueue.concurrentPerform(iterations: parts.count) { part in found[part] = body(parts[part]) }
            }
            return (found[1].0.gain > found[0].0.gain ? found[1].0 : found[0].0, found[1].1.gain > found[0].1.gain ? found[1].1 : found[0].1)
        }
        let all = Array(0..<n)
        let (rootG, rootH) = sums(all)
        let rootSplittable = splittable(all, depth: 0)
        let (rootBest, _) = inParts { blocks in
            if !rootSplittable { return ((0, -1, -1), (0, -1, -1)) }
            // Every row is in the root: its lists are the root's, walked without a mask.
            return (scanPresorted(columns, lists: columns.root, first: 0, rankCount: n, blocks: blocks, gradient: statistics,
                                  hessian: statistics + n, G: rootG, H: rootH), (0, -1, -1))
        }
        nodes.append(node(all, depth: 0, rootG, rootH, best: rootBest))
        var leaves = 1
        while leaves < maxLeafNodes {
            guard let chosen = TreeGrower.bestOpenLeaf(nodes) else { break }
            let split = nodes[chosen].split!
            let base = split.feature * binner.rows
            var leftRows = [Int](), rightRows = [Int]()
            for r in nodes[chosen].rows { if Int(binner.binned[base + r]) <= split.bin { leftRows.append(r) } else { rightRows.append(r) } }
            let depth = nodes[chosen].depth + 1
            let (leftG, leftH) = sums(leftRows), (rightG, rightH) = sums(rightRows)
            let scanLeft = splittable(leftRows, depth: depth), scanRight = splittable(rightRows, depth: depth)
            let leftMask = mask(leftRows), rightMask = mask(rightRows)
            var leftBest: Candidate = (0, -1, -1), rightBest: Candidate = (0, -1, -1)
            if scanLeft || scanRight {
                (leftBest, rightBest) = inParts { blocks -> (Candidate, Candidate) in
                    if scanLeft && scanRight && columns.tieFree {
                        return scanMaskedPair(columns, members: (leftMask, rightMask), memberCounts: (leftRows.count, rightRows.count),
                                              blocks: blocks, statistics: statistics, G: (leftG, rightG), H: (leftH, rightH))
                    }
                    let left: Candidate = scanLeft
                        ? scanMasked(columns, members: leftMask, memberCount: leftRows.count, blocks: blocks,
                                     statistics: statistics, G: leftG, H: leftH)
                        : (0, -1, -1)
                    let right: Candidate = scanRight
                        ? scanMasked(columns, members: rightMask, memberCount: rightRows.count, blocks: blocks,
                                     statistics: statistics, G: rightG, H: rightH)
                        : (0, -1, -1)
                    return (left, right)
                }
            }
            nodes[chosen].feature = split.feature
            nodes[chosen].threshold = binner.thresholds[split.feature][split.bin]
            nodes[chosen].left = nodes.count
            nodes[chosen].right = nodes.count + 1
            nodes[chosen].rows = []
            nodes.append(node(leftRows, depth: depth, leftG, leftH, best: leftBest))
            nodes.append(node(rightRows, depth: depth, rightG, rightH, best: rightBest))
            leaves += 1
        }
        return GradientBoostedTrees.Tree(
            feature: nodes.map(\.feature), threshold: nodes.map(\.threshold), left: nodes.map(\.left), right: nodes.map(\.right),
            value: nodes.map { $0.left < 0 ? -learningRate * $0.G / ($0.H + l2 + Double.ulpOfOne) : 0 })
    }
}

/// Rank lists of one node, or of both children of a split, for fits of at most 64 rows without ties: one byte a row,
/// each feature's list contiguous (`growCompacted`). Written once (by the fit or by one partition, each thread its own
/// features), then only read.
final class CompactLists: @unchecked Sendable {
    let ids: UnsafeMutablePointer<UInt8>
    /// Room for `bytes` plus the eight a scan's last word load may reach past them. Only the lists' ranks are ever used
    /// (a scan loads whole words and takes the bytes of ranks below its count), so the rest is left as it comes.
    init(bytes: Int) {
        ids = .allocate(capacity: bytes + 8)
        (ids + bytes).initialize(repeating: 0, count: 8)
    }
    deinit { ids.deallocate() }
    /// The stride of lists of `count` rows: room for one more byte (the plain partition writes one past a list's end),
    /// rounded up to a whole word.
    static func stride(_ count: Int) -> Int { (count + 8) & ~7 }
}

extension TreeGrower {
    // Fits of at most 64 rows without ties (an OxML fold: 54 rows, 2048 continuous features): every node keeps its own
    // lists, one byte a row, feature after feature, and a split partitions them into its children's (with AVX-512
    // byte compress where the CPU has it, CRankLists). A scan then walks only the node's own rows, eight features a
    // step, with no mask: every rank ends a run (no ties), so the left side's row count after rank k is k + 1 in
    // every lane, as in `scanPresorted`, whose sums, tests and order these are.

    /// `scanPresorted` over compact lists: features 8 b ..< 8 b + 8 for b in `blocks`, feature f's rows (ranks
    /// 0 ..< rankCount) at lists[f * stride ...]; row i's gradient and hessian in pairs[2 i] and pairs[2 i + 1].
    func scanCompacted(_ columns: PresortedColumns, lists: UnsafePointer<UInt8>, stride: Int, rankCount r: Int, blocks: Range<Int>,
                       pairs: UnsafePointer<Double>, G: Double, H: Double) -> Candidate {
        let features = columns.features, n = columns.rows, msl = minSamplesLeaf
        var best: Candidate = (0, -1, -1)
        // Each side keeps >= minSamplesLeaf rows: the left side's last rank k is in msl - 1 ... r - 1 - msl.
        guard r >= 2 * msl, r >= 2 else { return best }
        let first = msl - 1, last = r - 1 - msl
        let node = NodeLanes(G: G, H: H, l2: l2, minimumHessian: minimumHessian)
        var bests = LaneBests(parentLoss: node.parentLoss, screenSafe: node.screenSafe)
        defer { bests.deallocate() }
        let laneIndex = SIMD8<Int64>(0, 1, 2, 3, 4, 5, 6, 7), byte = SIMD8<UInt64>(repeating: 0xFF)
        let pairBase = UnsafeRawPointer(pairs)
        for block in blocks {
            let f0 = block * PresortedColumns.lanes
            let real = laneIndex .< SIMD8<Int64>(repeating: Int64(features - f0))   // padding lanes never split
            let base = UnsafeRawPointer(lists + f0 * stride)
            var gl = Lanes(), hl = Lanes()
            bests.resetLanes()
            @inline(__always) func test(_ k: Int) {
                let hr = node.h - hl, gr = node.g - gl
                let hlL = hl + node.l2, hrL = hr + node.l2, gl2 = gl * gl, gr2 = gr * gr
                // The screen first, the hessian tests only for the few lanes it passes (the floor and the bests change
                // only on a candidate that passes every test, so the order of the tests changes nothing).
                #if CARCINOMA_FMA
                // The screen as (G_L^2 - floor (H_L + lambda)) (H_R + lambda) + G_R^2 (H_L + lambda) < 0, in two fused
                // multiply-adds: its rounding error is a few ulps of the products' magnitude, against the floor's slack of
                // 1e-12 of it (`screenFloor`), so it still skips only candidates that cannot beat the best.
                let excess = gl2.addingProduct(-Lanes(repeating: bests.floor), hlL)
                let screened = .!((gr2 * hlL).addingProduct(excess, hrL) .< Lanes())
                #else
                let screened = .!(gl2 * hrL + gr2 * hlL .< Lanes(repeating: bests.floor) * (hlL * hrL))
                #endif
                if !any(screened) { return }
                let pass = screened .& real .& .!(hl .< node.minimumHessian) .& .!(hr .< node.minimumHessian)
                if !any(pass) { return }
                let gain = gl2 / hlL + gr2 / hrL - node.parent
                bests.record(gain, pass, rank: k)
            }
            // Ranks k0 ..< k0 + 8 of the eight features, a word each; step j takes byte j of every word.
            @inline(__always) func words(_ k0: Int) -> SIMD8<UInt64> {
                SIMD8<UInt64>(base.loadUnaligned(fromByteOffset: k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 2 * stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 3 * stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 4 * stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 5 * stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 6 * stride + k0, as: UInt64.self),
                              base.loadUnaligned(fromByteOffset: 7 * stride + k0, as: UInt64.self))
            }
            // Adds rank k's rows (byte `step` of `words`) to the sums.
            @inline(__always) func add(_ words: SIMD8<UInt64>, _ step: Int) {
                let shift = UInt64(8 * step)
                let rows = SIMD8<UInt64>(words[0] &>> shift, words[1] &>> shift, words[2] &>> shift, words[3] &>> shift,
                                         words[4] &>> shift, words[5] &>> shift, words[6] &>> shift, words[7] &>> shift) & byte
                let i0 = Int(rows[0]), i1 = Int(rows[1]), i2 = Int(rows[2]), i3 = Int(rows[3])
                let i4 = Int(rows[4]), i5 = Int(rows[5]), i6 = Int(rows[6]), i7 = Int(rows[7])
                // Each row's (g, h) is one 16-byte load, and the eight pairs are split into gradient and hessian lanes by
                // two permutes. Eight lanes built from g[i] (and h[i]) compiled to one vgatherqpd each, which Zen 4
                // runs slowly: this way the trees' fit on the 62 x 2048 set took 0.52x the processor time there.
                @inline(__always) func load(_ i: Int) -> SIMD2<Double> { pairBase.loadUnaligned(fromByteOffset: 16 * i, as: SIMD2<Double>.self) }
                let low = SIMD8<Double>(lowHalf: SIMD4(lowHalf: load(i0), highHalf: load(i1)), highHalf: SIMD4(lowHalf: load(i2), highHalf: load(i3)))
                let high = SIMD8<Double>(lowHalf: SIMD4(lowHalf: load(i4), highHalf: load(i5)), highHalf: SIMD4(lowHalf: load(i6), highHalf: load(i7)))
                let both = SIMD16<Double>(lowHalf: low, highHalf: high)
                gl += both.evenHalf
                hl += both.oddHalf
            }
            var k0 = 0
            while k0 <= last {
                let w = words(k0)
                if k0 >= first && k0 + 7 <= last {
                    // Eight candidates: the steps written out, so that every shift is a constant.
                    add(w, 0); test(k0); add(w, 1); test(k0 + 1); add(w, 2); test(k0 + 2); add(w, 3); test(k0 + 3)
                    add(w, 4); test(k0 + 4); add(w, 5); test(k0 + 5); add(w, 6); test(k0 + 6); add(w, 7); test(k0 + 7)
                } else {
                    for step in 0..<PresortedColumns.lanes {
                        let k = k0 + step
                        if k > last { break }
                        add(w, step)
                        if k >= first { test(k) }
                    }
                }
                k0 += PresortedColumns.lanes
            }
            for lane in 0..<PresortedColumns.lanes where bests.gain[lane] > best.gain {
                let f = f0 + lane, row = Int(lists[f * stride + bests.rank[lane]])
                best = (bests.gain[lane], f, Int(binner.binned[f * n + row]))
            }
        }
        return best
    }

    /// `grow` for fits of at most 64 rows without ties: the same best-first growth, the same trees.
    func growCompacted(_ columns: PresortedColumns, root: CompactLists, gradient: [Double], hessian: [Double]) -> GradientBoostedTrees.Tree {
        let growth = CompactGrowth(self, columns: columns, root: root, gradient: gradient, hessian: hessian)
        growInLockstep([growth], threads: parallelScan ? 2 : 1)
        return growth.tree()
    }

    /// Grows several trees of one round (one per class, from the same probabilities) step by step together: at each
    /// step every unfinished tree's scan (its root's, or a split's children's) is cut into ranges of feature blocks,
    /// and `threads` threads take the ranges of all the trees' scans from one pool, so that the trees' different
    /// sizes even out on the cores. Each range's best is computed alone and the ranges are merged in feature order
    /// under the strict `>` (the first best wins, as in one sequential scan), so the trees do not depend on the number
    /// of threads or on which thread took which range.
    func growInLockstep(_ growths: [CompactGrowth], threads: Int) {
        guard let first = growths.first else { return }
        let blockCount = first.columns.width / PresortedColumns.lanes
        // Four ranges per scan when there are threads to share them and the scans are large (as `scanFeatures`' halves).
        let pieces = threads > 1 && first.columns.rows * first.columns.width >= 1 << 14 ? min(4, blockCount) : 1
        let ranges = (0..<pieces).map { (blockCount * $0 / pieces)..<(blockCount * ($0 + 1) / pieces) }
        var found = [[(Candidate, Candidate)]](repeating: [], count: growths.count * pieces)
        while true {
            let active = growths.filter { $0.pending }
            if active.isEmpty { return }
            let items = active.count * pieces
            found.withUnsafeMutableBufferPointer { found in
                if threads == 1 || items == 1 {
                    for item in 0..<items { found[item] = active[item / pieces].scan(ranges[item % pieces]) }
                } else {
                    DispatchQueue.concurrentPerform(iterations: items) { item in found[item] = active[item / pieces].scan(ranges[item % pieces]) }
                }
            }
            for (index, growth) in active.enumerated() { growth.advance(found[(index * pieces)..<((index + 1) * pieces)]) }
        }
    }
}

/// One tree's best-first growth on compact lists (`TreeGrower.growCompacted`), scan step by scan step: `scan` runs the
/// pending scans over a range of feature blocks, from any thread, each range its own features (their partition and
/// scan); `advance` takes the ranges' bests in block order, completes the step and prepares the next.
///
/// When the tree cannot reach `maxLeafNodes` leaves (at most n / minSamplesLeaf, or 2^maxDepth, leaves: an OxML fold's
/// 54 rows give at most 18 against the default 31), best-first growth ends only when no leaf has a split left, so it
/// splits every node that has one, whatever the order; and a node's best split depends on its own rows only. Such trees
/// are grown level by level (`levels`): each step scans the children of every split found in the step before, and
/// `tree()` then numbers the nodes in best-first order, as `grow` would have made them. Otherwise one split at a time,
/// best-first (splitting without a scan any leaf whose children cannot split).
final class CompactGrowth: @unchecked Sendable {
    typealias Candidate = TreeGrower.Candidate
    let grower: TreeGrower
    let columns: PresortedColumns
    let root: CompactLists
    let gradient: [Double], hessian: [Double]
    /// The tree's gradient and hessian of row r in pairs[2 r] and pairs[2 r + 1] (`scanCompacted` loads them together).
    let pairs: UnsafeMutablePointer<Double>
    /// Level by level (see above); the nodes are then numbered in the order they were made, renumbered by `tree()`.
    let levels: Bool
    private var nodes = [TreeGrower.Node]()
    /// Open leaves' lists (node index → lists, the byte where they start, stride), dropped when the leaf is split.
    private var openLists = [Int: (lists: CompactLists, start: Int, stride: Int)]()
    private var leaves = 1
    /// A split being made, while its children's scan is pending.
    private struct Making {
        let chosen: Int, depth: Int
        let leftRows: [Int], rightRows: [Int]
        let leftMask: UInt64
        let leftG: Double, leftH: Double, rightG: Double, rightH: Double
        let scanLeft: Bool, scanRight: Bool
        let parent: (lists: CompactLists, start: Int, stride: Int)
        let children: CompactLists
        let leftStride: Int, rightStart: Int, rightStride: Int
    }
    private var makings = [Making]()
    /// Level by level: the nodes made in the last step, to split next.
    private var fresh = [Int]()
    private var rootPending = false
    private let rootG: Double, rootH: Double
    /// A scan is pending (false once the tree is grown).
    var pending: Bool { rootPending || !makings.isEmpty }

    init(_ grower: TreeGrower, columns: PresortedColumns, root: CompactLists, gradient: [Double], hessian: [Double]) {
        self.grower = grower
        self.columns = columns
        self.root = root
        self.gradient = gradient
        self.hessian = hessian
        let n = columns.rows
        let depthLeaves = grower.maxDepth.map { $0 < 62 ? 1 << $0 : Int.max } ?? Int.max
        levels = min(n / grower.minSamplesLeaf, depthLeaves) <= grower.maxLeafNodes
        pairs = .allocate(capacity: 2 * n)
        for r in 0..<n { pairs[2 * r] = gradient[r]; pairs[2 * r + 1] = hessian[r] }
        let all = Array(0..<n)
        var G = 0.0, H = 0.0
        for r in all { G += gradient[r]; H += hessian[r] }
        (rootG, rootH) = (G, H)
        if splittable(all, depth: 0) { rootPending = true } else { nodes.append(TreeGrower.Node(rows: all, depth: 0, G: rootG, H: rootH)) }
    }
    deinit { pairs.deallocate() }

    private func sums(_ rows: [Int]) -> (G: Double, H: Double) {
        var G = 0.0, H = 0.0
        for r in rows { G += gradient[r]; H += hessian[r] }
        return (G, H)
    }
    private func splittable(_ rows: [Int], depth: Int) -> Bool {
        (grower.maxDepth.map { depth < $0 } ?? true) && rows.count >= 2 * grower.minSamplesLeaf
    }
    private func node(_ rows: [Int], depth: Int, _ G: Double, _ H: Double, best: Candidate) -> TreeGrower.Node {
        var node = TreeGrower.Node(rows: rows, depth: depth, G: G, H: H)
        if best.feature >= 0 { node.split = TreeGrower.Split(gain: best.gain, feature: best.feature, bin: best.bin) }
        return node
    }

    /// The pending scans over feature blocks `blocks`: per scan (best of the root or of the left child, best of the right child).
    func scan(_ blocks: Range<Int>) -> [(Candidate, Candidate)] {
        let none: Candidate = (0, -1, -1)
        if rootPending {
            return [(grower.scanCompacted(columns, lists: root.ids, stride: columns.compactStride, rankCount: columns.rows, blocks: blocks,
                                          pairs: pairs, G: rootG, H: rootH), none)]
        }
        let lanes = PresortedColumns.lanes
        return makings.map { m in
            carcinoma_partition_rank_lists(m.parent.lists.ids + m.parent.start, m.parent.stride, m.leftRows.count + m.rightRows.count,
                                           blocks.lowerBound * lanes, blocks.upperBound * lanes, m.leftMask,
                                           m.children.ids, m.leftStride, m.children.ids + m.rightStart, m.rightStride,
                                           grower.presortedCompress ? 1 : 0)
            let left = m.scanLeft
                ? grower.scanCompacted(columns, lists: m.children.ids, stride: m.leftStride, rankCount: m.leftRows.count, blocks: blocks,
                                       pairs: pairs, G: m.leftG, H: m.leftH)
                : none
            let right = m.scanRight
                ? grower.scanCompacted(columns, lists: m.children.ids + m.rightStart, stride: m.rightStride, rankCount: m.rightRows.count,
                                       blocks: blocks, pairs: pairs, G: m.rightG, H: m.rightH)
                : none
            return (left, right)
        }
    }

    /// Completes the pending step with its ranges' bests (one array per range, in block order) and prepares the next.
    func advance(_ found: ArraySlice<[(Candidate, Candidate)]>) {
        // Scan j's best over the ranges, in feature order under the strict `>`.
        func merged(_ j: Int) -> (Candidate, Candidate) {
            var left: Candidate = (0, -1, -1), right: Candidate = (0, -1, -1)
            for part in found {
                if part[j].0.gain > left.gain { left = part[j].0 }
                if part[j].1.gain > right.gain { right = part[j].1 }
            }
            return (left, right)
        }
        if rootPending {
            rootPending = false
            nodes.append(node(Array(0..<columns.rows), depth: 0, rootG, rootH, best: merged(0).0))
            if nodes[0].split != nil { openLists[0] = (root, 0, columns.compactStride) }
            fresh = [0]
        } else {
            let made = makings
            makings = []
            fresh = []
            for (j, m) in made.enumerated() {
                let (left, right) = merged(j)
                finishSplit(m.chosen, depth: m.depth, m.leftRows, m.rightRows, (m.leftG, m.leftH), (m.rightG, m.rightH), left, right)
                let leftIndex = nodes.count - 2
                if nodes[leftIndex].split != nil { openLists[leftIndex] = (m.children, 0, m.leftStride) }
                if nodes[leftIndex + 1].split != nil { openLists[leftIndex + 1] = (m.children, m.rightStart, m.rightStride) }
                fresh += [leftIndex, leftIndex + 1]
            }
        }
        prepare()
    }

    private func finishSplit(_ chosen: Int, depth: Int, _ leftRows: [Int], _ rightRows: [Int], _ leftSums: (Double, Double),
                             _ rightSums: (Double, Double), _ leftBest: Candidate, _ rightBest: Candidate) {
        let split = nodes[chosen].split!
        nodes[chosen].feature = split.feature
        nodes[chosen].threshold = grower.binner.thresholds[split.feature][split.bin]
        nodes[chosen].left = nodes.count
        nodes[chosen].right = nodes.count + 1
        nodes[chosen].rows = []
        nodes.append(node(leftRows, depth: depth, leftSums.0, leftSums.1, best: leftBest))
        nodes.append(node(rightRows, depth: depth, rightSums.0, rightSums.1, best: rightBest))
        leaves += 1
    }

    /// Splits node `chosen` (which has a split): queues its children's scan, or, when neither child can split (or the
    /// node has no lists), makes them leaves at once. Returns whether a scan was queued.
    private func split(_ chosen: Int) -> Bool {
        let split = nodes[chosen].split!
        let base = split.feature * grower.binner.rows
        var leftRows = [Int](), rightRows = [Int]()
        var leftMask: UInt64 = 0
        for r in nodes[chosen].rows {
            if Int(grower.binner.binned[base + r]) <= split.bin { leftRows.append(r); leftMask |= UInt64(1) << UInt64(r) } else { rightRows.append(r) }
        }
        let depth = nodes[chosen].depth + 1
        let parent = openLists.removeValue(forKey: chosen)
        let leftSums = sums(leftRows), rightSums = sums(rightRows)
        let scanLeft = splittable(leftRows, depth: depth), scanRight = splittable(rightRows, depth: depth)
        if let parent, scanLeft || scanRight {
            let width = columns.width
            let leftStride = CompactLists.stride(leftRows.count), rightStride = CompactLists.stride(rightRows.count)
            let rightStart = width * leftStride
            makings.append(Making(chosen: chosen, depth: depth, leftRows: leftRows, rightRows: rightRows, leftMask: leftMask,
                                  leftG: leftSums.G, leftH: leftSums.H, rightG: rightSums.G, rightH: rightSums.H,
                                  scanLeft: scanLeft, scanRight: scanRight, parent: parent,
                                  children: CompactLists(bytes: rightStart + width * rightStride),
                                  leftStride: leftStride, rightStart: rightStart, rightStride: rightStride))
            return true
        }
        finishSplit(chosen, depth: depth, leftRows, rightRows, leftSums, rightSums, (0, -1, -1), (0, -1, -1))
        return false
    }

    /// The next step's scans: level by level, the children of every split of the nodes made in the last step; else
    /// best-first until a split needs a scan or the tree is grown.
    private func prepare() {
        if levels {
            for i in fresh where nodes[i].split != nil { _ = split(i) }
            fresh = []
            return
        }
        while leaves < grower.maxLeafNodes {
            guard let chosen = TreeGrower.bestOpenLeaf(nodes) else { return }
            if split(chosen) { return }
        }
    }

    func tree() -> GradientBoostedTrees.Tree {
        var tree = nodes
        if levels {
            // Best-first order over the grown tree: the same choices as `grow` (every split is made, see above).
            var made = [0]   // made[i]: the grown node that node i of the best-first tree is
            tree = [nodes[0]]
            tree[0].left = -1
            while true {
                guard let chosen = TreeGrower.bestOpenLeaf(tree) else { break }
                let grown = nodes[made[chosen]]
                precondition(grown.left >= 0, "CompactGrowth: a node with a split was not split")
                tree[chosen].left = tree.count
                tree[chosen].right = tree.count + 1
                for child in [grown.left, grown.right] {
                    var node = nodes[child]
                    node.left = -1
                    node.right = -1
                    tree.append(node)
                    made.append(child)
                }
            }
        }
        let learningRate = grower.learningRate, l2 = grower.l2
        return GradientBoostedTrees.Tree(
            feature: tree.map(\.feature), threshold: tree.map(\.threshold), left: tree.map(\.left), right: tree.map(\.right),
            value: tree.map { $0.left < 0 ? -learningRate * $0.G / ($0.H + l2 + Double.ulpOfOne) : 0 })
    }
}
