// README's hardening rows 3, 4 and 5 on images: views that multiply memory after the decoder's pixel
// limit (pad squares a 100000 x 1 strip, tiles pad a 1 x 20000000 strip to 224 wide, native runs
// the network over 36 MP), special files in the images folder (a FIFO, a link to /dev/zero), and a
// progressive JPEG that repeats one scan 3000 times. Fixtures: scripts/fixtures/robustness_fixtures.py.
// The extraction cases run the real executable in a child process under an address-space cap and
// a time limit; each bad image is a failure of its own (named, with the view and the number), the
// good image beside it is still extracted, and the run ends with exit status 1.

import Backbones
import Extraction
import Foundation
import Imaging
import NeuralKernels
import TestSupport
import Weights
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class ImageHardeningTests: XCTestCase {
    private func image(_ name: String) -> URL { Catalogue.fixture("images/" + name) }

    // MARK: class 3, from the header alone

    func testViewsAreBoundedFromTheImageSize() throws {
        let cases: [(String, ViewKind, String)] = [
            ("views/wide-100000x1.png", .pad, "a padded square of 100000 x 100000 pixels (10000000000)"),
            ("views/tall-1x20000000.png", .tiles, "a tile canvas of 224 x 20000000 pixels (4480000000)"),
            ("views/white-6000x6000.png", .native, "a native pass over 6000 x 6000 pixels (36000000)"),
        ]
        for (file, kind, phrase) in cases {
            let url = image(file)
            let size = try readImageSize(at: url)
            XCTAssertLessThanOrEqual(size.width * size.height, defaultMaxPixels, "\(file) passes the decoder's limit")
            let error = refusal { try ViewOptions(kind: kind).checkMemory(width: size.width, height: size.height, inputSize: 224, image: url.path) }
            guard case .viewTooLarge? = error as? ExtractionError else { XCTFail("\(file): \(String(describing: error))"); continue }
            assertMessage(error, names: url.path, mentions: ["--view \(kind.rawValue)", phrase, "more than the limit of"])
            // The same image under resize is fine: its view is 224 x 224 whatever the source.
            XCTAssertNoThrow(try ViewOptions(kind: .resize).checkMemory(width: size.width, height: size.height, inputSize: 224, image: url.path))
        }
        // Tiles per image: stride 1 over a 2000 x 2000 image would be 1777^2 network passes.
        let error = refusal { try ViewOptions(kind: .tiles, tileStride: 1).checkMemory(width: 2000, height: 2000, inputSize: 224, image: "x.png") }
        assertMessage(error, names: "x.png", mentions: ["1777 x 1777 tiles of 224 px at stride 1 (3157729)", "CARCINOMA_MAX_TILES"])
        // Limits are raised explicitly.
        XCTAssertNoThrow(try ViewOptions(kind: .native).checkMemory(width: 6000, height: 6000, inputSize: 224, image: "x.png",
                                                                   limits: ViewLimits(nativePixels: 36_000_000)))
    }

    /// Tiles are cropped on demand: the plan holds the padded canvas and the origins only, and its
    /// images are exactly the tiles `tiles(_:grid:)` builds up front.
    func testTilePlanCropsTheSameTilesOnDemand() throws {
        var pixels = [UInt8](repeating: 0, count: 300 * 500 * 3)
        for index in pixels.indices { pixels[index] = UInt8(truncatingIfNeeded: index * 7 &+ index / 3) }
        let source = RGBImage(width: 500, height: 300, pixels: pixels)
        let view = ViewOptions(kind: .tiles, tileStride: 100)
        let plan = view.plan(of: source, inputSize: 224)
        let expected = tiles(source, grid: TileGrid(size: 224, stride: 100))
        XCTAssertEqual(plan.count, expected.count)
        for index in 0..<plan.count {
            XCTAssertEqual(plan.image(index), expected[index], "tile \(index)")
        }
    }

    // MARK: class 5

    func testRepeatedProgressiveScansAreRefusedAsCorrupt() throws {
        let bomb = image("progressive-3000-scans.jpg")
        let started = Date()
        let error = refusal { try decodeImage(at: bomb) }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        guard case .corrupt? = error as? ImagingError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: bomb.path, mentions: ["more than 500 scans"])
        let valid = try decodeImage(at: image("progressive.jpg"))
        XCTAssertEqual([valid.width, valid.height], [64, 48])
    }

    // MARK: through the executable: classes 3 and 4

    /// A folder holding the good catalogue image and `extra` (name → set up), synthetic Lite0 weights.
    private func extractionFolder(_ label: String, extra: (URL) throws -> Void) throws -> (folder: URL, images: URL, weights: URL) {
        let folder = try temporaryDirectory(label)
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: image("progressive.jpg"), to: images.appendingPathComponent("good.jpg"))
        try extra(images)
        let weights = folder.appendingPathComponent("efficientnet_lite0.safetensors")
        try writeSyntheticWeights(.efficientnetLite0, to: weights)
        return (folder, images, weights)
    }

    private func extract(_ setup: (folder: URL, images: URL, weights: URL), view: String) throws -> ChildResult {
        try runCarcinoma(["extract", "--images", setup.images.path, "--backbone", "efficientnet_lite0", "--weights", setup.weights.path,
                          "--view", view, "--out", setup.folder.appendingPathComponent("features").path, "--quiet", "--threads", "1"],
                         memoryLimitMiB: 3072, timeLimitSeconds: 300)
    }

    func testExecutableRefusesEachViewBombPerImage() throws {
        for (file, view, number) in [("views/wide-100000x1.png", "pad", "10000000000"),
                                     ("views/tall-1x20000000.png", "tiles", "4480000000"),
                                     ("views/white-6000x6000.png", "native", "36000000")] {
            let setup = try extractionFolder("view-\(view)") { images in
                try FileManager.default.copyItem(at: self.image(file), to: images.appendingPathComponent("bomb.png"))
            }
            defer { try? FileManager.default.removeItem(at: setup.folder) }
            let result = try extract(setup, view: view)
            XCTAssertEqual(result.status, 1, "\(file): status \(result.status): \(result.error)")
            let bomb = setup.images.appendingPathComponent("bomb.png").path
            for phrase in [bomb, "--view \(view)", number, "more than the limit of"] {
                XCTAssertTrue(result.error.contains(phrase), "\(file): lacks '\(phrase)': \(result.error)")
            }
            XCTAssertTrue(result.error.contains("1 image(s) failed"), result.error)
        }
    }

    func testSpecialFilesAreReportedPerEntryAndTheOthersExtracted() throws {
        let setup = try extractionFolder("special-files") { images in
            XCTAssertEqual(mkfifo(images.appendingPathComponent("fifo.png").path, 0o644), 0)
            try FileManager.default.createSymbolicLink(at: images.appendingPathComponent("zero.png"), withDestinationURL: URL(fileURLWithPath: "/dev/zero"))
            try FileManager.default.createSymbolicLink(at: images.appendingPathComponent("dangling.png"),
                                                       withDestinationURL: images.appendingPathComponent("nowhere.png"))
        }
        defer { try? FileManager.default.removeItem(at: setup.folder) }
        let result = try extract(setup, view: "resize")
        XCTAssertEqual(result.status, 1, "status \(result.status): \(result.error)")
        for (name, reason) in [("fifo.png", "is a named pipe (FIFO), not a regular file"), ("zero.png", "is a device, not a regular file"),
                               ("dangling.png", "no such file")] {
            let line = "\(setup.images.appendingPathComponent(name).path): \(reason)"
            XCTAssertTrue(result.error.contains(line), "lacks '\(line)': \(result.error)")
        }
        XCTAssertTrue(result.error.contains("3 image(s) failed"), result.error)
        let cache = try String(contentsOf: setup.folder.appendingPathComponent("features/efficientnet_lite0-resize.json"), encoding: .utf8)
        XCTAssertTrue(cache.contains("\"good\""), cache)
    }
}

/// Writes the synthetic weights of `name` (Backbones/SyntheticWeights, every tensor the network
/// reads) as a safetensors file.
func writeSyntheticWeights(_ name: BackboneName, to url: URL) throws {
    final class Recorder: @unchecked Sendable {
        let lock = NSLock()
        var tensors: [String: WeightTensor] = [:]
    }
    let recorder = Recorder()
    let store = WeightStore(source: "synthetic") { key, shape in
        let values = SyntheticWeights.values(name: key, shape: shape)
        recorder.lock.lock(); recorder.tensors[key] = WeightTensor(shape: shape, values: values); recorder.lock.unlock()
        return values
    }
    _ = try makeBackbone(name, weights: store, context: .singleThread)
    try Safetensors.write(recorder.tensors, to: url)
}
