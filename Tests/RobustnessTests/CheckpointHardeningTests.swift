// README's hardening rows 1, 2 and 10 on checkpoints: integer overflow in tensor metadata, amplification
// past a total budget, zip directories that alias or compress storages, values that are accepted
// but wrong (NaN, negative variance), and safetensors headers with booleans or floats for integers.
// Fixtures: scripts/fixtures/robustness_fixtures.py (v2). Each case is refused in-process with a
// `WeightsError` naming the file and the number, and again by the real executable
// (`carcinoma weights list FILE`) in a child process under a 1 GiB address-space cap and a time
// limit: exit status 1, the file named on stderr.

import Foundation
import TestSupport
import Weights
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class CheckpointHardeningTests: XCTestCase {
    private func checkpoint(_ name: String) -> URL { Catalogue.fixture("checkpoints/" + name) }

    /// (file, phrases the message must contain).
    private let overflowCases: [(String, [String])] = [
        ("zip-stride-sum-overflow.pth", ["tensor 'w'", "overflows", "4611686018427387904"]),
        ("zip-offset-plus-extent-overflow.pth", ["tensor 'w'", "overflows", "9223372036854775806"]),
        ("legacy-view-overflow.pth", ["tensor 'w'", "storage view (offset 9223372036854775807, size 4)"]),
    ]

    private let amplificationCases: [(String, [String])] = [
        ("zip-stride0-expansion.pth", ["tensor 'w'", "68719476736 elements", "holds 1"]),
        ("zip-many-views.pth", ["more than the limit of", "CARCINOMA_MAX_CHECKPOINT_BYTES"]),
        ("zip-compressed-storage.pth", ["archive/data/0", "is compressed"]),
        ("zip-aliased-entries.pth", ["zip directory", "overlap"]),
    ]

    private func assertRefused(_ file: String, _ phrases: [String], line: UInt = #line) {
        let url = checkpoint(file)
        let error = refusal({ try loadWeights(from: url) }, line: line)
        XCTAssertNotNil(error as? WeightsError, "\(file): \(String(describing: error))", line: line)
        assertMessage(error, names: url.path, mentions: phrases, sourceLine: line)
    }

    func testOverflowingViewArithmeticIsRefused() {
        for (file, phrases) in overflowCases { assertRefused(file, phrases) }
    }

    func testAmplifyingCheckpointsAreRefusedBeforeAllocating() {
        for (file, phrases) in amplificationCases { assertRefused(file, phrases) }
    }

    /// Not refused: a size-1 axis's stride is never stepped (torch ignores it too), and an empty
    /// tensor whose other sizes multiply past 2^63 has no elements to read.
    func testHarmlessExtremesLoad() throws {
        let store = try loadWeights(from: checkpoint("zip-size-one-huge-stride.pth"))
        let valid = try loadWeights(from: checkpoint("valid-zip.pth")).tensors["layer.weight"]!.values
        XCTAssertEqual(store.tensors["w"]?.shape, [1, 3])
        XCTAssertEqual(store.tensors["w"]?.values, [valid[0], valid[2], valid[4]])
        let empty = try loadWeights(from: checkpoint("zip-empty-huge-dims.pth"))
        XCTAssertEqual(empty.tensors["w"]?.shape, [0, 1 << 40, 1 << 40])
        XCTAssertEqual(empty.tensors["w"]?.values.count, 0)
    }

    /// The budget is a default, not a wall: the many-views file loads once the cap is raised, and
    /// the limit is what the message says (8 bytes per file byte).
    func testBudgetIsEightBytesPerFileByteAndCanBeRaised() throws {
        let url = checkpoint("zip-many-views.pth")
        let size = try XCTUnwrap((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue)
        assertRefused("zip-many-views.pth", ["more than the limit of \(8 * size) bytes"])
        let raised = try runCarcinoma(["weights", "list", url.path], memoryLimitMiB: 1024, timeLimitSeconds: 60,
                                      environment: [CheckpointLimits.environmentVariable: String(64 << 20)])
        XCTAssertEqual(raised.status, 0, raised.error)
        XCTAssertTrue(raised.output.contains("64 tensors, 262144 values"), raised.output)
    }

    func testSafetensorsIntegersMustBeIntegers() {
        assertRefused("bool-shape.safetensors", ["entry 'w' has no valid shape"])
        assertRefused("float-offsets.safetensors", ["entry 'w' has no valid data_offsets"])
    }

    /// NaN weights and negative variances load as tensors but are refused when a network reads them,
    /// naming the tensor and the element.
    func testNonFiniteWeightsAndNegativeVariancesAreNamed() throws {
        for (file, key, shape, phrase) in [("nan-weight.pth", "conv.weight", [3], "element 1 is nan"),
                                           ("negative-variance.pth", "bn.running_var", [4], "variance 2 is -0.5")] {
            let url = checkpoint(file)
            let store = try loadWeights(from: url)
            let error = refusal { try store.root.tensor(key, shape: shape) }
            guard case .invalidValue? = error as? WeightsError else { XCTFail("\(file): \(String(describing: error))"); continue }
            assertMessage(error, names: url.path, mentions: ["tensor '\(key)'", phrase])
        }
    }

    /// Every refused case again through the executable, under a memory cap: exit status 1, the file
    /// named, within the time limit (a trap would be status 132/134, a kill 137).
    func testExecutableRefusesEachCaseWithinMemoryAndTime() throws {
        let cases = overflowCases + amplificationCases + [("bool-shape.safetensors", ["no valid shape"])]
        for (file, phrases) in cases {
            let url = checkpoint(file)
            let result = try runCarcinoma(["weights", "list", url.path], memoryLimitMiB: 1024, timeLimitSeconds: 60)
            XCTAssertEqual(result.status, 1, "\(file): status \(result.status), stderr: \(result.error)")
            XCTAssertTrue(result.error.contains(url.path), "\(file): \(result.error)")
            for phrase in phrases { XCTAssertTrue(result.error.contains(phrase), "\(file): lacks '\(phrase)': \(result.error)") }
        }
        // The valid twin still loads under the same cap (the cap itself is not what refuses).
        let valid = try runCarcinoma(["weights", "list", checkpoint("valid-zip.pth").path], memoryLimitMiB: 1024, timeLimitSeconds: 60)
        XCTAssertEqual(valid.status, 0, valid.error)
    }

    /// A write that fails (file-size limit: EFBIG, as a full disk's ENOSPC) is an error naming the
    /// output, exit status 1, not a trap in FileHandle.write; no hidden temporary file is left.
    func testConvertOnAFullDiskFailsCleanly() throws {
        let folder = try temporaryDirectory("convert-full")
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = folder.appendingPathComponent("out.safetensors")
        let result = try runCarcinoma(["weights", "convert", checkpoint("zip-many-views.pth").path, output.path],
                                      fileSizeLimitBlocks: 8, memoryLimitMiB: 1024, timeLimitSeconds: 60,
                                      environment: [CheckpointLimits.environmentVariable: String(64 << 20)])
        XCTAssertEqual(result.status, 1, result.error)
        XCTAssertTrue(result.error.contains(output.path) && result.error.contains("cannot write"), result.error)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), [])
    }

    /// A FIFO or a device given as a weight file: refused at once by `stat` (open() on a FIFO would
    /// block; root used to get "You don't have permission"), exit status 1 within the time limit.
    func testSpecialFilesAsWeightsAreRefusedWithoutBlocking() throws {
        let folder = try temporaryDirectory("weights-fifo")
        defer { try? FileManager.default.removeItem(at: folder) }
        let fifo = folder.appendingPathComponent("w.pth")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        for (path, phrase) in [(fifo.path, "is a named pipe (FIFO), not a regular file"), ("/dev/zero", "is a device, not a regular file")] {
            let result = try runCarcinoma(["weights", "list", path], memoryLimitMiB: 1024, timeLimitSeconds: 30)
            XCTAssertEqual(result.status, 1, "\(path): \(result.status) \(result.error)")
            XCTAssertTrue(result.error.contains("\(path): \(phrase)"), result.error)
        }
    }

    /// `weights convert a.pth a.pth` would replace the checkpoint with its conversion.
    func testConvertRefusesToOverwriteItsInput() throws {
        let folder = try temporaryDirectory("convert-onto-input")
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("a.pth")
        try FileManager.default.copyItem(at: checkpoint("valid-zip.pth"), to: input)
        let before = try Data(contentsOf: input)
        let link = folder.appendingPathComponent("link.safetensors")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: input)
        for output in [input, link, folder.appendingPathComponent("sub/../a.pth")] {
            let error = refusal { try convertWeights(from: input, to: output) }
            assertMessage(error, names: output.path, mentions: ["is the input file"])
        }
        XCTAssertEqual(try Data(contentsOf: input), before)
    }
}
