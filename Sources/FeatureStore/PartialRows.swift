// Rows saved as they finish, so a run killed at any moment loses no finished image.
//
// <cache>/<name>.partial/
//     settings.json        the run's manifest with an empty image list (what every row was made with)
//     <image SHA-256>.npy  one float32 row per finished image, each written atomically
//
// Rows are keyed by the image's content hash, so an image whose file changed never
// matches an old row. A folder whose settings differ from the current run is discarded.

import Foundation

public struct PartialRows {
    public let directory: URL
    public let settings: FeatureManifest

    /// Opens (creating if needed) the partial folder for `settings`; a folder made under other
    /// settings, or unreadable settings, is emptied first.
    public init(directory: URL, settings: FeatureManifest) throws {
        var cleared = settings
        cleared.imageIDs = []
        cleared.imageSHA256 = []
        self.directory = directory
        self.settings = cleared
        let fileManager = FileManager.default
        let settingsURL = directory.appendingPathComponent("settings.json")
        if fileManager.fileExists(atPath: directory.path) {
            let existing = try? FeatureManifest.read(from: settingsURL)
            if existing == nil || existing?.settingsMismatch(with: cleared) != nil {
                try PartialRows.remove(directory)
            }
        }
        if !fileManager.fileExists(atPath: settingsURL.path) {
            do { try fileManager.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw FeatureStoreError.cannotWrite(file: directory.path, reason: error.localizedDescription)
            }
            try cleared.write(to: settingsURL)
        }
    }

    func url(for imageSHA256: String) -> URL { directory.appendingPathComponent("\(imageSHA256).npy") }

    /// The saved row for this image content, or nil when absent or unreadable (a damaged row is
    /// simply extracted again).
    public func row(for imageSHA256: String) -> [Float]? {
        guard let array = try? NPYArray.read(from: url(for: imageSHA256)),
              array.shape == [settings.embeddingWidth], array.values.allSatisfy(\.isFinite) else { return nil }
        return array.values
    }

    public func save(_ row: [Float], for imageSHA256: String) throws {
        precondition(row.count == settings.embeddingWidth, "row of \(row.count) values for width \(settings.embeddingWidth)")
        try NPYArray(shape: [row.count], values: row).write(to: url(for: imageSHA256))
    }

    public func removeAll() throws { try PartialRows.remove(directory) }

    static func remove(_ directory: URL) throws {
        guard FileManager.default.fileExists(atPath: directory.path) else { return }
        do { try FileManager.default.removeItem(at: directory) } catch {
            throw FeatureStoreError.cannotWrite(file: directory.path, reason: error.localizedDescription)
        }
    }
}

/// The cache file name for a backbone, view and TTA: "<backbone>-<view>[-d4][-<pooling>][-<precision>]" (the
/// precision only when it is not float32's: its rows are another feature set, compared beside float32's).
public func cacheName(backbone: String, view: String, tta: String?, pooling: String? = nil, precision: String? = nil) -> String {
    [backbone, view, tta, pooling, precision].compactMap { $0 }.joined(separator: "-")
}
