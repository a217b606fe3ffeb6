// Standardizer, PCA and Pipeline: fit on training rows only, zero variance handled, sign convention.

import XCTest
import LinearAlgebra
import Heads
import TestSupport

final class FeaturePreprocessingTests: XCTestCase {
    func testStandardizerUsesPopulationStdAndScalesConstantColumnsByOne() throws {
        let x = Matrix(rows: 4, columns: 2, values: [1, 5, 2, 5, 3, 5, 4, 5])
        let s = try Standardizer().fitStandardizer(x)
        XCTAssertEqual(s.mean, [2.5, 5])
        XCTAssertEqual(s.scale[0], (1.25).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(s.scale[1], 1)
        let z = s.transform(x)
        XCTAssertEqual(z.column(1), [0, 0, 0, 0])
        XCTAssertFalse(z.values.contains { !$0.isFinite })
    }

    func testStandardizerRejectsNonFiniteFeatureNamingRowAndColumn() throws {
        var x = Matrix(rows: 3, columns: 2, values: [1, 2, 3, 4, 5, 6]); x[2, 1] = .infinity
        XCTAssertThrowsError(try Standardizer().fit(x)) { error in
            XCTAssert(error.localizedDescription.contains("row 2, column 1"), error.localizedDescription)
        }
    }

    func testPCAMatchesEigendecompositionOfCovarianceWithSignConvention() throws {
        var rng = SplitMix64(seed: 11)
        let n = 40, d = 6
        var x = Matrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in Double(rng.next() >> 11) * 0x1p-53 })
        for r in 0..<n { x[r, 1] += 3 * x[r, 0]; x[r, 4] -= 2 * x[r, 2] }   // correlated columns
        let pca = try PCA(components: .count(3)).fitPCA(x)
        // Reference: eigenvectors of the sample covariance (largest first), same sign convention.
        var centred = x
        for c in 0..<d { let m = x.column(c).reduce(0, +) / Double(n); for r in 0..<n { centred[r, c] -= m } }
        var covariance = try multiply(centred, transposeA: true, centred)
        for i in 0..<covariance.values.count { covariance.values[i] /= Double(n - 1) }
        let eigen = try SymmetricEigendecomposition(covariance)
        for i in 0..<3 {
            var axis = eigen.vectors.column(d - 1 - i)
            let largest = axis.max { abs($0) < abs($1) }!
            if largest < 0 { axis = axis.map { -$0 } }
            let check = allClose(Array(pca.axes.row(i)), axis, relativeTolerance: 1e-8, absoluteTolerance: 1e-10)
            XCTAssert(check.ok, "axis \(i): \(check.message)")
            XCTAssertEqual(pca.explainedVariance[i], eigen.values[d - 1 - i], accuracy: 1e-10)
        }
        let projected = pca.transform(x)
        XCTAssertEqual(projected.columns, 3)
        // Projections are centred and uncorrelated.
        for c in 0..<3 { XCTAssertEqual(projected.column(c).reduce(0, +), 0, accuracy: 1e-10) }
    }

    func testPCAVarianceFractionAndMoreFeaturesThanSamples() throws {
        var rng = SplitMix64(seed: 12)
        let x = Matrix(rows: 10, columns: 50, values: (0..<500).map { _ in Double(rng.next() >> 11) * 0x1p-53 })
        let all = try PCA(components: .count(100)).fitPCA(x)
        XCTAssertEqual(all.outputWidth, 10)  // capped at min(samples, features); the 10th has ~0 variance
        let part = try PCA(components: .varianceFraction(0.5)).fitPCA(x)
        let ratios = all.explainedVarianceRatio
        let k = part.outputWidth
        XCTAssertGreaterThan(ratios[0..<k].reduce(0, +), 0.5)
        XCTAssertLessThanOrEqual(ratios[0..<(k - 1)].reduce(0, +), 0.5)
        XCTAssertThrowsError(try PCA(components: .varianceFraction(1.5)))
        XCTAssertThrowsError(try PCA(components: .count(0)))
    }

    func testPipelineFitsPreprocessingOnTrainingRowsOnly() throws {
        let train = Matrix(rows: 4, columns: 1, values: [0, 1, 2, 3])
        let model = try Pipeline(steps: [Standardizer()], head: SoftmaxRegression(epochs: 50))
            .fit(train, labels: [0, 0, 1, 1], sampleWeights: nil)
        guard let pipeline = model as? Pipeline.Fitted, let scaler = pipeline.steps.first as? Standardizer.Fitted else {
            return XCTFail("expected a fitted pipeline with a standardizer")
        }
        XCTAssertEqual(scaler.mean, [1.5])
        XCTAssertEqual(try model.predict(Matrix(rows: 2, columns: 1, values: [-10, 10])), [0, 1])
    }
}
