// One extraction run for one backbone: folder → cache file, resumable and atomic.
//
//   1. list and hash the images (the shard's share), lock the cache folder;
//   2. reuse rows of the existing cache whose settings and image hash still match, and rows
//      saved by an interrupted run in <name>.partial/ (keyed by image hash);
//   3. embed the rest, saving each row to <name>.partial/ the moment it is finished;
//   4. write <name>.npy then <name>.json atomically, remove <name>.partial/.
// A run killed at any point leaves either the previous complete cache or none, plus the
// finished rows, and the next run picks up from there.

import Foundation
import Backbones
import FeatureStore
import NeuralKernels
import Imaging
import Weights

/// What determines the rows besides the images: backbone, weights identity, view, TTA.
public struct ExtractionSettings: Sendable {
    public var view: ViewOptions
    public var tta: TestTimeAugmentation?
    public var batchSize: Int
    public var overwrite: Bool
    public var waitForLock: Bool
    public var toolVersion: String
    /// The final embedding, or every stage's (a cache of its own, `<backbone>-<view>[-d4]-stages`).
    public var pooling: EmbeddingPooling

    public init(view: ViewOptions, tta: TestTimeAugmentation? = nil, batchSize: Int = 8, overwrite: Bool = false,
                waitForLock: Bool = false, toolVersion: String, pooling: EmbeddingPooling = .final) {
        self.pooling = pooling
        self.view = view
        self.tta = tta
        self.batchSize = batchSize
        self.overwrite = overwrite
        self.waitForLock = waitForLock
        self.toolVersion = toolVersion
    }
}

/// A loaded network with the identity of its weights and the preprocessing they were trained with
/// (all recorded in the manifest).
public struct LoadedBackbone: Sendable {
    public var backbone: any Backbone
    /// The weight set's name: the cache file's and the manifest's `backbone`.
    public var name: String
    /// What the pixels are normalised with before `backbone.embed`.
    public var preprocessing: Preprocessing
    /// File name only.
    public var weightsFile: String
    public var weightsSHA256: String
    /// The arithmetic of the network's convolutions (the cache name and the manifest say when it is not float32).
    public var precision: Precision

    public init(backbone: any Backbone, name: String? = nil, preprocessing: Preprocessing, weightsFile: String, weightsSHA256: String,
                precision: Precision = .float32) {
        self.backbone = backbone
        self.name = name ?? backbone.name
        self.preprocessing = preprocessing
        self.weightsFile = weightsFile
        self.weightsSHA256 = weightsSHA256
        self.precision = precision
    }
}

public struct ExtractionProgress: Sendable {
    public var name: String
    public var done: Int
    public var total: Int
    public var seconds: Double
    /// Images embedded per second in this run (reused rows excluded).
    public var imagesPerSecond: Double
    public var etaSeconds: Double?
}

public struct ExtractionSummary: Sendable, Codable {
    public var name: String
    public var output: String
    public var images: Int
    public var extracted: Int
    public var reused: Int
    public var failures: [ImageFailure]
    public var seconds: Double
    public var upToDate: Bool
}

public struct Extractor {
    public let images: [ImageEntry]
    /// Images rejected while listing (unsupported formats); reported as failures.
    public let rejected: [ImageFailure]
    public let dataset: String
    public let output: URL
    public let settings: ExtractionSettings

    public init(images: [ImageEntry], rejected: [ImageFailure] = [], dataset: String, output: URL, settings: ExtractionSettings) {
        self.images = images
        self.rejected = rejected
        self.dataset = dataset
        self.output = output
        self.settings = settings
    }

    public func cacheName(for backbone: LoadedBackbone) -> String {
        FeatureStore.cacheName(backbone: backbone.name, view: settings.view.kind.rawValue, tta: settings.tta?.rawValue,
                                 pooling: settings.pooling == .final ? nil : settings.pooling.rawValue,
                                 precision: backbone.precision.recordedName)
    }

    /// Creates the output folder and checks it is writable, before any work is done.
    public static func prepareOutput(_ output: URL) throws {
        do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
            throw ExtractionError.outputNotWritable(path: output.path, reason: error.localizedDescription)
        }
        guard FileManager.default.isWritableFile(atPath: output.path) else {
            throw ExtractionError.outputNotWritable(path: output.path, reason: "permission denied")
        }
    }

    /// The four stages of the header, in order; `hashes` holds each image's SHA-256 (stage 1's listing and
    /// hashing is the caller's: ImageFolder).
    public func run(_ loaded: LoadedBackbone, hashes: [String], progress: (ExtractionProgress) -> Void = { _ in }) throws -> ExtractionSummary {
        precondition(hashes.count == images.count, "one hash per image")
        let started = Date()
        let name = cacheName(for: loaded)
        // 1. Lock the cache folder.
        try Extractor.prepareOutput(output)
        let lock = try CacheLock(directory: output, wait: settings.waitForLock)
        defer { lock.release() }

        let embedder = Embedder(backbone: loaded.backbone, preprocessing: loaded.preprocessing, view: settings.view, tta: settings.tta,
                                batchSize: settings.batchSize, pooling: settings.pooling)
        let target = targetManifest(loaded, embedder: embedder, hashes: hashes)
        let npyURL = output.appendingPathComponent("\(name).npy")
        let partialURL = output.appendingPathComponent("\(name).partial")
        // 2. Reuse what is already there.
        guard var reuse = try reusableRows(target: target, hashes: hashes, npyURL: npyURL, partialURL: partialURL) else {
            return ExtractionSummary(name: name, output: npyURL.path, images: images.count, extracted: 0,
                                     reused: images.count, failures: rejected, seconds: Date().timeIntervalSince(started), upToDate: true)
        }
        // 3. Embed the rest.
        let embedded = try embedRemaining(&reuse, embedder: embedder, preprocessing: loaded.preprocessing, hashes: hashes,
                                          name: name, progress: progress)
        // 4. Write the cache.
        try writeCache(rows: reuse.rows, failed: embedded.failedIndices, target: target, hashes: hashes, npyURL: npyURL, partial: reuse.partial)
        return ExtractionSummary(name: name, output: npyURL.path, images: images.count, extracted: embedded.extracted, reused: reuse.reused,
                                 failures: embedded.failures, seconds: Date().timeIntervalSince(started), upToDate: false)
    }

    /// The manifest the cache must carry for these settings, network and images.
    func targetManifest(_ loaded: LoadedBackbone, embedder: Embedder, hashes: [String]) -> FeatureManifest {
        let preprocessing = loaded.preprocessing
        return FeatureManifest(
            toolVersion: settings.toolVersion, dataset: dataset, backbone: loaded.name,
            weightsFile: loaded.weightsFile, weightsSHA256: loaded.weightsSHA256,
            view: settings.view.kind.rawValue, viewParameters: settings.view.parameters(inputSize: preprocessing.inputSize),
            tta: settings.tta?.rawValue,
            preprocessing: .init(inputSize: preprocessing.inputSize, mean: preprocessing.mean, std: preprocessing.std,
                                 transformInput: preprocessing.transformInput),
            embeddingWidth: embedder.rowWidth,
            blocks: embedder.blocks?.map { FeatureBlock(name: $0.name, width: $0.width) },
            blockNormalization: settings.pooling == .final ? nil : (settings.pooling == .stages ? "l2" : "none"),
            precision: loaded.precision.recordedName,
            imageIDs: images.map(\.id), imageSHA256: hashes)
    }

    /// The rows already made (by image hash), the interrupted run's saved rows, and the images still to embed.
    struct Reuse {
        var rows: [String: [Float]]
        let partial: PartialRows
        /// Indices into `images` of the images to embed.
        let todo: [Int]
        let reused: Int
    }

    /// Stage 2: rows of the previous complete cache whose settings and image hash still match, and rows saved by
    /// an interrupted run in <name>.partial/; nil when the cache is complete and matches `target` in everything.
    func reusableRows(target: FeatureManifest, hashes: [String], npyURL: URL, partialURL: URL) throws -> Reuse? {
        var rows: [String: [Float]] = [:]
        if settings.overwrite {
            try PartialRows(directory: partialURL, settings: target).removeAll()
        } else if let previous = try? FeatureSet.load(npy: npyURL), let manifest = previous.manifest {
            // Nothing changed: the cache is complete and valid (a corrupt file would have failed to load).
            if manifest.mismatch(with: target) == nil { return nil }
            if manifest.settingsMismatch(with: target) == nil {
                for (index, hash) in manifest.imageSHA256.enumerated() where previous.row(index).allSatisfy(\.isFinite) {
                    rows[hash] = Array(previous.row(index))
                }
            }
        }
        let partial = try PartialRows(directory: partialURL, settings: target)
        var todo: [Int] = []
        var reused = 0
        for (index, hash) in hashes.enumerated() {
            if rows[hash] != nil { reused += 1; continue }
            if let row = partial.row(for: hash) { rows[hash] = row; reused += 1; continue }
            todo.append(index)
        }
        return Reuse(rows: rows, partial: partial, todo: todo, reused: reused)
    }

    /// What stage 3 made: the failures (the listing's rejections first) and how many rows it embedded.
    struct Embedded {
        let failures: [ImageFailure]
        let failedIndices: Set<Int>
        let extracted: Int
    }

    /// Stage 3: embeds `reuse.todo` in windows of `batchSize` images, saving each row to the partial folder the
    /// moment it is finished and adding it to `reuse.rows`.
    func embedRemaining(_ reuse: inout Reuse, embedder: Embedder, preprocessing: Preprocessing, hashes: [String], name: String,
                        progress: (ExtractionProgress) -> Void) throws -> Embedded {
        let todo = reuse.todo, reused = reuse.reused, partial = reuse.partial
        var failures = rejected
        var failedIndices = Set<Int>()
        let total = images.count
        var extracted = 0
        let embedStart = Date()
        func report() {
            let seconds = Date().timeIntervalSince(embedStart)
            let rate = seconds > 0 ? Double(extracted) / seconds : 0
            let remaining = todo.count - extracted - failedIndices.count
            progress(ExtractionProgress(name: name, done: reused + extracted + failedIndices.count, total: total,
                                        seconds: seconds, imagesPerSecond: rate,
                                        etaSeconds: rate > 0 ? Double(remaining) / rate : nil))
        }
        report()
        // Windows of `batchSize` images: decoded together so equal sizes can share batches.
        var windowStart = 0
        while windowStart < todo.count {
            let window = Array(todo[windowStart..<min(windowStart + settings.batchSize, todo.count)])
            windowStart += window.count
            var decoded: [RGBImage] = []
            var decodedIndex: [Int] = []
            for index in window {
                do {
                    let path = images[index].url.path
                    // Only regular files are opened (a FIFO would block open(), a device never end).
                    if let problem = regularFileProblem(path) { throw ExtractionError.unreadable(path: path, reason: problem) }
                    let data: Data
                    do { data = try Data(contentsOf: images[index].url) } catch {
                        throw ExtractionError.unreadable(path: images[index].url.path, reason: error.localizedDescription)
                    }
                    // The file may have changed since it was hashed; keep the row consistent with its hash.
                    let hash = sha256Hex(data)
                    guard hash == hashes[index] else {
                        throw ExtractionError.unreadable(path: images[index].url.path, reason: "file changed during the run")
                    }
                    // What the view will allocate is bounded from the header, before decoding.
                    let size = try readImageSize(data: data, name: path)
                    try settings.view.checkMemory(width: size.width, height: size.height, inputSize: preprocessing.inputSize, image: path)
                    let image = try decodeImage(data: data, name: path)
                    try settings.view.checkMemory(width: image.width, height: image.height, inputSize: preprocessing.inputSize, image: path)
                    decoded.append(image)
                    decodedIndex.append(index)
                } catch {
                    failures.append(ImageFailure(path: images[index].url.path, reason: error.localizedDescription))
                    failedIndices.insert(index)
                }
            }
            try embedder.embed(decoded) { slot, row in
                let index = decodedIndex[slot]
                guard row.allSatisfy(\.isFinite) else {
                    failures.append(ImageFailure(path: images[index].url.path, reason: "embedding contains NaN or infinity"))
                    failedIndices.insert(index)
                    return
                }
                try partial.save(row, for: hashes[index])
                reuse.rows[hashes[index]] = row
                extracted += 1
            }
            report()
        }
        return Embedded(failures: failures, failedIndices: failedIndices, extracted: extracted)
    }

    /// Stage 4: the valid rows in id order written as <name>.npy then <name>.json, atomically; then the partial
    /// folder is removed.
    func writeCache(rows: [String: [Float]], failed: Set<Int>, target: FeatureManifest, hashes: [String], npyURL: URL,
                    partial: PartialRows) throws {
        var manifest = target
        var values: [Float] = []
        manifest.imageIDs = []
        manifest.imageSHA256 = []
        for (index, entry) in images.enumerated() where !failed.contains(index) {
            guard let row = rows[hashes[index]] else { continue }
            manifest.imageIDs.append(entry.id)
            manifest.imageSHA256.append(hashes[index])
            values += row
        }
        try FeatureSet(manifest: manifest, ids: manifest.imageIDs, shape: [manifest.imageIDs.count, manifest.embeddingWidth], values: values)
            .write(npy: npyURL)
        try partial.removeAll()
    }
}

func sha256Hex(_ data: Data) -> String { Weights.SHA256.hexDigest(data) }
