// Stratified, group-aware, repeated k-fold splits.
// Every group (all rows of one image's variants, or of one slide) goes to exactly one fold. Groups
// are dealt class by class (a group's class is its majority label), in a seeded random order,
// largest first, each to the fold holding the fewest rows of that class (then the fewest rows
// overall, then a seeded fold order). With one row per group this is ordinary stratified k-fold:
// every fold gets floor or ceil of n_c / k rows of each class c.

import LinearAlgebra

public struct Fold: Sendable, Codable, Equatable {
    public let repeatIndex: Int
    public let foldIndex: Int
    public let trainRows: [Int]
    public let testRows: [Int]

    public init(repeatIndex: Int, foldIndex: Int, trainRows: [Int], testRows: [Int]) {
        self.repeatIndex = repeatIndex
        self.foldIndex = foldIndex
        self.trainRows = trainRows
        self.testRows = testRows
    }

    /// The refit "fold": every labelled row trains, nothing is held out.
    public static func all(_ count: Int) -> Fold { Fold(repeatIndex: 0, foldIndex: 0, trainRows: Array(0..<count), testRows: []) }
}

public enum StratifiedFolds {
    /// The seed of repeat `index`, derived from the run seed, so repeats differ and any one is reproducible.
    public static func repeatSeeds(seed: UInt64, repeats: Int) -> [UInt64] {
        var generator = SplitMix64(seed: seed)
        return (0..<repeats).map { _ in generator.next() }
    }

    /// The fold of every row for one repeat.
    public static func assignment(labels: [Int], groups: [String], foldCount: Int, seed: UInt64,
                                  className: (Int) -> String = { String($0) }) throws -> [Int] {
        guard foldCount >= 2 else { throw EvaluationError.invalidSetting(key: "folds", problem: "needs at least 2 folds, got \(foldCount)") }
        precondition(labels.count == groups.count, "one group per row")
        // Groups in first-appearance order, with their rows and majority class.
        var groupIndex: [String: Int] = [:]
        var groupRows: [[Int]] = []
        for (row, group) in groups.enumerated() {
            if let index = groupIndex[group] { groupRows[index].append(row) }
            else { groupIndex[group] = groupRows.count; groupRows.append([row]) }
        }
        let groupClass: [Int] = groupRows.map { rows in
            var counts: [Int: Int] = [:]
            for row in rows { counts[labels[row], default: 0] += 1 }
            return counts.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }?.key ?? labels[rows[0]]
        }
        let classes = Array(Set(labels)).sorted()
        var groupsOfClass: [Int: [Int]] = [:]
        for (group, label) in groupClass.enumerated() { groupsOfClass[label, default: []].append(group) }
        let small = classes.filter { (groupsOfClass[$0]?.count ?? 0) < foldCount }
        if !small.isEmpty {
            var counts: [String: Int] = [:]
            for label in classes { counts[className(label)] = groupsOfClass[label]?.count ?? 0 }
            throw EvaluationError.classTooSmall(classCounts: counts, foldCount: foldCount)
        }

        var generator = SplitMix64(seed: seed)
        let foldOrder = shuffled(Array(0..<foldCount), using: &generator)
        var rank = [Int](repeating: 0, count: foldCount)
        for (position, fold) in foldOrder.enumerated() { rank[fold] = position }
        var foldTotals = [Int](repeating: 0, count: foldCount)
        var assignment = [Int](repeating: -1, count: labels.count)
        for label in classes {
            var members = shuffled(groupsOfClass[label] ?? [], using: &generator)
            // Stable sort, largest groups first, so big groups are placed while folds are still empty.
            members = members.enumerated().sorted { a, b in
                let sizeA = groupRows[a.element].count, sizeB = groupRows[b.element].count
                return sizeA != sizeB ? sizeA > sizeB : a.offset < b.offset
            }.map(\.element)
            var classTotals = [Int](repeating: 0, count: foldCount)
            for group in members {
                let fold = (0..<foldCount).min { a, b in
                    if classTotals[a] != classTotals[b] { return classTotals[a] < classTotals[b] }
                    if foldTotals[a] != foldTotals[b] { return foldTotals[a] < foldTotals[b] }
                    return rank[a] < rank[b]
                } ?? 0
                let size = groupRows[group].count
                classTotals[fold] += size
                foldTotals[fold] += size
                for row in groupRows[group] { assignment[row] = fold }
            }
        }
        return assignment
    }

    /// All folds of all repeats, repeat-major.
    public static func make(labels: [Int], groups: [String]? = nil, foldCount: Int, repeats: Int = 1, seed: UInt64,
                            className: (Int) -> String = { String($0) }) throws -> [Fold] {
        guard repeats >= 1 else { throw EvaluationError.invalidSetting(key: "repeats", problem: "needs at least 1 repeat, got \(repeats)") }
        let groups = groups ?? labels.indices.map(String.init)
        var folds: [Fold] = []
        for (repeatIndex, repeatSeed) in repeatSeeds(seed: seed, repeats: repeats).enumerated() {
            let fold = try assignment(labels: labels, groups: groups, foldCount: foldCount, seed: repeatSeed, className: className)
            for index in 0..<foldCount {
                folds.append(Fold(repeatIndex: repeatIndex, foldIndex: index,
                                  trainRows: labels.indices.filter { fold[$0] != index },
                                  testRows: labels.indices.filter { fold[$0] == index }))
            }
        }
        return folds
    }

    /// Fisher–Yates with the explicit generator (deterministic across Swift versions, unlike `shuffle(using:)`).
    public static func shuffled<T>(_ items: [T], using generator: inout SplitMix64) -> [T] {
        var items = items
        var index = items.count - 1
        while index > 0 {
            let other = Int(generator.next() % UInt64(index + 1))
            items.swapAt(index, other)
            index -= 1
        }
        return items
    }
}
