// The corrected resampled t-test against a numpy/scipy transcription
// (scripts/fixtures/significance_fixtures.py), the bootstrap interval's properties, and the
// marker a comparison puts on its rows.

import XCTest
import Evaluation
import LinearAlgebra
import TestSupport

final class SignificanceTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable { var name: String; var differences: [Double]; var testTrainRatio: Double; var t: Double; var p: Double }
        struct Beta: Decodable { var x: Double; var a: Double; var b: Double; var value: Double }
        var version: Int
        var cases: [Case]
        var incompleteBeta: [Beta]
    }

    func testCorrectedTTestMatchesScipy() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/significance", withExtension: "json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(fixture.version, 1)
        for item in fixture.cases {
            let result = Significance.correctedPValue(differences: item.differences, testTrainRatio: item.testTrainRatio)
            XCTAssertEqual(result.t, item.t, accuracy: 1e-10 * max(1, abs(item.t)), item.name)
            XCTAssertEqual(result.p, item.p, accuracy: max(1e-12, 1e-9 * item.p), item.name)
        }
        for beta in fixture.incompleteBeta {
            XCTAssertEqual(Significance.regularizedIncompleteBeta(beta.x, a: beta.a, b: beta.b), beta.value, accuracy: 1e-12,
                           "I_\(beta.x)(\(beta.a), \(beta.b))")
        }
        XCTAssertEqual(Significance.correctedPValue(differences: [0, 0, 0], testTrainRatio: 0.1).p, 1)
        XCTAssertEqual(Significance.correctedPValue(differences: [0.1, 0.1, 0.1], testTrainRatio: 0.1).p, 0)
    }

    func testBootstrapIntervalHoldsThePooledScoreAndNarrowsWithMoreImages() {
        func predictions(images: Int, errorEvery: Int?) -> [(image: Int, truth: Int, predicted: Int)] {
            (0..<images).flatMap { image in (0..<2).map { repeatIndex in
                let truth = image % 3
                let wrong = errorEvery.map { (image + repeatIndex) % $0 == 0 } ?? false
                return (image, truth, wrong ? (truth + 1) % 3 : truth)
            } }
        }
        let small = Significance.bootstrapMacroF1Interval(predictions: predictions(images: 60, errorEvery: 4), imageCount: 60, classCount: 3)
        let large = Significance.bootstrapMacroF1Interval(predictions: predictions(images: 600, errorEvery: 4), imageCount: 600, classCount: 3)
        XCTAssertLessThan(small.low, 0.75); XCTAssertGreaterThan(small.high, 0.75)   // pooled accuracy 0.75
        XCTAssertLessThan(large.high - large.low, small.high - small.low)
        let again = Significance.bootstrapMacroF1Interval(predictions: predictions(images: 60, errorEvery: 4), imageCount: 60, classCount: 3)
        XCTAssertEqual(again.low, small.low); XCTAssertEqual(again.high, small.high)
        let perfect = Significance.bootstrapMacroF1Interval(predictions: predictions(images: 30, errorEvery: nil), imageCount: 30, classCount: 3)
        XCTAssertEqual(perfect.low, 1); XCTAssertEqual(perfect.high, 1)
    }

    func testComparisonMarksRowsAgainstTheBest() throws {
        let (set, labels) = blobs(separation: 2.5)
        let prepared = try Comparison.prepare(featureSets: [set], labels: labels)
        let good = HeadSpecification(name: "centroid", candidates: [HeadCandidate(setting: "s=1", classifier: NearestCentroid(sharpness: 1))])
        let useless = HeadSpecification(name: "majority", candidates: [HeadCandidate(setting: "-", classifier: Majority())])
        let settings = CrossValidationSettings(foldCount: 4, repeats: 2, seed: 2, innerFoldCount: 3, threads: 1)
        let (results, _) = try Comparison.run(prepared, heads: [good, useless], settings: settings, metaLearner: nil)
        let best = try XCTUnwrap(results.rows.first)
        XCTAssertEqual(best.indistinguishableFromBest, true)
        XCTAssertNil(best.pValueVersusBest)
        let majority = try XCTUnwrap(results.rows.first { $0.head == "majority" })
        XCTAssertEqual(majority.indistinguishableFromBest, false)
        XCTAssertLessThan(try XCTUnwrap(majority.pValueVersusBest), 0.05)
        for row in results.rows {
            let interval = try XCTUnwrap(row.pooledMacroF1Interval)
            XCTAssertLessThanOrEqual(interval[0], row.pooled.macroF1 + 1e-12)
            XCTAssertGreaterThanOrEqual(interval[1], row.pooled.macroF1 - 1e-12)
        }
        let majorityLine = try XCTUnwrap(results.table().split(separator: "\n").first { $0.hasPrefix(majority.name) })
        XCTAssertFalse(majorityLine.contains("≈"), String(majorityLine))
    }
}
