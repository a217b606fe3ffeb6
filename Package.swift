// swift-tools-version:6.0
import Foundation
import PackageDescription

// Two halves that never import each other (only FeatureStore's cache files pass between them):
//   embedding half: Imaging, NeuralKernels, Weights, Backbones → FeatureStore (the cache)
//   learning half:  LinearAlgebra, Heads, Evaluation ← FeatureStore
/// Checked optimisation (-O keeps preconditions and bounds checks) where input is parsed or wired: images and
/// backbones. `-Ounchecked` only for the numeric kernels, whose indices are proven by construction once their
/// shapes are checked at the API (NeuralKernels, LinearAlgebra, and the heads' solvers: fit validates the
/// training matrix and every predictProba refuses a matrix of another width before a kernel reads it; with
/// -O the trees' split search took ~1.5x as long on the 62 x 2048 set).
let optimise: [SwiftSetting] = [.unsafeFlags(["-O", "-wmo"] + vectorUnits())]
let optimiseUnchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"] + vectorUnits())]
/// The kernels also raise LLVM's full-unroll threshold: the GEMM micro-kernel's loops over its tile's rows and
/// vectors (PackedGemm.swift) must unroll completely for its accumulators to live in registers.
let optimiseKernels: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo", "-Xllvm", "-unroll-threshold=2000"] + vectorUnits())]

/// The numeric targets are built for the vector units of the machine that builds them (like -march=native:
/// the toolkit is always built from source where it runs): AVX2 + FMA when /proc/cpuinfo lists them, AVX-512
/// when it lists avx512f/bw/dq/vl. CARCINOMA_TARGET_CPU overrides it (an LLVM CPU name, or "generic").
/// Vector width changes no result: lanes are independent and Swift does not contract a * b + c into FMA.
/// CARCINOMA_FMA tells the GEMM micro-kernel the target has fused multiply-add instructions (without them
/// it multiplies and adds separately, rather than call fmaf for every lane); CARCINOMA_AVX512 that the target
/// has AVX-512, so the 16-lane kernels may be chosen at run time (GemmKernel.native, when the CPU has it too).
func vectorUnits() -> [String] {
    let avx512CPUs = ["skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake-client", "icelake-server", "tigerlake",
                      "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5"]
    if let cpu = ProcessInfo.processInfo.environment["CARCINOMA_TARGET_CPU"] {
        if cpu == "generic" { return [] }
        let avx512 = avx512CPUs.contains(cpu) || cpu.contains("avx512")
        let fma = avx512 || ["haswell", "broadwell", "skylake", "znver"].contains { cpu.contains($0) }
        return ["-target-cpu", cpu] + (fma ? ["-D", "CARCINOMA_FMA"] : []) + (avx512 ? ["-D", "CARCINOMA_AVX512"] : [])
    }
    #if arch(x86_64) && os(Linux)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "fma"]) {
        return ["-target-cpu", "skylake-avx512", "-D", "CARCINOMA_FMA", "-D", "CARCINOMA_AVX512"]
    }
    if flags.isSuperset(of: ["avx2", "fma"]) { return ["-target-cpu", "haswell", "-D", "CARCINOMA_FMA"] }
    #endif
    return []
}

let package = Package(
    name: "carcinoma",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "carcinoma", targets: ["carcinoma"]),
        // The parsers, for the separate fuzzing package in Fuzz/ (depends on this one by path).
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "Weights", targets: ["Weights"]),
        .library(name: "FeatureStore", targets: ["FeatureStore"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Extraction", targets: ["Extraction"]),
    ],
    // Exact versions, not ranges: the executable is built from source wherever it runs, so its dependencies
    // must not float. Package.resolved is not committed: it also pins each tag's commit id, and a fresh clone
    // whose packages come from a mirror with other commit ids (as on the project's build machines) fails to
    // check that commit out ("reference is not a tree"); a version tag resolves everywhere.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // System-library shims.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        // libpng and libjpeg report errors by longjmp, which Swift cannot catch: these two are
        // small C targets that own the setjmp and hand Swift a return code and a message.
        .target(name: "CPNG", path: "Sources/CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // OpenBLAS's process-wide thread count, owned in one place for both halves (scoped, restored).
        .target(name: "BLASThreads", dependencies: ["COpenBLAS"]),

        // Embedding half.
        .target(name: "Imaging", dependencies: ["CPNG", "CJPEG"], swiftSettings: optimise),
        // Intel AMX tile instructions for the opt-in bfloat16 GEMM (Swift cannot spell them).
        .target(name: "CAMX", path: "Sources/CAMX", cSettings: [.unsafeFlags(["-O2"])]),
        // The channel-lane depthwise kernel's transposes (AVX-512F and AVX shuffles Swift cannot spell, a plain loop beside them).
        .target(name: "CDepthwiseLanes", path: "Sources/CDepthwiseLanes", cSettings: [.unsafeFlags(["-O2"])]),
        // The stride-2 pools' row pass (AVX-512F and AVX2 masked loads and lane shuffles Swift cannot spell).
        .target(name: "CPooling", path: "Sources/CPooling", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "NeuralKernels", dependencies: ["COpenBLAS", "BLASThreads", "CAMX", "CDepthwiseLanes", "CPooling"], swiftSettings: optimiseKernels),
        .target(name: "Weights", dependencies: [.product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(name: "Backbones", dependencies: ["NeuralKernels", "Weights", "Imaging"], swiftSettings: optimise),
        .target(name: "FeatureStore"),
        // The first half of the main job: images → views → backbone → cache.
        .target(name: "Extraction", dependencies: ["Imaging", "Backbones", "Weights", "FeatureStore"]),

        // Learning half.
        .target(name: "LinearAlgebra", dependencies: ["COpenBLAS", "BLASThreads"], swiftSettings: optimiseUnchecked),
        // AVX-512 byte compress for the trees' presorted rank lists (Swift cannot spell it), with a plain loop beside it.
        .target(name: "CRankLists", path: "Sources/CRankLists", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Heads", dependencies: ["LinearAlgebra", "CRankLists"], swiftSettings: optimiseUnchecked),
        .target(name: "Evaluation", dependencies: ["Heads", "FeatureStore"]),

        // Timing harnesses of `carcinoma bench` (GEMM, backbones, heads): beside the command line, outside the libraries.
        .target(name: "Benchmarks", dependencies: ["BLASThreads", "NeuralKernels", "Weights", "Backbones", "LinearAlgebra", "Heads", "Evaluation"]),

        // Wiring only.
        .executableTarget(name: "carcinoma", dependencies: [
            "Imaging", "Weights", "Backbones", "FeatureStore", "Extraction", "LinearAlgebra", "Heads", "Evaluation", "Benchmarks",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Tests. TestSupport holds the one approximate-equality helper and fixture lookup.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Weights", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "WeightsTests", dependencies: ["Weights", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "NeuralKernelsTests", dependencies: ["NeuralKernels", "TestSupport"]),
        .testTarget(name: "BackbonesTests", dependencies: ["Backbones", "Weights", "Imaging", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ExtractionTests", dependencies: ["Extraction", "Backbones", "NeuralKernels", "Imaging", "FeatureStore", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "FeatureStoreTests", dependencies: ["FeatureStore", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "HeadsTests", dependencies: ["Heads", "LinearAlgebra", "BLASThreads", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RobustnessTests", dependencies: ["Imaging", "Weights", "Backbones", "FeatureStore", "Extraction", "Evaluation", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Heads", "LinearAlgebra", "FeatureStore", "TestSupport"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
