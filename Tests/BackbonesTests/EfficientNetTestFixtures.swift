// Fixture access shared by the Inception-V3 / EfficientNet tests. The expected numbers come
// from scripts/fixtures/backbone_fixtures_2.py (see its header for how every input is made).

import XCTest
import Backbones
import NeuralKernels
import TestSupport

enum BackboneFixtures2 {
    static func url(_ name: String) throws -> URL {
        guard let base = Bundle.module.resourceURL?.appendingPathComponent("Fixtures") else {
            throw NumpyFixtureError(file: name, problem: "test bundle has no Fixtures folder")
        }
        return base.appendingPathComponent(name)
    }

    static func numpy(_ name: String) throws -> NumpyFixture { try loadNumpyFixture(url(name)) }

    /// uint8 N x H x W x 3 pixels → float32 N x 3 x H x W, (p / 255 − mean) / std, as the generator does it.
    static func normalised(_ pixels: NumpyFixture, mean: [Float], std: [Float]) -> Tensor {
        let (n, h, w) = (pixels.shape[0], pixels.shape[1], pixels.shape[2])
        var out = Tensor(shape: [n, 3, h, w])
        for b in 0..<n { for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            let pixel: Float = pixels.values[((b * h + y) * w + x) * 3 + c]
            out[b, c, y, x] = (pixel / 255 - mean[c]) / std[c]
        } } } }
        return out
    }

    /// The two Kather tiles sampled to height x width by integer nearest neighbour,
    /// source = (target · 150) / size (the generator's `nearest`), then normalised.
    static func katherInput(height: Int, width: Int, preprocessing: Preprocessing) throws -> Tensor {
        let source = try numpy("kather_pixels.npy")
        let (n, sh, sw) = (source.shape[0], source.shape[1], source.shape[2])
        var sampled = NumpyFixture(shape: [n, height, width, 3], values: [Float](repeating: 0, count: n * height * width * 3))
        for b in 0..<n { for y in 0..<height { for x in 0..<width { for c in 0..<3 {
            let sy: Int = (y * sh) / height
            let sx: Int = (x * sw) / width
            let target: Int = ((b * height + y) * width + x) * 3 + c
            let origin: Int = ((b * sh + sy) * sw + sx) * 3 + c
            sampled.values[target] = source.values[origin]
        } } } }
        return normalised(sampled, mean: preprocessing.mean, std: preprocessing.std)
    }

    /// Row `index` of an N x width x 1 x 1 embedding.
    static func row(_ embedding: Tensor, _ index: Int) -> [Float] {
        let width = embedding.count / embedding.batch
        return Array(embedding.storage[(index * width)..<((index + 1) * width)])
    }

    /// Each row within relative L2 1e-4 and cosine 0.9999 of the reference; and, because synthetic
    /// weights can make embeddings nearly input-independent, the difference between the two
    /// images' embeddings must match the reference's difference too (so input handling is checked).
    static func assertMatches(_ actual: Tensor, _ expected: NumpyFixture, _ label: String,
                              file: StaticString = #filePath, line: UInt = #line) -> [Comparison] {
        let rows = expected.shape[0], width = expected.shape[1]
        XCTAssertEqual(actual.shape, [rows, width, 1, 1], label, file: file, line: line)
        guard actual.shape == [rows, width, 1, 1] else { return [] }
        var comparisons: [Comparison] = []
        for i in 0..<rows {
            let reference = Array(expected.values[(i * width)..<((i + 1) * width)])
            let comparison = compare(row(actual, i), reference)
            print("\(label) image \(i): \(comparison)")
            XCTAssertLessThanOrEqual(comparison.relativeL2Error, 1e-4, "\(label) image \(i): \(comparison)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(comparison.cosine, 0.9999, "\(label) image \(i): \(comparison)", file: file, line: line)
            comparisons.append(comparison)
        }
        if rows >= 2 {
            let actualDifference = zip(row(actual, 0), row(actual, 1)).map { $0 - $1 }
            let expectedDifference = (0..<width).map { expected.values[$0] - expected.values[width + $0] }
            let comparison = compare(actualDifference, expectedDifference)
            print("\(label) image 0 − image 1: \(comparison)")
            XCTAssertLessThanOrEqual(comparison.relativeL2Error, 1e-2, "\(label) difference between images: \(comparison)", file: file, line: line)
        }
        return comparisons
    }

    /// Image `index` of a batch, as a batch of one.
    static func image(_ batch: Tensor, _ index: Int) -> Tensor {
        let size = batch.count / batch.batch
        return Tensor(shape: [1] + Array(batch.shape.dropFirst()), storage: Array(batch.storage[(index * size)..<((index + 1) * size)]))
    }

    /// Three workers whatever the machine's core count: the batched side of the thread-independence tests splits
    /// its work even on a one-core run (three, so pieces do not divide evenly).
    static let severalThreads = KernelContext(threadCount: 3)

    /// The same embedding, bit for bit, for an image alone on one thread as inside a batch on `severalThreads`.
    static func assertBatchAndThreadIndependent(_ single: Tensor, _ batched: Tensor, index: Int, _ label: String,
                                                file: StaticString = #filePath, line: UInt = #line) {
        let alone = row(single, 0), inBatch = row(batched, index)
        let comparison = compare(alone, inBatch)
        print("\(label) alone vs in batch: \(comparison)")
        XCTAssertEqual(alone, inBatch, "\(label) alone on 1 thread vs in a batch on 3: \(comparison)", file: file, line: line)
    }
}
