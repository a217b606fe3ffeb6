// swift-tools-version:6.0
// libFuzzer targets for every parser of carcinoma, one executable per parser. Build and run with
// scripts/fuzz.sh (or `make fuzz`), which passes -sanitize=fuzzer,address; see FUZZING.md.
// A separate package so that the main package's `swift build`/`swift test` never see these
// executables, which have no `main` of their own (libFuzzer provides it).
import PackageDescription

let parsers = ["Imaging", "Weights", "FeatureStore", "Evaluation", "Extraction"]

/// name, the root-package library it exercises.
let fuzzTargets: [(String, String)] = [
    ("fuzz-png", "Imaging"), ("fuzz-jpeg", "Imaging"),
    ("fuzz-safetensors", "Weights"), ("fuzz-pth", "Weights"), ("fuzz-pickle", "Weights"),
    ("fuzz-npy", "FeatureStore"), ("fuzz-manifest", "FeatureStore"), ("fuzz-labels", "Evaluation"),
    ("fuzz-views", "Extraction"),
]

let package = Package(
    name: "CarcinomaFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "carcinoma", path: "..")],
    targets: [
        .target(name: "CFuzzer", path: "Sources/CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"], path: "Sources/FuzzSupport"),
    ] + fuzzTargets.map { name, library in
        .executableTarget(name: name, dependencies: ["FuzzSupport", .product(name: library, package: "carcinoma")],
                          path: "Sources/\(name)")
    },
    swiftLanguageModes: [.v5]
)
