// `extract --precision bf16|bf16x3`: rows made with reduced-precision convolutions are a feature set of their own
// (<backbone>-<view>-<precision>.npy), say so in the manifest, and never mix with float32's cache. The network
// here is TinyBackbone (no convolution runs on AMX), so this holds on every machine; the arithmetic itself is
// tested in NeuralKernelsTests.AMXGemmTests and BackbonesTests.EfficientNetLiteTests.

import Foundation
import XCTest
import Backbones
import Extraction
import FeatureStore
import NeuralKernels
import TestSupport

final class PrecisionCacheTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory("precision") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func run(_ folder: URL, precision: Precision) throws -> ExtractionSummary {
        let listing = try listImages(in: folder)
        let hashes = try listing.images.map { try fileSHA256($0.url) }
        let extractor = Extractor(images: listing.images, dataset: "images", output: directory.appendingPathComponent("features"),
                                  settings: ExtractionSettings(view: ViewOptions(kind: .native), batchSize: 3, toolVersion: "test"))
        let loaded = LoadedBackbone(backbone: TinyBackbone(), preprocessing: TinyBackbone().preprocessing, weightsFile: "tiny.safetensors",
                                    weightsSHA256: "tiny-weights-v1", precision: precision)
        return try extractor.run(loaded, hashes: hashes)
    }

    func testEachPrecisionHasItsOwnCacheAndSaysSoInTheManifest() throws {
        let folder = try makeImageFolder(directory)
        let float32 = try run(folder, precision: .float32)
        let bf16 = try run(folder, precision: .bfloat16)
        let bf16x3 = try run(folder, precision: .bfloat16x3)
        XCTAssertEqual(URL(fileURLWithPath: float32.output).lastPathComponent, "tiny-native.npy")
        XCTAssertEqual(URL(fileURLWithPath: bf16.output).lastPathComponent, "tiny-native-bf16.npy")
        XCTAssertEqual(URL(fileURLWithPath: bf16x3.output).lastPathComponent, "tiny-native-bf16x3.npy")
        // Each is extracted, not taken from another precision's rows.
        XCTAssertGreaterThan(bf16.extracted, 0)
        XCTAssertEqual(bf16.reused, 0)
        for (summary, expected) in [(float32, nil), (bf16, "bf16"), (bf16x3, "bf16x3")] as [(ExtractionSummary, String?)] {
            let manifest = try FeatureManifest.read(from: URL(fileURLWithPath: summary.output).deletingPathExtension().appendingPathExtension("json"))
            XCTAssertEqual(manifest.precision, expected, summary.output)
        }
        // A second run of one precision is up to date; float32's cache is untouched by the others.
        XCTAssertTrue(try run(folder, precision: .bfloat16).upToDate)
        XCTAssertTrue(try run(folder, precision: .float32).upToDate)
    }

    /// Manifests written before the field existed read as float32.
    func testAManifestWithoutPrecisionIsFloat32() throws {
        let folder = try makeImageFolder(directory)
        let summary = try run(folder, precision: .float32)
        let url = URL(fileURLWithPath: summary.output).deletingPathExtension().appendingPathExtension("json")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        XCTAssertNil(object["precision"], "float32 writes no precision key, as before the field existed")
        XCTAssertNotNil(object["backbone"])
        XCTAssertNil(try FeatureManifest.read(from: url).precision)
        XCTAssertTrue(try run(folder, precision: .float32).upToDate)
    }
}
