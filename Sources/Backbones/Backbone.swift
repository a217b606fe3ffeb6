// The contract every network in this target honours.

import NeuralKernels

/// How images must be prepared before `embed`. Stated per backbone and weight set,
/// and written into every feature manifest.
public struct Preprocessing: Codable, Sendable, Equatable {
    /// Square side the `resize` view scales to (torchvision's resize-then-crop collapsed to one size).
    public var inputSize: Int
    /// Per-channel mean and std applied to RGB values scaled to [0, 1].
    public var mean: [Float]
    public var std: [Float]
    /// torchvision's transform_input (GoogLeNet, Inception-V3): the network re-normalises
    /// ImageNet-normalised input to (x - 0.5) / 0.5 internally.
    public var transformInput: Bool

    public init(inputSize: Int, mean: [Float], std: [Float], transformInput: Bool = false) {
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.transformInput = transformInput
    }

    public static let imageNet = (mean: [Float](arrayLiteral: 0.485, 0.456, 0.406), std: [Float](arrayLiteral: 0.229, 0.224, 0.225))
}

/// A frozen network that maps a batch of normalised images to pooled embeddings.
public protocol Backbone: Sendable {
    var name: String { get }
    var embeddingWidth: Int { get }
    var preprocessing: Preprocessing { get }
    /// input: N x 3 x H x W, already normalised with `preprocessing`.
    /// returns: N x embeddingWidth x 1 x 1 (the features before the classifier).
    func embed(_ input: Tensor) -> Tensor
}
