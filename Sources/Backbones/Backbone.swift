// The contract every network in this target honours.

import Dispatch
import NeuralKernels
import Synchronization

/// How images must be prepared before `embed`: a property of the weights (what they were trained
/// with), so it is stated by the `WeightSet`, never by the network, and written into every manifest.
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
    /// input: N x 3 x H x W, already normalised with its weight set's `preprocessing`.
    /// returns: N x embeddingWidth x 1 x 1 (the features before the classifier).
    func embed(_ input: Tensor) -> Tensor
    /// The blocks of `embedStages`, in order: the end of every stage of the network, the final
    /// feature map last (its width is `embeddingWidth`). Names are the reference implementation's
    /// module names (`layer1`, `Mixed_6e`, `_blocks.7`, `features.3`), so a forward hook finds them.
    var stageBlocks: [StageBlock] { get }
    /// input as for `embed`. returns: N x (sum of the blocks' widths) x 1 x 1, every stage's output
    /// globally average-pooled (not normalised), blocks concatenated along channels in `stageBlocks` order.
    /// The last block equals `embed`'s output.
    func embedStages(_ input: Tensor) -> Tensor
}

/// One stage output of a backbone: its reference module name and its channel count.
public struct StageBlock: Sendable, Equatable, Codable {
    public var name: String
    public var width: Int
    public init(_ name: String, _ width: Int) {
        self.name = name
        self.width = width
    }
}

extension Backbone {
    /// A network without stage outputs has one block: its final embedding.
    public var stageBlocks: [StageBlock] { [StageBlock("final", embeddingWidth)] }
    public func embedStages(_ input: Tensor) -> Tensor { embed(input) }
}

/// Runs `trunk` (a forward pass that calls its tap with the output of every stage but the last, and
/// returns the final feature map) and pools every stage: N x (sum of widths) x 1 x 1. The trunk is the
/// same code `embed` runs, so the final block is bit for bit `embed`'s output.
func pooledStages(_ input: Tensor, context: KernelContext,
                  _ trunk: (Tensor, KernelContext, (Tensor) -> Void) -> Tensor) -> Tensor {
    var pooled: [Tensor] = []
    let final = trunk(input, context) { pooled.append(globalAveragePool($0, context: context)) }
    pooled.append(globalAveragePool(final, context: context))
    return concatenatePooled(pooled)
}

/// parts: each N x C_i x 1 x 1 → N x (sum of C_i) x 1 x 1, image by image.
func concatenatePooled(_ parts: [Tensor]) -> Tensor {
    let batch = parts[0].batch
    let total = parts.reduce(0) { $0 + $1.channels }
    var storage: [Float] = []
    storage.reserveCapacity(batch * total)
    for image in 0..<batch {
        for part in parts {
            precondition(part.batch == batch && part.height == 1 && part.width == 1, "concatenatePooled: \(part.shape)")
            storage += part.storage[(image * part.channels)..<((image + 1) * part.channels)]
        }
    }
    return Tensor(shape: [batch, total, 1, 1], storage: storage)
}

/// Runs `embedding` (a network's forward pass on a context) over a batch. When the batch holds at least
/// as many images as `context` has threads, the images are spread across the cores: each worker runs
/// whole images, one at a time, on one core, so a layer's activations stay in that core's caches and no
/// layer waits for the slowest piece. A worker takes the next image when it has finished one (not every
/// threads-th image in turn): on a virtual machine one vCPU often runs much slower than the other for a
/// while (two copies of `bench sgemm` pinned to the two vCPUs: 95 and 72, 131 and 86 GFLOP/s), and the fast
/// one then takes more images instead of waiting for the slow one at the end. The images left over
/// (batch mod threads) run together, each layer split across all cores. Every kernel computes each image
/// independently of the other images and of the thread count, so the result is the same as one pass over
/// the whole batch. On one thread the images also run one at a time: a pass over the whole batch keeps every
/// layer's activations for all its images, which leave the caches (one thread, AMD Zen 4, batch 8: Inception-v3 299
/// 9.26 images/s against 10.24 at batch 1, EfficientNet-Lite0 224 105.5 against 114.8).
func embedAcrossCores(_ input: Tensor, context: KernelContext, _ embedding: (Tensor, KernelContext) -> Tensor) -> Tensor {
    let threads = context.threadCount, count = input.batch
    guard count > 1, count >= threads else { return embedding(input, context) }
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
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            while true {
                let image = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if image >= spread { return }
                slots[image] = embedding(images(image..<(image + 1)), oneCore)   // each image's slot is written once
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
