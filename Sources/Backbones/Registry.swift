// The backbones by name: the names the CLI, the feature manifests and the weight
// files use, each with the preprocessing its (pretrained) weights expect.

import Foundation
import NeuralKernels
import Weights

public enum BackboneName: String, CaseIterable, Codable, Sendable {
    case resnet50
    case googlenet
    case inceptionV3 = "inception_v3"
    case efficientnetV2S = "efficientnet_v2_s"
    case efficientnetLite0 = "efficientnet_lite0"

    /// The preprocessing table (inputs are RGB scaled to [0, 1], then (x - mean) / std).
    public var preprocessing: Preprocessing {
        let imageNet = Preprocessing.imageNet
        switch self {
        case .resnet50:
            return Preprocessing(inputSize: 224, mean: imageNet.mean, std: imageNet.std)
        case .googlenet:
            return Preprocessing(inputSize: 224, mean: imageNet.mean, std: imageNet.std, transformInput: true)
        case .inceptionV3:
            return Preprocessing(inputSize: 299, mean: imageNet.mean, std: imageNet.std, transformInput: true)
        case .efficientnetV2S:
            return Preprocessing(inputSize: 384, mean: imageNet.mean, std: imageNet.std)
        case .efficientnetLite0:
            // (x * 255 - 127) / 128 written as (x - 127/255) / (128/255).
            return Preprocessing(inputSize: 224, mean: [Float](repeating: 127 / 255, count: 3),
                                 std: [Float](repeating: 128 / 255, count: 3))
        }
    }
}

/// Builds the named backbone from a torchvision-named weight store (strict: leftovers other
/// than the classifier, aux heads and num_batches_tracked are an error).
public func makeBackbone(_ name: BackboneName, weights: WeightStore,
                         context: KernelContext = .allCores) throws -> any Backbone {
    switch name {
    case .resnet50:
        return try ResNet(depth: .resNet50, weights: weights, context: context)
    case .googlenet:
        return try GoogLeNet(weights: weights, transformInput: name.preprocessing.transformInput, context: context)
    case .inceptionV3:
        return try InceptionV3(weights: weights, transformInput: name.preprocessing.transformInput, context: context)
    case .efficientnetV2S:
        return try EfficientNetV2(weights: weights, variant: .small, context: context)
    case .efficientnetLite0:
        return try EfficientNetLite(weights: weights, variant: .lite0, context: context)
    }
}

public enum BackbonesError: Error, LocalizedError, Equatable {
    case notYetAvailable(name: String)

    public var errorDescription: String? {
        switch self {
        case let .notYetAvailable(name):
            return "backbone '\(name)' is not available in this build yet"
        }
    }
}
