// Malicious and malformed checkpoints (scripts/fixtures/robustness_fixtures.py): each gets a
// `WeightsError` naming the file, nothing is executed, nothing crashes or allocates without bound.
// Plus weights that are well-formed but wrong for the network: another architecture, one tensor
// of the wrong shape.

import Backbones
import Foundation
import NeuralKernels
import Weights
import TestSupport
import XCTest

final class CheckpointCatalogueTests: XCTestCase {
    private func checkpoint(_ name: String) -> URL { Catalogue.fixture("checkpoints/" + name) }
    /// What the os.system / Popen / eval payloads would create if anything ran them.
    private let marker = "/tmp/carcinoma-pickle-executed"

    override func setUp() {
        try? FileManager.default.removeItem(atPath: marker)
    }

    // MARK: code-execution attempts: refused at the global, before any call

    func testCodeExecutionPicklesAreRefusedAtTheGlobal() {
        let cases: [(file: String, module: String, name: String)] = [
            ("bare-os-system.pth", "os", "system"),
            ("legacy-os-system.pth", "os", "system"), ("zip-os-system.pth", "os", "system"),
            ("legacy-reduce-chain.pth", "subprocess", "Popen"), ("zip-reduce-chain.pth", "subprocess", "Popen"),
            ("legacy-stack-global-eval.pth", "builtins", "eval"), ("zip-stack-global-eval.pth", "builtins", "eval"),
            ("legacy-build-system.pth", "posix", "system"), ("zip-build-system.pth", "posix", "system"),
        ]
        for (file, module, name) in cases {
            let url = checkpoint(file)
            let error = refusal { try loadWeights(from: url) }
            guard case let .disallowedGlobal(reported, reportedModule, reportedName)? = error as? WeightsError else {
                XCTFail("\(file): \(String(describing: error))"); continue
            }
            XCTAssertTrue(reported.hasPrefix(url.path), "\(file): \(reported)")
            XCTAssertEqual([reportedModule, reportedName], [module, name], file)
            assertMessage(error, names: url.path, mentions: ["refusing pickle global '\(module).\(name)'", "nothing was executed"])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a pickle payload ran")
    }

    // MARK: resource attacks: refused without recursion blow-up or huge allocations

    func testDeepNestingIsRefused() {
        let url = checkpoint("legacy-deep-nesting.pth")    // 100 000 nested lists
        let error = refusal { try loadWeights(from: url) }
        guard case .invalidPickle? = error as? WeightsError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["nested deeper than 100 levels"])
    }

    func testMarkFloodIsRefused() {
        let url = checkpoint("legacy-mark-flood.pth")      // 200 000 MARKs and nothing else
        let error = refusal { try loadWeights(from: url) }
        guard case .invalidPickle? = error as? WeightsError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path)
    }

    func testCyclicMemoReferencesAreRefused() {
        for file in ["legacy-cyclic-memo.pth", "zip-cyclic-memo.pth"] {
            let url = checkpoint(file)
            let error = refusal { try loadWeights(from: url) }
            XCTAssertNotNil(error as? WeightsError, "\(file): \(String(describing: error))")
            assertMessage(error, names: url.path, mentions: ["nested deeper than 100 levels"])
        }
    }

    func testMemoReadBeforeWriteIsRefused() {
        let url = checkpoint("legacy-memo-out-of-range.pth")
        let error = refusal { try loadWeights(from: url) }
        guard case .invalidPickle? = error as? WeightsError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["memo entry 200"])
    }

    func testHugeDeclaredLengthsAreRefusedBeforeAllocating() {
        for file in ["legacy-huge-binunicode.pth", "legacy-huge-binbytes8.pth", "legacy-huge-long4.pth", "legacy-negative-length.pth"] {
            let url = checkpoint(file)
            let error = refusal { try loadWeights(from: url) }
            guard case .invalidPickle? = error as? WeightsError else { XCTFail("\(file): \(String(describing: error))"); continue }
            assertMessage(error, names: url.path, mentions: ["runs past the end of the file"])
        }
    }

    func testTensorsLargerThanTheirStoragesAreRefused() {
        let cases = [("zip-huge-storage.pth", "declares 1099511627776"), ("zip-huge-shape.pth", "overflows"),
                     ("zip-offset-outside.pth", "of a storage with 6"), ("zip-negative-size.pth", "negative size"),
                     ("zip-missing-storage.pth", "missing the data entry"), ("legacy-short-storage.pth", "holds 2 elements")]
        for (file, phrase) in cases {
            let url = checkpoint(file)
            let error = refusal { try loadWeights(from: url) }
            guard case .invalidCheckpoint? = error as? WeightsError else { XCTFail("\(file): \(String(describing: error))"); continue }
            assertMessage(error, names: url.path, mentions: [phrase])
        }
    }

    // MARK: safetensors

    func testBrokenSafetensorsAreRefused() {
        let cases = [("truncated.safetensors", "outside the 14-byte data buffer"),
                     ("header-truncated.safetensors", "longer than the file"),
                     ("huge-header-length.safetensors", "longer than the file"),
                     ("header-not-json.safetensors", "not JSON"),
                     ("offsets-outside.safetensors", "outside the 24-byte data buffer"),
                     ("offsets-reversed.safetensors", "[24, 0)"),
                     ("shape-size-mismatch.safetensors", "overflows")]
        for (file, phrase) in cases {
            let url = checkpoint(file)
            let error = refusal { try loadWeights(from: url) }
            guard case .invalidSafetensors? = error as? WeightsError else { XCTFail("\(file): \(String(describing: error))"); continue }
            assertMessage(error, names: url.path, mentions: ["invalid safetensors file", phrase])
        }
        let url = checkpoint("unknown-dtype.safetensors")
        let error = refusal { try loadWeights(from: url) }
        XCTAssertEqual(error as? WeightsError, .unsupportedDType(file: url.path, key: "w", dtype: "Q7"))
    }

    // MARK: the valid twins load, in all three containers, to the generator's values

    func testValidTwinsLoad() throws {
        struct Expected: Decodable { let shape: [Int]; let values: [Float] }
        let expected = try JSONDecoder().decode([String: Expected].self, from: Data(contentsOf: checkpoint("valid-values.json")))
        for file in ["valid-legacy.pth", "valid-zip.pth", "valid.safetensors"] {
            let store = try loadWeights(from: checkpoint(file))
            XCTAssertEqual(store.keys, ["layer.weight"], file)
            XCTAssertEqual(store.tensors["layer.weight"]?.shape, expected["layer.weight"]?.shape, file)
            XCTAssertEqual(store.tensors["layer.weight"]?.values, expected["layer.weight"]?.values, file)
        }
    }

    // MARK: well-formed weights that do not fit the network

    /// Every (key, shape) a network reads, in order, with zeros for values.
    private func recordedTensors(_ build: (WeightStore) throws -> Void) rethrows -> [(String, [Int])] {
        final class Recorder: @unchecked Sendable {
            let lock = NSLock()
            var requests: [(String, [Int])] = []
        }
        let recorder = Recorder()
        let store = WeightStore(source: "recorder") { key, shape in
            recorder.lock.lock(); recorder.requests.append((key, shape)); recorder.lock.unlock()
            return [Float](repeating: 0, count: shape.reduce(1, *))
        }
        try build(store)
        return recorder.requests
    }

    private func writeSafetensors(_ requests: [(String, [Int])], to url: URL, reshaping key: String? = nil) throws {
        var tensors: [String: WeightTensor] = [:]
        for (name, shape) in requests {
            var stored = shape
            if name == key { stored = [shape[0], shape[1], shape[2] * shape[3]] }     // same values, 3-D
            tensors[name] = WeightTensor(shape: stored, values: [Float](repeating: 0, count: shape.reduce(1, *)))
        }
        try Safetensors.write(tensors, to: url)
    }

    func testResNet18WeightsFedToResNet50AreRefused() throws {
        let folder = try temporaryDirectory("robust-resnet18")
        defer { try? FileManager.default.removeItem(at: folder) }
        let requests = try recordedTensors { _ = try ResNet(depth: .resNet18, weights: $0, context: .singleThread) }
        let url = folder.appendingPathComponent("resnet18.safetensors")
        try writeSafetensors(requests, to: url)
        let error = refusal { try makeBackbone(.resnet50, weights: loadWeights(from: url), context: .singleThread) }
        XCTAssertEqual(error as? WeightsError,
                       .unexpectedShape(key: "layer1.0.conv1.weight", expected: [64, 64, 1, 1], actual: [64, 64, 3, 3], file: url.path))
        assertMessage(error, names: url.path, mentions: ["layer1.0.conv1.weight"])
    }

    func testCheckpointWithOneTensorOfTheWrongShapeIsRefused() throws {
        let folder = try temporaryDirectory("robust-lite0")
        defer { try? FileManager.default.removeItem(at: folder) }
        let requests = try recordedTensors { _ = try makeBackbone(.efficientnetLite0, weights: $0, context: .singleThread) }
        guard let (key, shape) = requests.last(where: { $0.1.count == 4 && $0.1[2] > 1 }) else { return XCTFail("no 4-D kernel read") }
        let url = folder.appendingPathComponent("efficientnet_lite0.safetensors")
        try writeSafetensors(requests, to: url, reshaping: key)
        // The intact file builds; the one with a reshaped kernel is refused naming that tensor.
        let intact = folder.appendingPathComponent("intact.safetensors")
        try writeSafetensors(requests, to: intact)
        XCTAssertNoThrow(try makeBackbone(.efficientnetLite0, weights: loadWeights(from: intact), context: .singleThread))
        let error = refusal { try makeBackbone(.efficientnetLite0, weights: loadWeights(from: url), context: .singleThread) }
        XCTAssertEqual(error as? WeightsError,
                       .unexpectedShape(key: key, expected: shape, actual: [shape[0], shape[1], shape[2] * shape[3]], file: url.path))
        assertMessage(error, names: url.path, mentions: [key, "expected \(shape)"])
    }

    func testRealLite0CheckpointFedToResNet50IsRefused() throws {
        let url = try realLite0WeightsOrSkip()
        let error = refusal { try makeBackbone(.resnet50, weights: loadWeights(from: url), context: .singleThread) }
        guard case .cannotFindTensor? = error as? WeightsError else { return XCTFail("\(String(describing: error))") }
        assertMessage(error, names: url.path, mentions: ["another architecture"])
    }
}
