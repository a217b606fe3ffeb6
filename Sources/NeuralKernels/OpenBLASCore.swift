// OpenBLAS on the right core. Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels once, when the library
// is loaded, from a table of CPU models; a model newer than its table (Intel family 6 model 207, Emerald Rapids)
// gets the generic "Prescott" core: SSE3 kernels, about a sixth of the machine's sgemm rate, under every LAPACK
// call of the heads. The only switch is the environment variable OPENBLAS_CORETYPE, read at load time, so the
// command line re-executes itself once with it set when the core OpenBLAS chose lacks the vector unit the CPU
// reports. A value already in the environment is left exactly as it is: some machines set it on purpose, because
// older OpenBLAS builds compute wrong results on them.

import COpenBLAS
import Foundation

public enum OpenBLASCore {
    /// The name of the core OpenBLAS is running ("SkylakeX", "Haswell", "Zen", "Prescott", …).
    public static var name: String { String(cString: openblas_get_corename()) }

    /// The widest vector unit a core's kernels use: 3 AVX-512, 2 AVX2, 1 AVX, 0 SSE only (generic cores).
    static func vectorLevel(ofCore core: String) -> Int {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen", "skylake", "excavator": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return 1
        default: return 0   // Prescott, Core2, Penryn, Dunnington, Nehalem, Atom, Katmai, Northwood, Banias, Opteron, …
        }
    }

    /// The core to ask for on a CPU with these flags when OpenBLAS chose `core`, or nil when its choice is right
    /// (it uses the CPU's widest vector unit already, or the CPU has nothing better than SSE).
    public static func betterCore(than core: String, for cpu: CPUFeatures, vendor: String) -> String? {
        let wanted = cpu.hasAVX512 ? 3 : cpu.hasAVX2 ? 2 : 0
        guard wanted > vectorLevel(ofCore: core) else { return nil }
        if wanted == 3 { return "SkylakeX" }
        return vendor.contains("AMD") ? "Zen" : "Haswell"
    }

    /// What `--version` and the bench print: the core in use and, when it was set, where it came from.
    public static var summary: String {
        let environment = ProcessInfo.processInfo.environment
        let origin = environment[reexecMarker] != nil ? " (chosen by carcinoma for this CPU)"
            : environment["OPENBLAS_CORETYPE"] != nil ? " (OPENBLAS_CORETYPE from the environment)" : ""
        return "OpenBLAS core \(name)\(origin)"
    }

    static let reexecMarker = "CARCINOMA_OPENBLAS_CORE_CHOSEN"

    /// Re-executes this program once with OPENBLAS_CORETYPE set to the matching core when OpenBLAS chose a core
    /// without the CPU's vector unit and the variable is not already set. Call it first in main, before any
    /// thread starts. Returns (doing nothing) when no change is needed or the re-exec fails.
    public static func useTheMatchingCore() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment[reexecMarker] == nil else { return }
        let vendor = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("vendor_id") }.map(String.init) ?? ""
        guard let core = betterCore(than: name, for: .current, vendor: vendor) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(reexecMarker, "1", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returned: it failed. Carry on with OpenBLAS's own choice rather than with a half-set environment.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(reexecMarker)
        argv.forEach { free($0) }
    }
}
