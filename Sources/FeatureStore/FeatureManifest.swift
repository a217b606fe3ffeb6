// The JSON manifest written beside every feature matrix: everything that determines the
// embeddings, so a cache is reused only when all of it still matches.

import Foundation

/// A named run of columns of a feature row (one stage of a multi-stage embedding).
public struct FeatureBlock: Codable, Equatable, Sendable {
    public var name: String
    public var width: Int
    public init(name: String, width: Int) {
        self.name = name
        self.width = width
    }
}

public struct FeatureManifest: Codable, Equatable, Sendable {
    /// How images were prepared for the network (mirrors Backbones.Preprocessing, which this
    /// module cannot import: the learning half must not depend on the embedding half).
    public struct Preprocessing: Codable, Equatable, Sendable {
        public var inputSize: Int
        public var mean: [Float]
        public var std: [Float]
        public var transformInput: Bool

        public init(inputSize: Int, mean: [Float], std: [Float], transformInput: Bool = false) {
            self.inputSize = inputSize
            self.mean = mean
            self.std = std
            self.transformInput = transformInput
        }
    }

    public var formatVersion: Int
    public var toolVersion: String
    public var dataset: String
    public var backbone: String
    /// File name of the weights (not the full path: moving the weights folder must not invalidate the cache).
    public var weightsFile: String
    public var weightsSHA256: String
    /// resize, pad, native or tiles.
    public var view: String
    public var viewParameters: [String: String]
    /// "d4" or nil.
    public var tta: String?
    public var preprocessing: Preprocessing
    public var embeddingWidth: Int
    /// The columns as named blocks, in order, when the row is several embeddings side by side
    /// (`extract --pooling stages`: each stage's pooled output, L2-normalised); nil for one embedding.
    public var blocks: [FeatureBlock]?
    /// How each block was scaled: "l2" (unit length) or "none"; nil without blocks.
    public var blockNormalization: String?
    /// The convolutions' arithmetic when it was not float32: "bf16" or "bf16x3" (`extract --precision`); nil for float32.
    public var precision: String?
    /// Row order of the matrix; an image id is the file name without its extension.
    public var imageIDs: [String]
    /// SHA-256 of each image file, same order as `imageIDs`.
    public var imageSHA256: [String]

    public init(formatVersion: Int = featureFormatVersion, toolVersion: String, dataset: String, backbone: String,
                weightsFile: String, weightsSHA256: String, view: String, viewParameters: [String: String] = [:],
                tta: String? = nil, preprocessing: Preprocessing, embeddingWidth: Int, blocks: [FeatureBlock]? = nil,
                blockNormalization: String? = nil, precision: String? = nil, imageIDs: [String], imageSHA256: [String]) {
        self.formatVersion = formatVersion
        self.toolVersion = toolVersion
        self.dataset = dataset
        self.backbone = backbone
        self.weightsFile = weightsFile
        self.weightsSHA256 = weightsSHA256
        self.view = view
        self.viewParameters = viewParameters
        self.tta = tta
        self.preprocessing = preprocessing
        self.embeddingWidth = embeddingWidth
        self.blocks = blocks
        self.blockNormalization = blockNormalization
        self.precision = precision
        self.imageIDs = imageIDs
        self.imageSHA256 = imageSHA256
    }

    public static func read(from url: URL) throws -> FeatureManifest {
        let data = try readWholeFile(url)
        let manifest: FeatureManifest
        do { manifest = try JSONDecoder().decode(FeatureManifest.self, from: data) } catch let error as DecodingError {
            throw FeatureStoreError.badManifest(file: url.path, reason: describe(error))
        } catch {
            throw FeatureStoreError.badManifest(file: url.path, reason: error.localizedDescription)
        }
        guard manifest.formatVersion == featureFormatVersion else {
            throw FeatureStoreError.badManifest(file: url.path, reason: "format version \(manifest.formatVersion), this tool reads version \(featureFormatVersion); re-extract the features")
        }
        try manifest.validate(file: url.path)
        return manifest
    }

    /// Structural checks that do not depend on the matrix.
    public func validate(file: String) throws {
        guard imageIDs.count == imageSHA256.count else {
            throw FeatureStoreError.badManifest(file: file, reason: "\(imageIDs.count) image ids but \(imageSHA256.count) image hashes")
        }
        var seen = Set<String>()
        for id in imageIDs where !seen.insert(id).inserted { throw FeatureStoreError.duplicateID(file: file, id: id) }
        guard embeddingWidth >= 0 else { throw FeatureStoreError.badManifest(file: file, reason: "negative embeddingWidth") }
        if let blocks {
            guard blocks.allSatisfy({ $0.width > 0 }), blocks.reduce(0, { $0 + $1.width }) == embeddingWidth else {
                throw FeatureStoreError.badManifest(file: file, reason: "block widths \(blocks.map(\.width)) do not add up to embeddingWidth \(embeddingWidth)")
            }
            var names = Set<String>()
            for block in blocks where !names.insert(block.name).inserted {
                throw FeatureStoreError.badManifest(file: file, reason: "block `\(block.name)` named twice")
            }
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Writes pretty, key-sorted JSON atomically.
    public func write(to url: URL) throws {
        let data: Data
        do { data = try encoded() } catch { throw FeatureStoreError.cannotWrite(file: url.path, reason: error.localizedDescription) }
        try writeAtomically(data, to: url)
    }

    /// What makes every row of `other` unusable in place of ours (everything except the image
    /// list), or nil when rows extracted under `other` are interchangeable with ours.
    public func settingsMismatch(with other: FeatureManifest) -> String? {
        var differences: [String] = []
        func check<T: Equatable>(_ name: String, _ mine: T, _ theirs: T) {
            if mine != theirs { differences.append("\(name) \(theirs) → \(mine)") }
        }
        check("format version", formatVersion, other.formatVersion)
        check("backbone", backbone, other.backbone)
        check("weights SHA-256", weightsSHA256, other.weightsSHA256)
        check("view", view, other.view)
        if viewParameters != other.viewParameters {
            differences.append("view parameters \(Self.text(other.viewParameters)) → \(Self.text(viewParameters))")
        }
        check("TTA", tta ?? "none", other.tta ?? "none")
        check("preprocessing", Self.text(preprocessing), Self.text(other.preprocessing))
        check("embedding width", embeddingWidth, other.embeddingWidth)
        check("block normalisation", blockNormalization ?? "none", other.blockNormalization ?? "none")
        if blocks != other.blocks {
            differences.append("blocks \(other.blocks.map { Self.text($0) } ?? "none") → \(blocks.map { Self.text($0) } ?? "none")")
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }

    /// Everything that differs, including added, removed, reordered or changed images; nil when
    /// the two manifests describe the same matrix. (Tool version and dataset name are informative only.)
    public func mismatch(with other: FeatureManifest) -> String? {
        var differences: [String] = []
        if let settings = settingsMismatch(with: other) { differences.append(settings) }
        if imageIDs != other.imageIDs || imageSHA256 != other.imageSHA256 {
            let mine = Dictionary(zip(imageIDs, imageSHA256), uniquingKeysWith: { first, _ in first })
            let theirs = Dictionary(zip(other.imageIDs, other.imageSHA256), uniquingKeysWith: { first, _ in first })
            let added = imageIDs.filter { theirs[$0] == nil }
            let removed = other.imageIDs.filter { mine[$0] == nil }
            let changed = imageIDs.filter { theirs[$0] != nil && theirs[$0] != mine[$0] }
            if !added.isEmpty { differences.append("\(added.count) image(s) added (\(Self.list(added)))") }
            if !removed.isEmpty { differences.append("\(removed.count) image(s) removed (\(Self.list(removed)))") }
            if !changed.isEmpty { differences.append("\(changed.count) image(s) changed content (\(Self.list(changed)))") }
            if added.isEmpty, removed.isEmpty, changed.isEmpty { differences.append("image order differs") }
        }
        return differences.isEmpty ? nil : differences.joined(separator: "; ")
    }

    static func list(_ ids: [String]) -> String {
        ids.prefix(5).joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
    }

    static func text<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "\(value)"
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "" : " at '\(keys)'"
    }
    switch error {
    case let .keyNotFound(key, context): return "missing key '\(key.stringValue)'\(path(context))"
    case let .typeMismatch(type, context): return "expected \(type)\(path(context)): \(context.debugDescription)"
    case let .valueNotFound(type, context): return "missing \(type) value\(path(context))"
    case let .dataCorrupted(context): return "not valid JSON\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}
