// Joins shard caches (the same variants extracted on disjoint image subsets, e.g. one per
// Slurm array task) into one cache, after checking that their manifests agree.

import Foundation

public struct MergeReport: Sendable {
    public var variants: [String]
    public var rowCount: [String: Int]
}

/// For every `<name>.npy` found in any shard folder: every shard must hold it with agreeing
/// settings and disjoint image ids; the merged rows are ordered by image id (the order an
/// unsharded run uses) and written atomically to `output/<name>.npy` + `.json`.
public func mergeShards(_ shards: [URL], into output: URL) throws -> MergeReport {
    var byName: [String: [FeatureSet]] = [:]
    for shard in shards {
        for set in try FeatureSet.loadDirectory(shard) {
            guard set.manifest != nil else { throw FeatureStoreError.missingIDs(file: set.source?.path ?? shard.path) }
            byName[set.name, default: []].append(set)
        }
    }
    do { try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true) } catch {
        throw FeatureStoreError.cannotWrite(file: output.path, reason: error.localizedDescription)
    }
    var report = MergeReport(variants: [], rowCount: [:])
    for name in byName.keys.sorted() {
        let sets = byName[name] ?? []
        guard sets.count == shards.count else {
            let holders = sets.compactMap { $0.source?.deletingLastPathComponent().path }
            let missing = shards.map(\.path).filter { !holders.contains($0) }
            throw FeatureStoreError.shardsDisagree(file: missing.first ?? output.path, reason: "has no \(name).npy while other shards do")
        }
        guard let first = sets.first, let reference = first.manifest else { continue }
        var rows: [(id: String, hash: String, values: ArraySlice<Float>)] = []
        var owner: [String: String] = [:]
        for set in sets {
            guard let manifest = set.manifest else { continue }
            let file = set.source?.path ?? name
            if let difference = manifest.settingsMismatch(with: reference) {
                throw FeatureStoreError.shardsDisagree(file: file, reason: "\(name) differs from \(first.source?.path ?? "the first shard"): \(difference)")
            }
            for (index, id) in set.ids.enumerated() {
                if let previous = owner[id] {
                    throw FeatureStoreError.shardsDisagree(file: file, reason: "image '\(id)' is also in \(previous)")
                }
                owner[id] = file
                rows.append((id, manifest.imageSHA256[index], set.row(index)))
            }
        }
        rows.sort { $0.id < $1.id }
        var merged = reference
        merged.imageIDs = rows.map(\.id)
        merged.imageSHA256 = rows.map(\.hash)
        let values = rows.flatMap(\.values)
        try FeatureSet(manifest: merged, ids: merged.imageIDs, shape: [rows.count, reference.embeddingWidth], values: values)
            .write(npy: output.appendingPathComponent("\(name).npy"))
        report.variants.append(name)
        report.rowCount[name] = rows.count
    }
    return report
}
