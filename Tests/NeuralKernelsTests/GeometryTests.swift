import XCTest
import NeuralKernels

final class GeometryTests: XCTestCase {
    // torch.nn.MaxPool2d(3, 2, ceil_mode=True) on 112 gives 56, on 111 gives 55; floor mode on 112 gives 55.
    func testPoolOutputSizeFollowsPyTorch() {
        XCTAssertEqual(PoolGeometry(kernel: 3, stride: 2, ceilMode: true).outputSize(height: 112, width: 111).height, 56)
        XCTAssertEqual(PoolGeometry(kernel: 3, stride: 2, ceilMode: true).outputSize(height: 112, width: 111).width, 55)
        XCTAssertEqual(PoolGeometry(kernel: 3, stride: 2).outputSize(height: 112, width: 112).height, 55)
        // The last window may not start in the right padding: 2x2 stride 2 pad 1 on 4 with ceil gives 3.
        XCTAssertEqual(PoolGeometry(kernel: 2, stride: 2, padding: 1, ceilMode: true).outputSize(height: 4, width: 4).height, 3)
    }

    func testBatchNormFoldMatchesSeparateNormalisation() {
        let conv = Conv2D(inChannels: 1, outChannels: 2, geometry: ConvGeometry(kernel: 1), weight: [2, -1], bias: [0.5, 0])
        let folded = conv.foldingBatchNorm(gamma: [1, 2], beta: [0, 1], mean: [1, -1], variance: [3, 0], epsilon: 1)
        let x = Tensor(shape: [1, 1, 1, 1], storage: [3])
        let y = Naive.conv2d(x, folded)
        XCTAssertEqual(y.storage[0], (2 * 3 + 0.5 - 1) / 2, accuracy: 1e-6)
        XCTAssertEqual(y.storage[1], 2 * (-3 + 1) / 1 + 1, accuracy: 1e-6)
    }
}
