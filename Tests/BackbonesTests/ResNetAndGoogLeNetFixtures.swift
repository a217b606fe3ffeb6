// Golden embeddings written by scripts/fixtures/backbone_fixtures.py (fixture version 1):
// torchvision resnet18 / resnet50 / googlenet with synthetic weights spec v1, computed in
// float64, for two kather-mini images resized by Pillow (BILINEAR) to 224x224 and 301x257.

import Foundation
import NeuralKernels
import TestSupport
import XCTest

struct BackboneFixtures {
    struct Manifest: Decodable {
        struct Input: Decodable { var file: String; var height: Int; var width: Int }
        struct Embedding: Decodable { var file: String; var network: String; var height: Int; var width: Int; var shape: [Int] }
        var fixture_version: Int
        var synthetic_weights_spec: Int
        var images: [String]
        var mean: [Float]
        var std: [Float]
        var inputs: [String: Input]
        var embeddings: [String: Embedding]
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("backbones")

    let manifest: Manifest

    init() throws {
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.directory.appendingPathComponent("manifest.json")))
        XCTAssertEqual(manifest.fixture_version, 1)
    }

    /// Sizes as (width, height), the generator's order.
    static let sizes = [(224, 224), (301, 257)]

    /// The two images as one N x 3 x H x W batch: ((u8 / 255) - mean) / std in Float32,
    /// the same operations the generator used.
    func input(width: Int, height: Int) throws -> Tensor {
        let plane = height * width
        var storage = [Float](repeating: 0, count: manifest.images.count * 3 * plane)
        for (index, image) in manifest.images.enumerated() {
            guard let entry = manifest.inputs["\(image)_\(width)x\(height)"] else { throw CocoaError(.fileNoSuchFile) }
            let bytes = [UInt8](try Data(contentsOf: Self.directory.appendingPathComponent(entry.file)))
            XCTAssertEqual(bytes.count, plane * 3)
            for pixel in 0..<plane {
                for channel in 0..<3 {
                    let value = Float(bytes[pixel * 3 + channel]) / Float(255)
                    storage[(index * 3 + channel) * plane + pixel] = (value - manifest.mean[channel]) / manifest.std[channel]
                }
            }
        }
        return Tensor(shape: [manifest.images.count, 3, height, width], storage: storage)
    }

    /// The golden embeddings, one row per image.
    func embeddings(network: String, width: Int, height: Int) throws -> [[Float]] {
        guard let entry = manifest.embeddings["\(network)_\(width)x\(height)"] else { throw CocoaError(.fileNoSuchFile) }
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(entry.file))
        let values: [Float] = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        XCTAssertEqual(values.count, entry.shape[0] * entry.shape[1])
        return (0..<entry.shape[0]).map { Array(values[$0 * entry.shape[1]..<($0 + 1) * entry.shape[1]]) }
    }

    /// Accepts relative L2 error <= 1e-4 and cosine >= 0.9999 per embedding, and returns the worst relative error.
    @discardableResult
    static func assertMatchesTorchvision(_ actual: Tensor, _ expected: [[Float]], _ label: String,
                                         file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(actual.batch, expected.count, file: file, line: line)
        let width = actual.count / actual.batch
        var worst = 0.0
        for (row, golden) in expected.enumerated() {
            let ours = Array(actual.storage[row * width..<(row + 1) * width])
            let comparison = compare(ours, golden)
            worst = max(worst, comparison.relativeL2Error)
            print("\(label) image \(row): \(comparison)")
            XCTAssertLessThanOrEqual(comparison.relativeL2Error, 1e-4, "\(label) image \(row): \(comparison)", file: file, line: line)
            XCTAssertGreaterThanOrEqual(comparison.cosine, 0.9999, "\(label) image \(row): \(comparison)", file: file, line: line)
        }
        return worst
    }

    /// The same embedding, bit for bit, whatever the batch size and thread count (as README states).
    /// Each image of `input` embedded alone (on 1 thread and on 2) equals its row of the batch embedded on
    /// 2 threads, for the batch as given (images spread across the workers) and with its first image
    /// appended (an odd batch: the last image runs with each layer split across both workers). The thread
    /// counts are explicit, so the work is split the same way on a one-core run.
    static func assertBatchAndThreadInvariant(_ input: Tensor, embed: (Tensor, KernelContext) -> Tensor, _ label: String,
                                              file: StaticString = #filePath, line: UInt = #line) {
        let plane = input.count / input.batch
        let odd = Tensor(shape: [input.batch + 1] + input.shape.dropFirst(), storage: input.storage + input.storage[0..<plane])
        for batch in [input, odd] {
            let batched = embed(batch, KernelContext(threadCount: 2))
            let width = batched.count / batched.batch
            for image in 0..<batch.batch {
                let single = Tensor(shape: [1] + batch.shape.dropFirst(), storage: Array(batch.storage[image * plane..<(image + 1) * plane]))
                for threads in image == batch.batch - 1 ? [1, 2] : [1] {
                    let alone = embed(single, KernelContext(threadCount: threads))
                    let row = Array(batched.storage[image * width..<(image + 1) * width])
                    XCTAssertEqual(alone.storage, row,
                                   "\(label) image \(image) of \(batch.batch) alone on \(threads) threads vs batched on 2: \(compare(alone.storage, row))",
                                   file: file, line: line)
                }
            }
        }
    }
}
