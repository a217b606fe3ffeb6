// The images of a dataset folder: ids, files, content hashes, shards.

import Foundation
import Weights

public struct ImageEntry: Sendable, Equatable {
    /// File name without extension.
    public var id: String
    public var url: URL
}

/// File extensions decoded by Imaging.
let decodableExtensions: Set<String> = ["png", "jpg", "jpeg"]
/// Image formats we recognise but cannot decode: listed as failures rather than ignored.
let undecodableImageExtensions: Set<String> = ["tif", "tiff", "bmp", "gif", "webp", "svs", "ndpi", "jp2"]

public struct ImageListing: Sendable {
    public var images: [ImageEntry]
    /// Files that look like images but cannot be read, with the reason.
    public var rejected: [ImageFailure]
}

/// Every image file directly inside `directory`, sorted by id (the row order of every cache).
/// Other files (labels.csv, notes) are ignored; hidden files too.
public func listImages(in directory: URL) throws -> ImageListing {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
        throw ExtractionError.noImageFolder(path: directory.path, reason: "no such folder")
    }
    guard isDirectory.boolValue else { throw ExtractionError.noImageFolder(path: directory.path, reason: "not a folder") }
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory.path) } catch {
        throw ExtractionError.noImageFolder(path: directory.path, reason: error.localizedDescription)
    }
    var images: [ImageEntry] = []
    var rejected: [ImageFailure] = []
    var seen: [String: String] = [:]
    for name in names.sorted() where !name.hasPrefix(".") {
        let url = directory.appendingPathComponent(name)
        let fileExtension = url.pathExtension.lowercased()
        if undecodableImageExtensions.contains(fileExtension) {
            rejected.append(ImageFailure(path: url.path, reason: "unsupported image format .\(fileExtension) (convert to PNG or JPEG)"))
            continue
        }
        guard decodableExtensions.contains(fileExtension) else { continue }
        // Only regular files (symbolic links followed): a FIFO named x.png would block open() and a
        // link to /dev/zero be hashed forever. Reported per entry; the other images go on.
        if let problem = regularFileProblem(url.path) {
            rejected.append(ImageFailure(path: url.path, reason: problem))
            continue
        }
        let id = url.deletingPathExtension().lastPathComponent
        if let other = seen[id] {
            throw ExtractionError.duplicateImageID(id: id, first: other, second: url.path)
        }
        seen[id] = url.path
        images.append(ImageEntry(id: id, url: url))
    }
    images.sort { $0.id < $1.id }
    return ImageListing(images: images, rejected: rejected)
}

/// `--shard i/n`: shard i (0-based, as Slurm array and Kubernetes indexed-Job indices are) of n
/// takes every n-th image of the id-sorted list starting at i.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 0, index < count else {
            throw ExtractionError.badShard(text: "\(index)/\(count)")
        }
        self.index = index
        self.count = count
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ExtractionError.badShard(text: text)
        }
        try self.init(index: index, count: count)
    }

    public func select<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index }.map(\.element)
    }

    public var description: String { "\(index)/\(count)" }
    /// Default output sub-folder of a shard.
    public var folderName: String { "shard-\(index)-of-\(count)" }
}

/// The SHA-256 of each image, lowercase hex; an image that cannot be read is reported in
/// `rejected` with its reason instead of stopping the others.
public func hashImages(_ entries: [ImageEntry]) -> (images: [ImageEntry], hashes: [String], rejected: [ImageFailure]) {
    var images: [ImageEntry] = [], hashes: [String] = [], rejected: [ImageFailure] = []
    for entry in entries {
        do {
            hashes.append(try fileSHA256(entry.url))
            images.append(entry)
        } catch {
            rejected.append(ImageFailure(path: entry.url.path, reason: error.localizedDescription))
        }
    }
    return (images, hashes, rejected)
}

/// SHA-256 of a file's bytes, lowercase hex.
public func fileSHA256(_ url: URL) throws -> String {
    do { return try SHA256.hexDigest(ofFile: url) } catch {
        throw ExtractionError.unreadable(path: url.path, reason: error.localizedDescription)
    }
}
