// The architectures by name, each with the preprocessing of its reference (ImageNet) weights, and the
// factory that builds a network for a weight set (WeightSets.swift: the names the CLI, the feature
// manifests and the weight files use).

import Foundation
import NeuralKernels
import Weights

public enum BackboneName: String, CaseIterable, Codable, Sendable {
    case resnet50
    case googlenet
    case inceptionV3 = "inception_v3"
    case efficientnetV2S = "efficientnet_v2_s"
    case efficientnetLite0 = "efficientnet_lite0"
    /// Lite1 and Lite2: the Lite variants with published PyTorch weights (WeightCatalog); Lite3 and Lite4 are
    /// built by `EfficientNetLite` but have no weights to fetch, so they are not names here.
    case efficientnetLite1 = "efficientnet_lite1"
    case efficientnetLite2 = "efficientnet_lite2"

    /// What the architecture's reference (ImageNet) weights were trained with (inputs are RGB scaled to
    /// [0, 1], then (x - mean) / std). A weight set states no other unless its training differed.
    public var referencePreprocessing: Preprocessing {
        let imageNet = Preprocessing.imageNet
        switch self {
        case .resnet50:
            return Preprocessing(inputSize: 224, mean: imageNet.mean, std: imageNet.std)
        case .googlenet:
            return Preprocessing(inputSize: 224, mean: imageNet.mean, std: imageNet.std, transformInput: true)
        case .inceptionV3:
            return Preprocessing(inputSize: InceptionV3.inputSize, mean: imageNet.mean, std: imageNet.std, transformInput: true)
        case .efficientnetV2S:
            return Preprocessing(inputSize: EfficientNetV2.Variant.small.inputSize, mean: imageNet.mean, std: imageNet.std)
        case .efficientnetLite0: return Self.tfLite(.lite0)
        case .efficientnetLite1: return Self.tfLite(.lite1)
        case .efficientnetLite2: return Self.tfLite(.lite2)
        }
    }

    /// TF Lite's (x * 255 - 127) / 128 written as (x - 127/255) / (128/255), at the variant's resolution.
    static func tfLite(_ variant: EfficientNetLite.Variant) -> Preprocessing {
        Preprocessing(inputSize: variant.inputSize,
                      mean: [Float](repeating: 127 / 255, count: 3), std: [Float](repeating: 128 / 255, count: 3))
    }
}

/// Builds the architecture's network with its reference weight set's settings (see `makeBackbone(_:weights:context:)`
/// for a `WeightSet`).
public func makeBackbone(_ name: BackboneName, weights: WeightStore,
                         context: KernelContext = .allCores) throws -> any Backbone {
    try makeBackbone(WeightSet.reference(for: name), weights: weights, context: context)
}

/// Builds the weight set's network from a torchvision-named weight store (strict: leftovers other
/// than the classifier, aux heads and num_batches_tracked are an error). Of the preprocessing, only
/// transform_input lives inside the network; the rest is applied to the pixels before `embed`.
public func makeBackbone(_ weightSet: WeightSet, weights: WeightStore,
                         context: KernelContext = .allCores) throws -> any Backbone {
    let transformInput = weightSet.preprocessing.transformInput
    switch weightSet.architecture {
    case .resnet50:
        return try ResNet(depth: .resNet50, weights: weights, context: context)
    case .googlenet:
        return try GoogLeNet(weights: weights, transformInput: transformInput, context: context)
    case .inceptionV3:
        return try InceptionV3(weights: weights, transformInput: transformInput, context: context)
    case .efficientnetV2S:
        return try EfficientNetV2(weights: weights, variant: .small, context: context)
    case .efficientnetLite0:
        return try EfficientNetLite(weights: weights, variant: .lite0, context: context)
    case .efficientnetLite1:
        return try EfficientNetLite(weights: weights, variant: .lite1, context: context)
    case .efficientnetLite2:
        return try EfficientNetLite(weights: weights, variant: .lite2, context: context)
    }
}
