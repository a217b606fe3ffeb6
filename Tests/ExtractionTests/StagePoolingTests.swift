// `extract --pooling stages`: every stage's pooled output, each block L2-normalised after the views
// are pooled, blocks named in the manifest, and a compare able to pick blocks back out.

import Foundation
import XCTest
import Backbones
import Extraction
import FeatureStore
import NeuralKernels
import TestSupport

/// TinyBackbone with a second, earlier "stage": its first three channels doubled and shifted, so the
/// two blocks have different norms.
struct TwoStageTiny: Backbone {
    let tiny = TinyBackbone()
    var name: String { "tiny" }
    var embeddingWidth: Int { 6 }
    var stageBlocks: [StageBlock] { [StageBlock("early", 3), StageBlock("final", 6)] }
    func embed(_ input: Tensor) -> Tensor { tiny.embed(input) }
    func embedStages(_ input: Tensor) -> Tensor {
        let final = tiny.embed(input)
        var storage: [Float] = []
        for n in 0..<input.batch {
            storage += (0..<3).map { 2 * final.storage[n * 6 + $0] + 0.5 }
            storage += final.storage[(n * 6)..<((n + 1) * 6)]
        }
        return Tensor(shape: [input.batch, 9, 1, 1], storage: storage)
    }
}

final class StagePoolingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory("stages") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func run(_ folder: URL, view: ViewOptions, pooling: EmbeddingPooling) throws -> FeatureSet {
        let listing = try listImages(in: folder)
        let hashes = try listing.images.map { try fileSHA256($0.url) }
        let extractor = Extractor(images: listing.images, dataset: "images", output: directory.appendingPathComponent("features"),
                                  settings: ExtractionSettings(view: view, batchSize: 3, toolVersion: "test", pooling: pooling))
        let loaded = LoadedBackbone(backbone: TwoStageTiny(), preprocessing: TinyBackbone().preprocessing, weightsFile: "tiny.safetensors", weightsSHA256: "tiny-weights-v1")
        return try FeatureSet.load(npy: URL(fileURLWithPath: try extractor.run(loaded, hashes: hashes).output))
    }

    func norm(_ values: ArraySlice<Float>) -> Double { values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    func testNativeStagesAreNormalisedBlocksOfTheStageOutputs() throws {
        let folder = try makeImageFolder(directory)
        let final = try run(folder, view: ViewOptions(kind: .native), pooling: .final)
        let stages = try run(folder, view: ViewOptions(kind: .native), pooling: .stages)
        XCTAssertEqual(stages.source?.lastPathComponent, "tiny-native-stages.npy")
        XCTAssertEqual(final.source?.lastPathComponent, "tiny-native.npy")
        XCTAssertEqual(stages.manifest?.blocks, [FeatureBlock(name: "early", width: 3), FeatureBlock(name: "final", width: 6)])
        XCTAssertNil(final.manifest?.blocks)
        XCTAssertEqual(stages.manifest?.blockNormalization, "l2")
        XCTAssertEqual(stages.shape, [final.rowCount, 9])
        for row in 0..<stages.rowCount {
            let values = stages.row(row)
            let start = values.startIndex
            XCTAssertEqual(norm(values[start..<(start + 3)]), 1, accuracy: 1e-6)
            XCTAssertEqual(norm(values[(start + 3)..<(start + 9)]), 1, accuracy: 1e-6)
            // The final block is the final embedding scaled to unit length; the early block is the
            // stage output (2x + 0.5 of the first three channels) scaled to unit length.
            let raw = Array(final.row(row))
            let expected = normalizingBlocks((0..<3).map { 2 * raw[$0] + 0.5 } + raw, widths: [3, 6])
            let check = allClose(Array(values), expected, relativeTolerance: 1e-6, absoluteTolerance: 1e-7)
            XCTAssertTrue(check.ok, "row \(row): \(check.message)")
        }
        // A block selection is its own feature set with its own name and manifest.
        let selected = try stages.selectingBlocks(["final"])
        XCTAssertEqual(selected.name, "tiny-native-stages[final]")
        XCTAssertEqual(selected.shape, [stages.rowCount, 6])
        XCTAssertEqual(selected.manifest?.blocks, [FeatureBlock(name: "final", width: 6)])
        XCTAssertEqual(Array(selected.row(2)), Array(stages.row(2).dropFirst(3)))
        XCTAssertThrowsError(try stages.selectingBlocks(["nope"]))
        XCTAssertThrowsError(try final.selectingBlocks(["final"]))
        XCTAssertEqual(try stages.selectingBlocks(["all"]).width, 9)
    }

    func testRawStagesAreTheStageOutputsUnscaled() throws {
        let folder = try makeImageFolder(directory)
        let final = try run(folder, view: ViewOptions(kind: .native), pooling: .final)
        let raw = try run(folder, view: ViewOptions(kind: .native), pooling: .stagesRaw)
        XCTAssertEqual(raw.source?.lastPathComponent, "tiny-native-stages-raw.npy")
        XCTAssertEqual(raw.manifest?.blockNormalization, "none")
        XCTAssertEqual(raw.manifest?.blocks?.map(\.width), [3, 6])
        for row in 0..<raw.rowCount {
            let expected = Array(final.row(row))
            let check = allClose(Array(raw.row(row)), (0..<3).map { 2 * expected[$0] + 0.5 } + expected,
                                 relativeTolerance: 1e-6, absoluteTolerance: 1e-7)
            XCTAssertTrue(check.ok, "row \(row): \(check.message)")
        }
    }

    func testMeanMaxTilesNameAndNormaliseEachHalf() throws {
        let folder = try makeImageFolder(directory)
        let stages = try run(folder, view: ViewOptions(kind: .tiles, tileStride: 16, tilePooling: .meanMax), pooling: .stages)
        XCTAssertEqual(stages.manifest?.blocks?.map(\.name), ["mean:early", "mean:final", "max:early", "max:final"])
        XCTAssertEqual(stages.manifest?.blocks?.map(\.width), [3, 6, 3, 6])
        XCTAssertEqual(stages.source?.lastPathComponent, "tiny-tiles-stages.npy")
        for row in 0..<stages.rowCount {
            let values = Array(stages.row(row))
            var start = 0
            for width in [3, 6, 3, 6] {
                XCTAssertEqual(norm(values[start..<(start + width)]), 1, accuracy: 1e-6)
                start += width
            }
        }
    }

    func testBlocksAreCheckedWhenTheManifestIsRead() throws {
        var manifest = FeatureManifest(toolVersion: "t", dataset: "d", backbone: "b", weightsFile: "w", weightsSHA256: "h",
                                       view: "native", preprocessing: .init(inputSize: 1, mean: [0, 0, 0], std: [1, 1, 1]),
                                       embeddingWidth: 9, blocks: [FeatureBlock(name: "a", width: 3), FeatureBlock(name: "b", width: 5)],
                                       imageIDs: [], imageSHA256: [])
        XCTAssertThrowsError(try manifest.validate(file: "m.json"))
        manifest.blocks = [FeatureBlock(name: "a", width: 3), FeatureBlock(name: "a", width: 6)]
        XCTAssertThrowsError(try manifest.validate(file: "m.json"))
        manifest.blocks = [FeatureBlock(name: "a", width: 3), FeatureBlock(name: "b", width: 6)]
        XCTAssertNoThrow(try manifest.validate(file: "m.json"))
    }
}
