// The one error type of the Extraction module; every case names its file or folder.

import Foundation

public struct ImageFailure: Sendable, Equatable, Codable {
    public var path: String
    public var reason: String

    /// `reason` without a leading "<path>: " (errors already name their file).
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason.hasPrefix(path + ": ") ? String(reason.dropFirst(path.count + 2)) : reason
    }
}

public enum ExtractionError: Error, LocalizedError, Equatable {
    case noImageFolder(path: String, reason: String)
    case noImages(path: String)
    case duplicateImageID(id: String, first: String, second: String)
    case badShard(text: String)
    case unreadable(path: String, reason: String)
    case missingWeights(path: String, backbone: String)
    case badOption(name: String, reason: String)
    case outputNotWritable(path: String, reason: String)
    case imagesFailed(count: Int, total: Int)
    /// A view of an image would allocate more than its limit (`ViewLimits`); refused before allocating.
    case viewTooLarge(path: String, view: String, what: String, number: Int, limit: Int, variable: String)
    /// The weights file holds another catalogued weight set than `--backbone` names.
    case otherWeightSet(path: String, holds: String, requested: String, sidecar: String)
    /// A preprocessing statement (JSON sidecar or flags) that cannot be used.
    case badSidecar(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .noImageFolder(path, reason): return "\(path): cannot list images: \(reason)"
        case let .noImages(path): return "\(path): no PNG or JPEG images in this folder"
        case let .duplicateImageID(id, first, second):
            return "\(second): image id '\(id)' is also used by \(first) (ids are file names without extension and must be unique)"
        case let .badShard(text): return "--shard \(text): expected i/n with 0 <= i < n, e.g. 0/4"
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .missingWeights(path, backbone):
            return "\(path): weights file not found; run `carcinoma weights fetch \(backbone)` or pass --weights FILE"
        case let .badOption(name, reason): return "\(name): \(reason)"
        case let .outputNotWritable(path, reason): return "\(path): cannot write the feature cache here: \(reason)"
        case let .imagesFailed(count, total): return "\(count) of \(total) image(s) failed; the cache holds only the others"
        case let .viewTooLarge(path, view, what, number, limit, variable):
            return "\(path): --view \(view) would need \(what) (\(number)), more than the limit of \(limit); "
                + "set \(variable) to raise it, or use --view resize"
        case let .otherWeightSet(path, holds, requested, sidecar):
            return "\(path): holds the \(holds) weights, which are normalised as `carcinoma backbones` lists for \(holds), "
                + "not as \(requested); use --backbone \(holds), or state the preprocessing with --mean/--std or a sidecar \(sidecar)"
        case let .badSidecar(path, reason): return "\(path): \(reason)"
        }
    }
}
