// The embedding cache: features/<dataset>/<backbone>-<view>[-d4].npy plus a JSON manifest.
// The only link between the embedding half and the learning half.

import Foundation

/// Version of the cache layout; a manifest with another version means re-extract.
public let featureFormatVersion = 1

/// Every failure of this module names the file it concerns.
public enum FeatureStoreError: Error, LocalizedError, Equatable {
    case cannotRead(file: String, reason: String)
    case cannotWrite(file: String, reason: String)
    case notNPY(file: String, reason: String)
    case unsupportedDType(file: String, descr: String)
    case fortranOrder(file: String)
    case truncated(file: String, expectedBytes: Int, actualBytes: Int)
    case badManifest(file: String, reason: String)
    case missingIDs(file: String)
    case idCountMismatch(file: String, ids: Int, rows: Int)
    case duplicateID(file: String, id: String)
    case notAMatrix(file: String, shape: [Int])
    case noFeatureFiles(directory: String)
    case locked(file: String, holder: String)
    case shardsDisagree(file: String, reason: String)
    /// A feature value that is NaN or infinite (0-based row and column).
    case nonFiniteValue(file: String, row: Int, column: Int, id: String, value: Float)

    public var errorDescription: String? {
        switch self {
        case let .cannotRead(file, reason): return "\(file): cannot read: \(reason)"
        case let .cannotWrite(file, reason): return "\(file): cannot write: \(reason)"
        case let .notNPY(file, reason): return "\(file): not a valid .npy file: \(reason)"
        case let .unsupportedDType(file, descr):
            return "\(file): unsupported dtype '\(descr)' (only little-endian float32 '<f4' and float64 '<f8' are read)"
        case let .fortranOrder(file):
            return "\(file): array is stored in Fortran order; save it with numpy.ascontiguousarray first"
        case let .truncated(file, expected, actual):
            return "\(file): truncated: header promises \(expected) data bytes, file holds \(actual)"
        case let .badManifest(file, reason): return "\(file): invalid feature manifest: \(reason)"
        case let .missingIDs(file):
            return "\(file): no manifest (\(file.replacingOccurrences(of: ".npy", with: ".json"))) beside it; pass an ids text file (one image id per line)"
        case let .idCountMismatch(file, ids, rows):
            return "\(file): \(ids) image ids for \(rows) feature rows"
        case let .duplicateID(file, id): return "\(file): image id '\(id)' appears more than once"
        case let .notAMatrix(file, shape): return "\(file): expected a 2-D [images, width] array, found shape \(shape)"
        case let .noFeatureFiles(directory): return "\(directory): no .npy feature files in this folder"
        case let .locked(file, holder):
            return "\(file): another extract run holds this cache (\(holder)); wait for it to finish or remove the lock file if that process is gone"
        case let .shardsDisagree(file, reason): return "\(file): shard does not match the others: \(reason)"
        case let .nonFiniteValue(file, row, column, id, value):
            return "\(file): feature row \(row) (image '\(id)') column \(column) is \(value.isNaN ? "NaN" : "\(value)"); re-extract this image or drop the row"
        }
    }
}
