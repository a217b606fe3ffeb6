// The contract every network in this target honours.

import Dispatch
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

/// Runs `embedding` (a network's forward pass on a context) over a batch. When the batch holds at least
/// as many images as `context` has threads, the images are spread across the cores: each worker runs
/// whole images, one at a time, on one core, so a layer's activations stay in that core's caches and no
/// layer waits for the slowest piece. The images left over (batch mod threads) run together, each layer
/// split across all cores. Every kernel computes each image independently of the other images and of
/// the thread count, so the result is the same as one pass over the whole batch.
func embedAcrossCores(_ input: Tensor, context: KernelContext, _ embedding: (Tensor, KernelContext) -> Tensor) -> Tensor {
    let threads = context.threadCount, count = input.batch
    guard threads > 1, count >= threads else { return embedding(input, context) }
    let imageValues = input.count / count
    let spread = count - count % threads
    var oneCore = context
    oneCore.threadCount = 1
    func images(_ range: Range<Int>) -> Tensor {
        Tensor(shape: [range.count, input.channels, input.height, input.width],
               storage: Array(input.storage[(range.lowerBound * imageValues)..<(range.upperBound * imageValues)]))
    }
    var outputs = [Tensor?](repeating: nil, count: count)
    outputs.withUnsafeMutableBufferPointer { slots in
        DispatchQueue.concurrentPerform(iterations: threads) { worker in
            for image in stride(from: worker, to: spread, by: threads) {
                slots[image] = embedding(images(image..<(image + 1)), oneCore)   // each worker writes its own slots
            }
        }
    }
    if spread < count {
        let rest = embedding(images(spread..<count), context)
        let restValues = rest.count / (count - spread)
        for offset in 0..<(count - spread) {
            outputs[spread + offset] = Tensor(shape: [1, rest.channels, rest.height, rest.width],
                                              storage: Array(rest.storage[(offset * restValues)..<((offset + 1) * restValues)]))
        }
    }
    let done = outputs.compactMap { $0 }
    precondition(done.count == count, "embedAcrossCores: \(count - done.count) images without an embedding")
    return Tensor(shape: [count, done[0].channels, done[0].height, done[0].width], storage: done.flatMap(\.storage))
}
