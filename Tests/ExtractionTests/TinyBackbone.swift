// A tiny fixed network for pipeline tests: conv 3→6 (3x3, stride 2, ReLU) then global
// average pool, from the Naive kernels, with closed-form weights. It is fully
// convolutional like the real backbones, so every view works, and cheap enough to run
// on every image size.

import Foundation
import Backbones
import Extraction
import NeuralKernels

struct TinyBackbone: Backbone {
    var name = "tiny"
    var embeddingWidth = 6
    /// What `tinyLoaded` extracts with (a test network's own stand-in for a weight set's).
    var preprocessing = Preprocessing(inputSize: 32, mean: Preprocessing.imageNet.mean, std: Preprocessing.imageNet.std)
    /// Slows each batch down so a test can kill a run in the middle.
    var secondsPerBatch: Double = 0
    let convolution: Conv2D

    init(secondsPerBatch: Double = 0, inputSize: Int = 32) {
        self.secondsPerBatch = secondsPerBatch
        preprocessing.inputSize = inputSize
        let count = 6 * 3 * 3 * 3
        convolution = Conv2D(inChannels: 3, outChannels: 6, geometry: ConvGeometry(kernel: 3, stride: 2, padding: 1),
                             weight: (0..<count).map { Float(sin(Double($0) * 1.7 + 0.3)) * 0.3 },
                             bias: (0..<6).map { Float($0) * 0.05 - 0.1 })
    }

    // input: N x 3 x H x W → N x 6 x 1 x 1
    func embed(_ input: Tensor) -> Tensor {
        if secondsPerBatch > 0 { Thread.sleep(forTimeInterval: secondsPerBatch) }
        let features = Naive.conv2d(input, convolution, activation: .relu)
        var pooled = Tensor(shape: [input.batch, 6, 1, 1])
        let plane = features.height * features.width
        for n in 0..<input.batch {
            for c in 0..<6 {
                var sum: Float = 0
                for y in 0..<features.height { for x in 0..<features.width { sum += features[n, c, y, x] } }
                pooled[n, c, 0, 0] = sum / Float(plane)
            }
        }
        return pooled
    }
}

func tinyLoaded(secondsPerBatch: Double = 0, weightsSHA256: String = "tiny-weights-v1") -> LoadedBackbone {
    let backbone = TinyBackbone(secondsPerBatch: secondsPerBatch)
    return LoadedBackbone(backbone: backbone, preprocessing: backbone.preprocessing, weightsFile: "tiny.safetensors", weightsSHA256: weightsSHA256)
}
