import XCTest
import Weights

final class WeightStoreTests: XCTestCase {
    func testScopingBuildsTorchNamesAndIsStrict() throws {
        let store = WeightStore(tensors: [
            "layer1.0.conv1.weight": WeightTensor(shape: [2, 1], values: [1, 2]),
            "layer1.0.bn1.num_batches_tracked": WeightTensor(shape: [], values: [0]),
            "fc.weight": WeightTensor(shape: [1], values: [3]),
        ], source: "test.safetensors")
        let conv = store.scoped("layer1").scoped(0).scoped("conv1")
        XCTAssertEqual(try conv.tensor("weight", shape: [2, 1]), [1, 2])
        XCTAssertThrowsError(try conv.tensor("weight", shape: [1, 2])) { error in
            XCTAssertEqual(error as? WeightsError, .unexpectedShape(key: "layer1.0.conv1.weight", expected: [1, 2], actual: [2, 1], file: "test.safetensors"))
        }
        XCTAssertThrowsError(try conv.tensor("bias", shape: [2]))
        XCTAssertThrowsError(try store.checkAllConsumed()) { error in
            XCTAssertEqual(error as? WeightsError, .unusedTensors(keys: ["fc.weight"], file: "test.safetensors"))
        }
        XCTAssertNoThrow(try store.checkAllConsumed(allowing: ["num_batches_tracked", "fc"]))
    }
}
