// Weight sets: each trained set of tensors with the architecture it belongs to and the preprocessing it
// was trained with, stated once, here. The preprocessing belongs to the weights, not to the network:
// the same ResNet-50 normalises with ImageNet statistics under torchvision's weights and with the
// pathology statistics under Lunit's. `extract --backbone NAME` takes these names, `carcinoma backbones`
// prints `WeightSet.table()`, and every feature manifest records the preprocessing its rows were made with.
//
// torchvision: the `transforms` of ResNet50_Weights.IMAGENET1K_V2, GoogLeNet_Weights.IMAGENET1K_V1,
// Inception_V3_Weights.IMAGENET1K_V1 (transform_input=True for both), EfficientNet_V2_S_Weights.IMAGENET1K_V1
// (torchvision/models/*.py), resize-then-crop collapsed to one size. EfficientNet-Lite0, -Lite1, -Lite2: TF Lite's
// (x * 255 - 127) / 128 (efficientnet-lite-pytorch 0.1.0). Lunit: Kang, Song, Kim, Jang, Yoo, Pereira, Ko,
// Park, Kim, Lee, "Benchmarking Self-Supervised Learning on Diverse Pathology Datasets", CVPR 2023;
// ResNet-50 trunks (torchvision names, no `fc`) and the mean/std of lunit-io/benchmark-ssl-pathology's README.
// Where each set is downloaded from is Weights' WeightCatalog, under the same name.

import Weights

public struct WeightSet: Sendable, Equatable {
    /// The name on the command line, of `weights/<name>.safetensors`, of the feature cache and manifest.
    public var name: String
    public var architecture: BackboneName
    public var preprocessing: Preprocessing

    /// A set trained with the architecture's reference preprocessing unless `preprocessing` says otherwise.
    public init(name: String, architecture: BackboneName, preprocessing: Preprocessing? = nil) {
        self.name = name
        self.architecture = architecture
        self.preprocessing = preprocessing ?? architecture.referencePreprocessing
    }

    /// Kang et al. 2023 (lunit-io/benchmark-ssl-pathology README), at ResNet-50's 224.
    public static let lunitPreprocessing = Preprocessing(inputSize: 224, mean: [0.70322989, 0.53606487, 0.66096631],
                                                         std: [0.21716536, 0.26081574, 0.20723464])

    /// Every set `weights fetch` knows: each architecture's reference (ImageNet) weights under the
    /// architecture's own name, then the Lunit pathology trunks.
    public static let catalog: [WeightSet] = BackboneName.allCases.map { WeightSet(name: $0.rawValue, architecture: $0) } + [
        WeightSet(name: "lunit_bt", architecture: .resnet50, preprocessing: lunitPreprocessing),
        WeightSet(name: "lunit_mocov2", architecture: .resnet50, preprocessing: lunitPreprocessing),
        WeightSet(name: "lunit_swav", architecture: .resnet50, preprocessing: lunitPreprocessing),
    ]

    public static var names: [String] { catalog.map(\.name) }

    public static func named(_ name: String) -> WeightSet? { catalog.first { $0.name == name } }

    /// The architecture's reference weights (the catalogued set named after it).
    public static func reference(for architecture: BackboneName) -> WeightSet {
        guard let set = named(architecture.rawValue) else { preconditionFailure("no reference weight set for \(architecture)") }
        return set
    }

    /// Where the set is downloaded from (nil for a set that is not catalogued: a user's own file).
    public var download: WeightCatalogEntry? { try? WeightCatalog.entry(named: name) }

    /// What `weights fetch` adds to the converted file's metadata besides the name.
    public var fetchMetadata: [String: String] { ["architecture": architecture.rawValue] }

    /// The catalogued set a weights file holds, when the file says so: the `name` metadata `weights fetch`
    /// writes, or else the file name of a published checkpoint (`swav_rn50_ep200.torch` passed as it is).
    public static func recognised(fileName: String, metadata: [String: String]) -> WeightSet? {
        if let name = metadata["name"], let set = named(name) { return set }
        return catalog.first { $0.download?.fileName == fileName }
    }

    /// This set with what `statement` states replacing the corresponding values.
    public func stating(_ statement: PreprocessingStatement) -> WeightSet {
        var result = self
        if let inputSize = statement.inputSize { result.preprocessing.inputSize = inputSize }
        if let mean = statement.mean { result.preprocessing.mean = mean }
        if let std = statement.std { result.preprocessing.std = std }
        if let transformInput = statement.transformInput { result.preprocessing.transformInput = transformInput }
        return result
    }

    /// The table `carcinoma backbones` prints: one line per set. Numbers are written as Swift's shortest
    /// round-trip form of the Float32 values the pixels are normalised with, so reading a cell back gives
    /// exactly the value used.
    public static func table(_ sets: [WeightSet] = catalog) -> String {
        func list(_ values: [Float]) -> String { values.map { "\($0)" }.joined(separator: ", ") }
        let header = ["weights", "architecture", "input", "mean", "std", "transform_input"]
        let rows = sets.map { set in
            [set.name, set.architecture.rawValue, String(set.preprocessing.inputSize), list(set.preprocessing.mean),
             list(set.preprocessing.std), set.preprocessing.transformInput ? "yes" : "no"]
        }
        var widths = header.map(\.count)
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

/// Preprocessing a user states for their own weights file (`extract --mean/--std/--input-size`, or a JSON
/// sidecar beside the file): every field optional, the weight set's value standing for a missing one.
public struct PreprocessingStatement: Codable, Sendable, Equatable {
    /// When present, must be the architecture of the `--backbone` it is used with.
    public var architecture: String?
    public var inputSize: Int?
    public var mean: [Float]?
    public var std: [Float]?
    public var transformInput: Bool?

    public init(architecture: String? = nil, inputSize: Int? = nil, mean: [Float]? = nil, std: [Float]? = nil,
                transformInput: Bool? = nil) {
        self.architecture = architecture
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.transformInput = transformInput
    }

    public var isEmpty: Bool { self == PreprocessingStatement() }
}
