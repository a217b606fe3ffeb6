// What every fuzz target shares: a per-process scratch file for the parsers that only read paths.

import CFuzzer
import Foundation

/// The signature of `LLVMFuzzerTestOneInput`.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Hands the process to libFuzzer (parses its command line: corpus folders, -max_total_time, ...).
public func runFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// A file in /dev/shm (or the temporary folder) that each input is written to before parsing.
///
/// The folder is `carcinoma-fuzz-<pid>` inside `$CARCINOMA_FUZZ_SCRATCH` when that is set
/// (scripts/fuzz.sh sets it to a folder of its own and removes it on exit, also after a crash or
/// an interrupt, when this process cannot clean up), else inside /dev/shm or the temporary folder.
public final class ScratchFile {
    public let url: URL

    /// `name` keeps the extension the parser looks at (e.g. `input.safetensors`, `input.pth`).
    public init(name: String) {
        let shm = URL(fileURLWithPath: "/dev/shm")
        let base: URL
        if let given = ProcessInfo.processInfo.environment["CARCINOMA_FUZZ_SCRATCH"], !given.isEmpty {
            base = URL(fileURLWithPath: given)
        } else {
            base = FileManager.default.fileExists(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
        }
        let folder = base.appendingPathComponent("carcinoma-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        url = folder.appendingPathComponent(name)
    }

    /// Replaces the file's contents with `bytes`.
    public func write(_ start: UnsafePointer<UInt8>?, _ count: Int) {
        let data = inputData(start, count)
        do { try data.write(to: url) } catch { fatalError("fuzz harness cannot write \(url.path): \(error)") }
    }
}

/// The bytes of one fuzz input as `Data` (copied: parsers may keep slices).
public func inputData(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Data {
    guard let start, count > 0 else { return Data() }
    return Data(bytes: start, count: count)
}
