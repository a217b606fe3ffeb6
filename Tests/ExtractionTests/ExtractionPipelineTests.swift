import Foundation
import XCTest
import Backbones
import Extraction
import FeatureStore
import Imaging
import TestSupport

/// A folder of synthetic PNGs of mixed sizes (two share 40x36 so they batch together).
func makeImageFolder(_ directory: URL, sizes: [(Int, Int)] = [(40, 36), (33, 47), (40, 36), (64, 50), (29, 29), (70, 41), (40, 36)]) throws -> URL {
    let folder = directory.appendingPathComponent("images")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (index, size) in sizes.enumerated() {
        try writeTestPNG(width: size.0, height: size.1, pixels: testPixels(width: size.0, height: size.1, seed: index),
                         to: folder.appendingPathComponent(String(format: "img_%02d.png", index)))
    }
    return folder
}

/// Runs one extraction of `folder` into `output` and returns the summary and the cache.
@discardableResult
func extract(_ folder: URL, into output: URL, view: ViewOptions = ViewOptions(kind: .native), tta: TestTimeAugmentation? = nil,
             batchSize: Int = 4, shard: Shard? = nil, overwrite: Bool = false, loaded: LoadedBackbone = tinyLoaded()) throws
    -> (summary: ExtractionSummary, features: FeatureSet) {
    let listing = try listImages(in: folder)
    let images = shard.map { $0.select(listing.images) } ?? listing.images
    let hashes = try images.map { try fileSHA256($0.url) }
    let extractor = Extractor(images: images, rejected: listing.rejected, dataset: folder.lastPathComponent, output: output,
                              settings: ExtractionSettings(view: view, tta: tta, batchSize: batchSize, overwrite: overwrite, toolVersion: "test"))
    let summary = try extractor.run(loaded, hashes: hashes)
    return (summary, try FeatureSet.load(npy: URL(fileURLWithPath: summary.output)))
}

final class ExtractionPipelineTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try temporaryDirectory("extract") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testCacheLayoutAndManifest() throws {
        let folder = try makeImageFolder(directory)
        let output = directory.appendingPathComponent("features")
        let (summary, features) = try extract(folder, into: output, view: ViewOptions(kind: .tiles, tileStride: 8))
        XCTAssertEqual(URL(fileURLWithPath: summary.output).lastPathComponent, "tiny-tiles.npy")
        XCTAssertEqual(features.ids, (0..<7).map { String(format: "img_%02d", $0) })
        XCTAssertEqual(features.shape, [7, 6])
        let manifest = try XCTUnwrap(features.manifest)
        XCTAssertEqual(manifest.viewParameters["stride"], "8")
        XCTAssertEqual(manifest.weightsSHA256, "tiny-weights-v1")
        XCTAssertEqual(manifest.imageSHA256[0], try fileSHA256(folder.appendingPathComponent("img_00.png")))
        // Nothing but the cache, its manifest and the lock file is left in the folder.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(),
                       [".extract.lock", "tiny-tiles.json", "tiny-tiles.npy"])
        let (again, _) = try extract(folder, into: output, view: ViewOptions(kind: .tiles, tileStride: 8))
        XCTAssertTrue(again.upToDate)
        XCTAssertEqual(again.extracted, 0)
    }

    func testRowsDoNotDependOnBatchSize() throws {
        let folder = try makeImageFolder(directory)
        for view in [ViewOptions(kind: .native), ViewOptions(kind: .tiles, tileStride: 16, tilePooling: .meanMax), ViewOptions(kind: .resize)] {
            let one = try extract(folder, into: directory.appendingPathComponent("b1-\(view.kind)"), view: view, batchSize: 1).features
            let five = try extract(folder, into: directory.appendingPathComponent("b5-\(view.kind)"), view: view, batchSize: 5).features
            XCTAssertEqual(one.ids, five.ids)
            let check = allClose(five.values, one.values, relativeTolerance: 1e-6, absoluteTolerance: 1e-7)
            XCTAssertTrue(check.ok, "\(view.kind): \(check.message)")
        }
    }

    func testNativeRowIsTheBackboneOnTheWholeImage() throws {
        let folder = try makeImageFolder(directory, sizes: [(37, 23)])
        let features = try extract(folder, into: directory.appendingPathComponent("f")).features
        let image = try decodeImage(at: folder.appendingPathComponent("img_00.png"))
        let backbone = TinyBackbone()
        let planes = normalizedPlanes(image, mean: backbone.preprocessing.mean, std: backbone.preprocessing.std)
        let expected = backbone.embed(.init(shape: [1, 3, 23, 37], storage: planes)).storage
        XCTAssertEqual(features.values, expected)
    }

    func testTilesMeanMaxIsTwiceAsWide() throws {
        let folder = try makeImageFolder(directory)
        let features = try extract(folder, into: directory.appendingPathComponent("f"),
                                   view: ViewOptions(kind: .tiles, tilePooling: .meanMax)).features
        XCTAssertEqual(features.shape, [7, 12])
        for row in 0..<7 {
            let values = Array(features.row(row))
            for channel in 0..<6 { XCTAssertGreaterThanOrEqual(values[6 + channel], values[channel] - 1e-6, "max below mean") }
        }
    }

    /// TTA d4 equals the mean of the native rows of the 8 transformed images, each written as a file.
    func testD4IsTheMeanOverTheEightTransforms() throws {
        let folder = try makeImageFolder(directory, sizes: [(31, 22)])
        let image = try decodeImage(at: folder.appendingPathComponent("img_00.png"))
        let transformed = directory.appendingPathComponent("transformed")
        try FileManager.default.createDirectory(at: transformed, withIntermediateDirectories: true)
        for (index, transform) in DihedralTransform.allCases.enumerated() {
            let view = Imaging.transform(image, transform)
            try writeTestPNG(width: view.width, height: view.height, pixels: view.pixels, to: transformed.appendingPathComponent("t\(index).png"))
        }
        XCTAssertEqual(DihedralTransform.allCases.count, 8)
        let each = try extract(transformed, into: directory.appendingPathComponent("each")).features
        var mean = [Float](repeating: 0, count: 6)
        for row in 0..<8 { for channel in 0..<6 { mean[channel] += each.row(row)[each.row(row).startIndex + channel] / 8 } }
        let (summary, tta) = try extract(folder, into: directory.appendingPathComponent("tta"), tta: .d4)
        XCTAssertEqual(URL(fileURLWithPath: summary.output).lastPathComponent, "tiny-native-d4.npy")
        XCTAssertEqual(tta.manifest?.tta, "d4")
        let check = allClose(tta.values, mean, relativeTolerance: 1e-5, absoluteTolerance: 1e-6)
        XCTAssertTrue(check.ok, check.message)
    }

    func testShardsMergedEqualUnsharded() throws {
        let folder = try makeImageFolder(directory)
        let whole = try extract(folder, into: directory.appendingPathComponent("whole")).features
        var shardFolders: [URL] = []
        for index in 0..<3 {
            let shard = try Shard(index: index, count: 3)
            let output = directory.appendingPathComponent(shard.folderName)
            let part = try extract(folder, into: output, batchSize: 2, shard: shard).features
            XCTAssertEqual(part.ids, shard.select(whole.ids))
            shardFolders.append(output)
        }
        let merged = directory.appendingPathComponent("merged")
        let report = try mergeShards(shardFolders, into: merged)
        XCTAssertEqual(report.variants, ["tiny-native"])
        let joined = try FeatureSet.load(npy: merged.appendingPathComponent("tiny-native.npy"))
        XCTAssertEqual(joined.ids, whole.ids)
        XCTAssertEqual(joined.manifest, whole.manifest)
        let check = allClose(joined.values, whole.values, relativeTolerance: 1e-6, absoluteTolerance: 1e-7)
        XCTAssertTrue(check.ok, check.message)

        // Shards made with other settings are refused, naming the file and the difference.
        let other = directory.appendingPathComponent("other")
        try extract(folder, into: other, shard: try Shard(index: 0, count: 3), loaded: tinyLoaded(weightsSHA256: "other"))
        XCTAssertThrowsError(try mergeShards([shardFolders[1], other], into: directory.appendingPathComponent("bad"))) { error in
            XCTAssertTrue(error.localizedDescription.contains("weights SHA-256"), error.localizedDescription)
        }
        // Overlapping shards are refused.
        XCTAssertThrowsError(try mergeShards([shardFolders[0], shardFolders[0]], into: directory.appendingPathComponent("bad2"))) { error in
            XCTAssertTrue(error.localizedDescription.contains("also in"), error.localizedDescription)
        }
    }

    func testStaleRowsAreReextractedNeverReused() throws {
        let folder = try makeImageFolder(directory)
        let output = directory.appendingPathComponent("f")
        let first = try extract(folder, into: output)
        XCTAssertEqual(first.summary.extracted, 7)

        // Other weights: everything again.
        var run = try extract(folder, into: output, loaded: tinyLoaded(weightsSHA256: "changed"))
        XCTAssertEqual(run.summary.extracted, 7)
        XCTAssertEqual(run.features.manifest?.weightsSHA256, "changed")
        run = try extract(folder, into: output)
        XCTAssertEqual(run.summary.extracted, 7)

        // One image changed: only it.
        try writeTestPNG(width: 40, height: 36, pixels: testPixels(width: 40, height: 36, seed: 99), to: folder.appendingPathComponent("img_02.png"))
        run = try extract(folder, into: output)
        XCTAssertEqual(run.summary.extracted, 1)
        XCTAssertEqual(run.summary.reused, 6)
        XCTAssertNotEqual(Array(run.features.row(2)), Array(first.features.row(2)))
        XCTAssertEqual(Array(run.features.row(3)), Array(first.features.row(3)))

        // One added, one removed.
        try writeTestPNG(width: 20, height: 20, pixels: testPixels(width: 20, height: 20, seed: 7), to: folder.appendingPathComponent("img_99.png"))
        try FileManager.default.removeItem(at: folder.appendingPathComponent("img_00.png"))
        run = try extract(folder, into: output)
        XCTAssertEqual(run.summary.extracted, 1)
        XCTAssertEqual(run.features.ids.first, "img_01")
        XCTAssertEqual(run.features.ids.last, "img_99")
        XCTAssertEqual(run.features.rowCount, 7)

        // Other view parameters write another file or re-extract; --overwrite forces it.
        run = try extract(folder, into: output, view: ViewOptions(kind: .tiles, tileStride: 8))
        XCTAssertEqual(run.summary.extracted, 7)
        run = try extract(folder, into: output, view: ViewOptions(kind: .tiles, tileStride: 9))
        XCTAssertEqual(run.summary.extracted, 7)
        run = try extract(folder, into: output, overwrite: true)
        XCTAssertEqual(run.summary.extracted, 7)

        // A manifest from another format version is stale too.
        let manifestURL = output.appendingPathComponent("tiny-native.json")
        var manifest = try FeatureManifest.read(from: manifestURL)
        manifest.formatVersion = 0
        try manifest.write(to: manifestURL)
        run = try extract(folder, into: output)
        XCTAssertEqual(run.summary.extracted, 7)
        XCTAssertEqual(run.features.manifest?.formatVersion, featureFormatVersion)
    }

    func testCorruptImagesAreListedAndSkipped() throws {
        let folder = try makeImageFolder(directory, sizes: [(30, 30), (31, 30), (32, 30)])
        try Data("this is not an image".utf8).write(to: folder.appendingPathComponent("notes.png"))
        let good = try Data(contentsOf: folder.appendingPathComponent("img_00.png"))
        try good.prefix(good.count / 2).write(to: folder.appendingPathComponent("truncated.png"))
        try Data().write(to: folder.appendingPathComponent("empty.jpg"))
        try Data("x".utf8).write(to: folder.appendingPathComponent("slide.tif"))
        try Data("id,label\n".utf8).write(to: folder.appendingPathComponent("labels.csv"))
        let output = directory.appendingPathComponent("f")
        let (summary, features) = try extract(folder, into: output)
        XCTAssertEqual(features.ids, ["img_00", "img_01", "img_02"])
        let failed = Set(summary.failures.map { URL(fileURLWithPath: $0.path).lastPathComponent })
        XCTAssertEqual(failed, ["notes.png", "truncated.png", "empty.jpg", "slide.tif"])
        for failure in summary.failures { XCTAssertFalse(failure.reason.isEmpty) }
        // The next run retries the failures and keeps the valid rows.
        let again = try extract(folder, into: output)
        XCTAssertEqual(again.summary.extracted, 0)
        XCTAssertEqual(again.summary.failures.count, 4)
        XCTAssertEqual(again.features.values, features.values)
    }

    func testEmptyFolderUnwritableOutputMissingWeights() throws {
        let empty = directory.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertEqual(try listImages(in: empty).images, [])
        XCTAssertTrue(ExtractionError.noImages(path: empty.path).localizedDescription.contains(empty.path))
        XCTAssertThrowsError(try listImages(in: directory.appendingPathComponent("absent"))) { error in
            XCTAssertTrue(error.localizedDescription.contains("absent"), error.localizedDescription)
        }

        let blocker = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: blocker)
        let unwritable = blocker.appendingPathComponent("features")
        XCTAssertThrowsError(try Extractor.prepareOutput(unwritable)) { error in
            XCTAssertTrue(error.localizedDescription.contains(unwritable.path), error.localizedDescription)
        }
        let folder = try makeImageFolder(directory, sizes: [(20, 20)])
        XCTAssertThrowsError(try extract(folder, into: unwritable))

        XCTAssertThrowsError(try resolveWeightsFile(for: WeightSet.reference(for: .efficientnetLite0), explicit: nil, weightsDirectory: empty)) { error in
            XCTAssertTrue(error.localizedDescription.contains("carcinoma weights fetch efficientnet_lite0"), error.localizedDescription)
        }
        let missing = directory.appendingPathComponent("mine.safetensors")
        XCTAssertThrowsError(try resolveWeightsFile(for: WeightSet.reference(for: .resnet50), explicit: missing, weightsDirectory: empty)) { error in
            XCTAssertTrue(error.localizedDescription.contains(missing.path), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("weights fetch resnet50"), error.localizedDescription)
        }
        XCTAssertThrowsError(try parseWeightSets("resnet50,nope")) { error in
            XCTAssertTrue(error.localizedDescription.contains("nope"), error.localizedDescription)
        }
        XCTAssertThrowsError(try Shard(parsing: "3/3"))
        XCTAssertEqual(try Shard(parsing: "1/3").select(Array(0..<7)), [1, 4])
    }

    func testSecondRunOnLockedCacheRefuses() throws {
        let folder = try makeImageFolder(directory, sizes: [(20, 20)])
        let output = directory.appendingPathComponent("f")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let lock = try CacheLock(directory: output)
        XCTAssertThrowsError(try extract(folder, into: output)) { error in
            XCTAssertTrue(error.localizedDescription.contains("another extract run"), error.localizedDescription)
            XCTAssertTrue(error.localizedDescription.contains("pid \(getpid())"), error.localizedDescription)
        }
        lock.release()
        XCTAssertNoThrow(try extract(folder, into: output))
    }

    func testDuplicateImageIDsAreRefused() throws {
        let folder = try makeImageFolder(directory, sizes: [(20, 20)])
        try FileManager.default.copyItem(at: folder.appendingPathComponent("img_00.png"), to: folder.appendingPathComponent("img_00.jpg"))
        XCTAssertThrowsError(try listImages(in: folder)) { error in
            XCTAssertTrue(error.localizedDescription.contains("img_00"), error.localizedDescription)
        }
    }
}
