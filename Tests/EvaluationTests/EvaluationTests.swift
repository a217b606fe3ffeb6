import XCTest
import Heads
import LinearAlgebra

final class PredictIsArgmaxTests: XCTestCase {
    struct Fixed: FittedClassifier {
        let classes = [-1, 0, 1]
        func predictProba(_ features: Matrix) -> Matrix { Matrix(rows: 2, columns: 3, values: [0.2, 0.5, 0.3, 0.4, 0.4, 0.2]) }
    }
    func testPredictIsArgmaxWithTiesToLowerClass() throws {
        XCTAssertEqual(try Fixed().predict(Matrix(rows: 2, columns: 1)), [0, -1])
    }
}
