import Foundation
import XCTest
import Backbones
import Extraction
import FeatureStore
import Imaging
import NeuralKernels
import TestSupport

/// Every view against Pillow + torchvision on the same image (scripts/fixtures/extraction_fixtures.py):
/// ResNet-18 with synthetic weights v1 and a 64 px input, on a 150 x 107 crop of a kather-mini tile.
final class ViewReferenceTests: XCTestCase {
    func testEveryViewMatchesPillowAndTorchvision() throws {
        let fixture = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/views_resnet18", withExtension: "npy"))
        let expected = try NPYArray.read(from: fixture)
        XCTAssertEqual(expected.shape, [6, 512])
        func expectedRow(_ index: Int) -> [Float] { Array(expected.values[(index * 512)..<((index + 1) * 512)]) }

        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let source = root.appendingPathComponent("demo/kather-mini/images/tumor_1.png")
        let directory = try temporaryDirectory("views")
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = directory.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let image = crop(try decodeImage(at: source), x: 0, y: 0, width: 150, height: 107)
        try writeTestPNG(width: image.width, height: image.height, pixels: image.pixels, to: folder.appendingPathComponent("tumor_1.png"))

        let network = try ResNet(depth: .resNet18, weights: SyntheticWeights.store(), context: .singleThread)
        let loaded = LoadedBackbone(backbone: network, preprocessing: Preprocessing(inputSize: 64, mean: Preprocessing.imageNet.mean, std: Preprocessing.imageNet.std),
                                    weightsFile: "synthetic", weightsSHA256: "synthetic-v1")
        let cases: [(String, ViewOptions, TestTimeAugmentation?, [Float])] = [
            ("resize", ViewOptions(kind: .resize), nil, expectedRow(0)),
            ("pad", ViewOptions(kind: .pad), nil, expectedRow(1)),
            ("native", ViewOptions(kind: .native), nil, expectedRow(2)),
            ("tiles mean+max", ViewOptions(kind: .tiles, tileStride: 32, tilePooling: .meanMax), nil, expectedRow(3) + expectedRow(4)),
            ("native d4", ViewOptions(kind: .native), .d4, expectedRow(5)),
        ]
        for (label, view, tta, reference) in cases {
            let row = try extract(folder, into: directory.appendingPathComponent(label.replacingOccurrences(of: " ", with: "_")),
                                  view: view, tta: tta, loaded: loaded).features.values
            let comparison = compare(row, reference)
            print("view \(label) vs Pillow+torchvision: \(comparison)")
            XCTAssertLessThan(comparison.relativeL2Error, 1e-5, "\(label): \(comparison)")
            XCTAssertGreaterThan(comparison.cosine, 0.9999, "\(label): \(comparison)")
        }
    }

    /// A real network on the fast kernels: rows agree across batch sizes and thread counts.
    func testRowsDoNotDependOnBatchSizeOrThreadsWithARealNetwork() throws {
        let directory = try temporaryDirectory("threads")
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = try makeImageFolder(directory, sizes: [(70, 66), (70, 66), (81, 59), (70, 66), (64, 64)])
        func network(threads: Int) throws -> LoadedBackbone {
            let resnet = try ResNet(depth: .resNet18, weights: SyntheticWeights.store(), context: KernelContext(threadCount: threads))
            return LoadedBackbone(backbone: resnet, preprocessing: Preprocessing(inputSize: 64, mean: Preprocessing.imageNet.mean, std: Preprocessing.imageNet.std),
                                  weightsFile: "synthetic", weightsSHA256: "synthetic-v1")
        }
        let view = ViewOptions(kind: .tiles, tileStride: 16)
        let baseline = try extract(folder, into: directory.appendingPathComponent("a"), view: view, batchSize: 1, loaded: network(threads: 1)).features
        for (batch, threads) in [(4, 1), (3, 2), (16, 2)] {
            let other = try extract(folder, into: directory.appendingPathComponent("b\(batch)-\(threads)"), view: view, batchSize: batch,
                                    loaded: network(threads: threads)).features
            // Bit for bit, as README states for any thread count or batch (the thread counts are explicit, so the
            // work is split the same way on a one-core run).
            XCTAssertEqual(other.values, baseline.values, "batch \(batch), threads \(threads): \(compare(other.values, baseline.values))")
        }
    }
}
