// Decision offsets against a brute-force search (scripts/fixtures/decision_fixtures.py, scikit-learn's
// macro F1), convex stacking weights against scipy's SLSQP on the same objective, ensemble selection
// (the default stack rule) against its numpy transcription, and the nested use of them in a
// comparison: offsets and weights are chosen without the outer test rows.

import XCTest
import Evaluation
import Heads
import LinearAlgebra
import TestSupport

final class DecisionRuleTests: XCTestCase {
    struct Fixture: Decodable {
        struct OffsetCase: Decodable {
            var name: String; var classes: [Int]; var labels: [Int]; var probabilities: [[Double]]
            var offsets: [Double]; var macroF1: Double; var argmaxMacroF1: Double; var chanceMacroF1: Double
        }
        struct ConvexCase: Decodable {
            var name: String; var classes: [Int]; var labels: [Int]; var members: [[[Double]]]
            var weights: [Double]; var meanLogLikelihood: Double
        }
        struct SelectionCase: Decodable {
            var name: String; var classes: [Int]; var labels: [Int]; var members: [[[Double]]]
            var scoreWeights: [Double]; var selectionWeights: [Double]; var noiseMember: Int?
        }
        var version: Int
        var grid: [Double]
        var selectionSteps: Int
        var offsets: [OffsetCase]
        var convex: [ConvexCase]
        var selection: [SelectionCase]
    }

    func fixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/decision", withExtension: "json"))
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    func matrix(_ rows: [[Double]]) -> Matrix {
        Matrix(rows: rows.count, columns: rows[0].count, values: rows.flatMap { $0 })
    }

    func testOffsetsMatchTheBruteForceSearch() throws {
        let fixture = try fixture()
        XCTAssertEqual(fixture.version, 3)
        XCTAssertEqual(DecisionOffsets.grid, fixture.grid)
        for item in fixture.offsets {
            let probabilities = matrix(item.probabilities)
            let chosen = DecisionOffsets.choose(probabilities: probabilities, labels: item.labels, classes: item.classes)
            XCTAssertEqual(chosen.offsets, item.offsets, item.name)
            XCTAssertEqual(chosen.macroF1, item.macroF1, accuracy: 1e-12, item.name)
            XCTAssertGreaterThan(item.macroF1, item.argmaxMacroF1, "\(item.name): the fixture should need offsets")
            // Applying them gives probabilities whose argmax scores that macro F1 (checked by the metrics code).
            let shifted = DecisionOffsets.apply(probabilities, offsets: chosen.offsets)
            let metrics = ClassificationMetrics(classes: item.classes, truth: item.labels, probabilities: shifted)
            XCTAssertEqual(metrics.macroF1, item.macroF1, accuracy: 1e-12, item.name)
            for r in 0..<shifted.rows { XCTAssertEqual((0..<shifted.columns).reduce(0) { $0 + shifted[r, $1] }, 1, accuracy: 1e-12) }
            XCTAssertEqual(Ensembles.chanceMacroF1(labels: item.labels, classes: item.classes), item.chanceMacroF1, accuracy: 1e-12)
        }
    }

    /// With more than three classes the search is coordinate ascent: never worse than no offsets.
    func testCoordinateAscentNeverLosesToArgmax() throws {
        var generator = SplitMix64(seed: 5)
        let classes = [0, 1, 2, 3, 4]
        let labels = (0..<60).map { $0 % 7 < 3 ? 0 : $0 % 5 }
        var values: [Double] = []
        for label in labels {
            var row = classes.map { c in Double(generator.next() >> 11) / Double(1 << 53) + (c == 0 ? 1 : 0) + (c == label ? 0.4 : 0) }
            let sum = row.reduce(0, +)
            row = row.map { $0 / sum }
            values += row
        }
        let probabilities = Matrix(rows: labels.count, columns: 5, values: values)
        let plain = ClassificationMetrics(classes: classes, truth: labels, probabilities: probabilities).macroF1
        let chosen = DecisionOffsets.choose(probabilities: probabilities, labels: labels, classes: classes)
        XCTAssertGreaterThan(chosen.macroF1, plain)
        XCTAssertEqual(chosen.offsets[0], 0)
        let shifted = DecisionOffsets.apply(probabilities, offsets: chosen.offsets)
        XCTAssertEqual(ClassificationMetrics(classes: classes, truth: labels, probabilities: shifted).macroF1, chosen.macroF1, accuracy: 1e-12)
    }

    func testConvexWeightsMatchSciPy() throws {
        for item in try fixture().convex {
            let weights = Ensembles.convexWeights(item.members.map(matrix), labels: item.labels, classes: item.classes)
            let check = allClose(weights, item.weights, relativeTolerance: 0, absoluteTolerance: 2e-4)
            XCTAssertTrue(check.ok, "\(item.name): \(weights) vs \(item.weights): \(check.message)")
            XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-9)
            XCTAssertTrue(weights.allSatisfy { $0 >= 0 })
        }
    }

    /// Ensemble selection and the mean rows' score weights against their numpy transcriptions; the
    /// pure-noise member of the fixture is never selected (its generator asserts the same of numpy).
    func testSelectionWeightsMatchTheNumpyTranscription() throws {
        let fixture = try fixture()
        XCTAssertEqual(Ensembles.selectionSteps, fixture.selectionSteps)
        XCTAssertTrue(fixture.selection.contains { $0.noiseMember != nil })
        for item in fixture.selection {
            let members = item.members.map(matrix)
            let score = Ensembles.scoreWeights(members, labels: item.labels, classes: item.classes)
            let scoreCheck = allClose(score, item.scoreWeights, relativeTolerance: 1e-12, absoluteTolerance: 1e-12)
            XCTAssertTrue(scoreCheck.ok, "\(item.name): score weights \(scoreCheck.message)")
            let weights = Ensembles.selectionWeights(members, labels: item.labels, classes: item.classes)
            let check = allClose(weights, item.selectionWeights, relativeTolerance: 0, absoluteTolerance: 1e-12)
            XCTAssertTrue(check.ok, "\(item.name): \(weights) vs \(item.selectionWeights): \(check.message)")
            XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-12)
            if let noise = item.noiseMember { XCTAssertEqual(weights[noise], 0, "\(item.name): the noise member was selected") }
        }
    }

    /// Members that are copies of one another: selection stops at the first (ties go to the earlier
    /// member and the shorter prefix), and a single member keeps weight 1.
    func testSelectionOfEqualMembersKeepsTheFirst() throws {
        let item = try XCTUnwrap(try fixture().selection.first)
        let member = matrix(item.members[0])
        XCTAssertEqual(Ensembles.selectionWeights([member, member, member], labels: item.labels, classes: item.classes), [1, 0, 0])
        XCTAssertEqual(Ensembles.selectionWeights([member], labels: item.labels, classes: item.classes), [1])
    }

    /// In a comparison, each fold's offsets come from its inner probabilities: a row with offsets
    /// reports them per fold, and the outer test rows never enter the choice (changing the test
    /// labels after the fact changes nothing about the offsets).
    func testOffsetRowsReportPerFoldOffsetsChosenWithoutTheTestRows() throws {
        let (set, labels) = blobs(separation: 1.2)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let head = HeadSpecification(name: "centroid", candidates: [
            HeadCandidate(setting: "sharpness=0.3", classifier: NearestCentroid(sharpness: 0.3))])
        let settings = CrossValidationSettings(foldCount: 4, repeats: 1, seed: 2, innerFoldCount: 3, threads: 1)
        let (results, outcomes) = try Comparison.run(prepared, heads: [head], settings: settings, metaLearner: nil, decision: .both)
        XCTAssertEqual(Set(results.rows.map(\.name)), ["features / centroid", "features / centroid + offsets"])
        let plain = try XCTUnwrap(outcomes.first { $0.name == "features / centroid" })
        let shifted = try XCTUnwrap(results.rows.first { $0.name.hasSuffix("+ offsets") })
        XCTAssertEqual(shifted.decision, "offsets")
        for (fold, score) in zip(plain.folds, shifted.folds) {
            let inner = try XCTUnwrap(fold.innerProbabilities)
            let expected = DecisionOffsets.choose(probabilities: inner, labels: fold.fold.trainRows.map { labels.labels[$0] },
                                                  classes: [-1, 0, 1]).offsets
            XCTAssertEqual(score.offsets, expected)
        }
    }

    /// A mean with a useless member (a constant majority guess) gives it no weight, and so do the convex
    /// likelihood weights. Ensemble selection may add it where it improves the inner macro F1 (a constant
    /// shifts the average like a class offset), never so that the inner macro F1 falls below the
    /// inner-best member's; each fold's stack weights are the ones `selectionWeights` picks from that fold's inner rows.
    func testEnsemblesGiveNoWeightToAUselessMember() throws {
        let (set, labels) = blobs(separation: 2)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let good = HeadSpecification(name: "centroid", candidates: [HeadCandidate(setting: "s=1", classifier: NearestCentroid(sharpness: 1))])
        let useless = HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])
        let settings = CrossValidationSettings(foldCount: 4, repeats: 1, seed: 2, innerFoldCount: 3, threads: 1)
        // A stacking row is possible, so the single-candidate heads keep their inner probabilities.
        let outcomes = try Comparison.run(prepared, heads: [good, useless], settings: settings, metaLearner: NearestCentroid(sharpness: 1))
            .outcomes.filter { $0.kind == .single }
        XCTAssertEqual(outcomes.count, 2)
        // What `compare --member-probabilities` writes: every single model's inner and test rows per fold, as computed.
        let dump = try JSONDecoder().decode(MemberProbabilities.self, from: MemberProbabilities(outcomes: outcomes, labels: labels.labels).encoded())
        XCTAssertEqual(dump.members.map(\.name), outcomes.map(\.name))
        XCTAssertEqual(dump.labels, labels.labels)
        for (member, outcome) in zip(dump.members, outcomes) {
            for (fold, original) in zip(member.folds, outcome.folds) {
                XCTAssertEqual(fold.trainRows, original.fold.trainRows)
                XCTAssertEqual(fold.test.flatMap { $0 }, original.testProbabilities.values)
                XCTAssertEqual(fold.inner?.flatMap { $0 }, original.innerProbabilities?.values)
            }
        }
        let mean = try Ensembles.mean(name: "mean", members: outcomes, labels: labels.labels)
        let stack = try Ensembles.weightedStack(name: "stack", members: outcomes, labels: labels.labels)
        let convex = try Ensembles.weightedStack(name: "convex", members: outcomes, labels: labels.labels, method: .convex)
        for fold in convex.folds { XCTAssertGreaterThan(try XCTUnwrap(fold.memberWeights)[0], 0.9) }
        XCTAssertThrowsError(try Ensembles.weightedStack(name: "softmax", members: outcomes, labels: labels.labels, method: .softmax))
        for fold in mean.folds { XCTAssertEqual(fold.memberWeights?[1], 0, "the majority head is no better than chance") }
        for (index, fold) in stack.folds.enumerated() {
            let weights = try XCTUnwrap(fold.memberWeights)
            XCTAssertGreaterThan(weights[0], 0.5, "\(weights)")
            let trainLabels = fold.fold.trainRows.map { labels.labels[$0] }
            let member = try XCTUnwrap(outcomes[0].folds[index].innerProbabilities)
            let combined = try XCTUnwrap(fold.innerProbabilities)
            func balancedLogLikelihood(_ p: Matrix) -> Double {
                var counts: [Int: Int] = [:]
                for l in trainLabels { counts[l, default: 0] += 1 }
                return trainLabels.indices.reduce(0.0) { sum, i in
                    sum + Foundation.log(max(p[i, [-1, 0, 1].firstIndex(of: trainLabels[i]) ?? 0], 1e-12)) / Double(counts[trainLabels[i]] ?? 1)
                }
            }
            XCTAssertTrue(balancedLogLikelihood(combined).isFinite)
            let inner = try outcomes.map { try XCTUnwrap($0.folds[index].innerProbabilities) }
            XCTAssertEqual(weights, Ensembles.selectionWeights(inner, labels: trainLabels, classes: [-1, 0, 1]))
            XCTAssertGreaterThanOrEqual(ClassificationMetrics(classes: [-1, 0, 1], truth: trainLabels, probabilities: combined).macroF1,
                                        ClassificationMetrics(classes: [-1, 0, 1], truth: trainLabels, probabilities: member).macroF1)
        }
    }
}
