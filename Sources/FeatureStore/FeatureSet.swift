// A feature matrix with its row ids: what the learning half consumes.

import Foundation

public struct FeatureSet: Sendable {
    /// nil for a bare .npy brought with an ids file.
    public var manifest: FeatureManifest?
    public var ids: [String]
    /// [rows, width].
    public var shape: [Int]
    /// Row-major, rows in `ids` order.
    public var values: [Float]
    /// Where it was read from (for messages).
    public var source: URL?
    /// A name that overrides the file name (a block selection).
    public var label: String?

    public init(manifest: FeatureManifest?, ids: [String], shape: [Int], values: [Float], source: URL? = nil) {
        self.manifest = manifest
        self.ids = ids
        self.shape = shape
        self.values = values
        self.source = source
    }

    public var rowCount: Int { shape.first ?? 0 }
    public var width: Int { shape.count > 1 ? shape[1] : 0 }

    /// Name of the variant, e.g. "efficientnet_lite0-tiles-d4" (the .npy file name without extension).
    public var name: String { label ?? source?.deletingPathExtension().lastPathComponent ?? manifest.map { "\($0.backbone)-\($0.view)" } ?? "features" }

    /// The columns of the named blocks (in the manifest's order), as a feature set named
    /// `<name>[a+b]`; the manifest keeps only those blocks. `["all"]` returns the set unchanged.
    public func selectingBlocks(_ names: [String]) throws -> FeatureSet {
        if names == ["all"] { return self }
        let file = source?.path ?? name
        guard let blocks = manifest?.blocks else {
            throw FeatureStoreError.badManifest(file: file, reason: "no named blocks to select \(names.joined(separator: "+")) from (extract with --pooling stages)")
        }
        for wanted in names where !blocks.contains(where: { $0.name == wanted }) {
            throw FeatureStoreError.badManifest(file: file, reason: "no block `\(wanted)`; blocks: \(blocks.map(\.name).joined(separator: ", "))")
        }
        var columns: [Int] = []
        var kept: [FeatureBlock] = []
        var start = 0
        for block in blocks {
            if names.contains(block.name) {
                columns += start..<(start + block.width)
                kept.append(block)
            }
            start += block.width
        }
        var values: [Float] = []
        values.reserveCapacity(rowCount * columns.count)
        for row in 0..<rowCount {
            let base = row * width
            for column in columns { values.append(self.values[base + column]) }
        }
        var selected = manifest
        selected?.blocks = kept
        selected?.embeddingWidth = columns.count
        let label = "\(name)[\(kept.map(\.name).joined(separator: "+"))]"
        var result = FeatureSet(manifest: selected, ids: ids, shape: [rowCount, columns.count], values: values, source: source)
        result.label = label
        return result
    }

    public func row(_ index: Int) -> ArraySlice<Float> { values[(index * width)..<((index + 1) * width)] }

    /// The manifest that belongs to `npy` (same name, .json).
    public static func manifestURL(for npy: URL) -> URL { npy.deletingPathExtension().appendingPathExtension("json") }

    /// Reads a matrix and its ids: from the manifest `<name>.json` beside it, or else from `ids`
    /// (a text file, one id per line; blank lines ignored).
    public static func load(npy url: URL, ids idsURL: URL? = nil) throws -> FeatureSet {
        let array = try NPYArray.read(from: url)
        guard array.shape.count == 2 else { throw FeatureStoreError.notAMatrix(file: url.path, shape: array.shape) }
        var manifest: FeatureManifest?
        var ids: [String]
        if let idsURL {
            ids = try readIDs(idsURL)
            let manifestURL = manifestURL(for: url)
            if FileManager.default.fileExists(atPath: manifestURL.path) { manifest = try FeatureManifest.read(from: manifestURL) }
        } else {
            let manifestURL = manifestURL(for: url)
            guard FileManager.default.fileExists(atPath: manifestURL.path) else { throw FeatureStoreError.missingIDs(file: url.path) }
            let read = try FeatureManifest.read(from: manifestURL)
            manifest = read
            ids = read.imageIDs
            if read.embeddingWidth != array.shape[1] {
                throw FeatureStoreError.badManifest(file: manifestURL.path, reason: "embeddingWidth \(read.embeddingWidth) but \(url.lastPathComponent) has \(array.shape[1]) columns")
            }
        }
        guard ids.count == array.shape[0] else {
            throw FeatureStoreError.idCountMismatch(file: (idsURL ?? manifestURL(for: url)).path, ids: ids.count, rows: array.shape[0])
        }
        var seen = Set<String>()
        for id in ids where !seen.insert(id).inserted { throw FeatureStoreError.duplicateID(file: (idsURL ?? url).path, id: id) }
        // Extraction never writes NaN or infinity (it refuses such rows), so one here is a foreign or damaged file.
        if let index = array.values.firstIndex(where: { !$0.isFinite }) {
            let row = index / array.shape[1]
            throw FeatureStoreError.nonFiniteValue(file: url.path, row: row, column: index % array.shape[1], id: ids[row], value: array.values[index])
        }
        return FeatureSet(manifest: manifest, ids: ids, shape: array.shape, values: array.values, source: url)
    }

    /// Every `.npy` in a cache folder (sorted by name), each with its manifest.
    public static func loadDirectory(_ directory: URL) throws -> [FeatureSet] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
            throw FeatureStoreError.cannotRead(file: directory.path, reason: FileManager.default.fileExists(atPath: directory.path) ? error.localizedDescription : "no such folder")
        }
        let files = names.filter { $0.hasSuffix(".npy") && !$0.hasPrefix(".") }.sorted()
        guard !files.isEmpty else { throw FeatureStoreError.noFeatureFiles(directory: directory.path) }
        return try files.map { try load(npy: directory.appendingPathComponent($0)) }
    }

    /// One id per line, surrounding whitespace trimmed, blank lines skipped.
    public static func readIDs(_ url: URL) throws -> [String] {
        let data = try readWholeFile(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FeatureStoreError.cannotRead(file: url.path, reason: "not UTF-8 text")
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Writes the matrix and its manifest. Both are first written in full to fsync'ed temporary
    /// files, so a full disk or an unwritable folder fails before anything is replaced and leaves the
    /// previous matrix and manifest byte-identical. Then the old manifest is removed, the matrix
    /// renamed into place and the new manifest last, so a run killed in between leaves a matrix
    /// without a manifest (treated as stale and re-extracted), never a manifest describing the wrong matrix.
    public func write(npy url: URL) throws {
        let manifestURL = FeatureSet.manifestURL(for: url)
        let matrix = try prepareAtomicWrite(NPYArray(shape: shape, values: values).encoded(), to: url)
        var description: PreparedFile?
        if let manifest {
            do {
                let data: Data
                do { data = try manifest.encoded() } catch {
                    throw FeatureStoreError.cannotWrite(file: manifestURL.path, reason: error.localizedDescription)
                }
                description = try prepareAtomicWrite(data, to: manifestURL)
            } catch {
                matrix.discard()
                throw error
            }
        }
        if FileManager.default.fileExists(atPath: manifestURL.path) {
            do { try FileManager.default.removeItem(at: manifestURL) } catch {
                matrix.discard(); description?.discard()
                throw FeatureStoreError.cannotWrite(file: manifestURL.path, reason: error.localizedDescription)
            }
        }
        do { try matrix.commit() } catch {
            description?.discard()
            throw error
        }
        try description?.commit()
    }
}
