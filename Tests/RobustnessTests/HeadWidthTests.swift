// README's hardening row 11: a feature matrix of the wrong width is refused by `predictProba` itself (and by
// `checkedPredictProba`, which names the head as the caller knows it) with scikit-learn's message, for every
// head of the catalogue (each through HeadCatalog, pipeline included) and every bare head, before any kernel
// reads it. Data: 24 rows x 4 columns, 2 classes, from a fixed linear congruential generator.

import Evaluation
import Foundation
import Heads
import LinearAlgebra
import XCTest

final class HeadWidthTests: XCTestCase {
    func testWrongWidthIsRefusedByEveryHead() throws {
        var state: UInt64 = 20261206
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let rows = 24, width = 4
        let labels = (0..<rows).map { $0 % 2 }
        let features = Matrix(rows: rows, columns: width, values: (0..<(rows * width)).map { Double(labels[$0 / width]) * 2 + uniform() })
        for specification in try HeadCatalog.specifications(HeadCatalog.names.joined(separator: ","), featureWidth: width, seed: 0) {
            let classifier = specification.candidates[0].classifier
            let model = try classifier.fit(features, labels: labels, sampleWeights: nil)
            XCTAssertEqual(try model.checkedPredictProba(features, head: specification.name), try model.predictProba(features), specification.name)
            let narrow = Matrix(rows: 2, columns: 1, values: [0.5, 1.5])
            let error = refusal { try model.checkedPredictProba(narrow, head: specification.name) }
            let message = error?.localizedDescription ?? ""
            XCTAssertTrue(message.contains("X has 1 features, but \(specification.name)"), "\(specification.name): \(message)")
            let plain = refusal { try model.predictProba(narrow) }?.localizedDescription ?? ""
            XCTAssertTrue(plain.contains("X has 1 features, but"), "\(specification.name), predictProba: \(plain)")
            XCTAssertThrowsError(try model.predict(narrow), "\(specification.name), predict")
            guard let recorded = (model as? FeatureWidthRecording)?.featureWidth else { XCTFail("\(specification.name) records no width"); continue }
            if case .exactly = recorded {
                XCTAssertEqual(recorded, .exactly(width), specification.name)
                let wide = Matrix(rows: 1, columns: width + 1, values: [Double](repeating: 1, count: width + 1))
                XCTAssertNotNil(refusal { try model.checkedPredictProba(wide, head: specification.name) }, specification.name)
            }
        }
        // The bare heads (no pipeline in front), whose own width checks guard their kernels.
        let heads: [any Classifier] = [try SoftmaxRegression(), try SupportVectorMachine(), try GaussianProcessClassifier(restarts: 0),
                                       try GradientBoostedTrees(rounds: 5)]
        for head in heads {
            let model = try head.fit(features, labels: labels, sampleWeights: nil)
            let narrow = Matrix(rows: 2, columns: 1, values: [0.5, 1.5])
            let message = refusal { try model.predictProba(narrow) }?.localizedDescription ?? ""
            XCTAssertTrue(message.contains("X has 1 features, but"), "\(head.name): \(message)")
        }
    }
}
