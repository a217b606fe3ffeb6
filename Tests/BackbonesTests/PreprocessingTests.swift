import XCTest
import Backbones

final class PreprocessingTests: XCTestCase {
    func testPreprocessingRoundTripsThroughJSON() throws {
        let p = Preprocessing(inputSize: 224, mean: Preprocessing.imageNet.mean, std: Preprocessing.imageNet.std, transformInput: true)
        let decoded = try JSONDecoder().decode(Preprocessing.self, from: JSONEncoder().encode(p))
        XCTAssertEqual(decoded, p)
    }
}
