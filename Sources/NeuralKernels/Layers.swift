// Layer descriptions shared by the fast kernels and their naive twins.

import Foundation

/// Element-wise activation fused into a kernel's output pass.
public enum Activation: Sendable {
    case identity, relu, relu6, silu, sigmoid

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .relu: return max(x, 0)
        case .relu6: return min(max(x, 0), 6)
        case .silu: return x / (1 + expf(-x))
        case .sigmoid: return 1 / (1 + expf(-x))
        }
    }
}

/// Geometry of a 2-D convolution. Padding is per side so TF "SAME" padding
/// (more at the bottom/right) is expressible.
public struct ConvGeometry: Sendable, Equatable {
    public var kernelHeight: Int, kernelWidth: Int
    public var strideY: Int, strideX: Int
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var dilationY: Int, dilationX: Int
    public var groups: Int

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (top: Int, left: Int, bottom: Int, right: Int) = (0, 0, 0, 0),
                dilation: (Int, Int) = (1, 1), groups: Int = 1) {
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideY = stride.0; strideX = stride.1
        padTop = padding.top; padLeft = padding.left; padBottom = padding.bottom; padRight = padding.right
        dilationY = dilation.0; dilationX = dilation.1
        self.groups = groups
    }

    /// Symmetric PyTorch-style padding.
    public init(kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.init(kernel: (kernel, kernel), stride: (stride, stride),
                  padding: (padding, padding, padding, padding), dilation: (dilation, dilation), groups: groups)
    }

    /// 1x1, stride 1, no padding: a GEMM straight on the input planes.
    public var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideY == 1 && strideX == 1
            && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let h = (height + padTop + padBottom - dilationY * (kernelHeight - 1) - 1) / strideY + 1
        let w = (width + padLeft + padRight - dilationX * (kernelWidth - 1) - 1) / strideX + 1
        return (h, w)
    }
}

/// A convolution with its (possibly batch-norm-folded) weights.
/// weight is OC x (IC/groups) x KH x KW, bias is OC. Weights are fixed once built (a folded copy is a
/// new Conv2D), so what is derived from them, like the Winograd-transformed filters, is kept with them.
public struct Conv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    /// Padding may be changed per input (TF SAME); the kernel size, stride and groups must stay.
    public var geometry: ConvGeometry
    public let weight: [Float]
    public let bias: [Float]
    /// The weights as OC x (IC·KH·KW) packed for packedGemm (groups == 1), made at the first GEMM call per kernel
    /// (`packedMatrix(for:)`).
    let packedWeights = PreparedWeights<GemmKernel, PackedMatrix>()
    /// U = G g G^T of every filter as 16 (F(2x2, 3x3)) or 36 (F(4x4, 3x3)) packed OC x IC matrices, made at the first
    /// Winograd call with that tile.
    /// Both are shared by copies of this layer.
    let winogradFilters = PreparedWeights<WinogradFilterKey, [PackedMatrix]>()
    /// A depthwise layer's weights and biases with `lanes` channels in the lanes (DepthwiseChannelLanes.swift), per
    /// lane count, at the first call (`channelLaneWeights(lanes:)`).
    let laneWeights = PreparedWeights<Int, [Float]>()
    /// The weights packed as bfloat16 for the AMX GEMM (AMXGemm.swift), per reduced precision, at the first call.
    let amxWeights = PreparedWeights<Precision, AMXPackedMatrix>()

    public init(inChannels: Int, outChannels: Int, geometry: ConvGeometry, weight: [Float], bias: [Float]? = nil) {
        precondition(inChannels % geometry.groups == 0 && outChannels % geometry.groups == 0, "channels not divisible by groups")
        precondition(weight.count == outChannels * (inChannels / geometry.groups) * geometry.kernelHeight * geometry.kernelWidth,
                     "weight count does not match the convolution's shape")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.geometry = geometry
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: outChannels)
        precondition(self.bias.count == outChannels)
    }

    /// Folds an inference-mode batch norm that follows this convolution into it:
    /// y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta.
    public func foldingBatchNorm(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float) -> Conv2D {
        precondition(gamma.count == outChannels && beta.count == outChannels && mean.count == outChannels && variance.count == outChannels)
        var foldedWeight = weight, foldedBias = bias
        let perOutput = weight.count / outChannels
        for o in 0..<outChannels {
            let scale = gamma[o] / (variance[o] + epsilon).squareRoot()
            for i in 0..<perOutput { foldedWeight[o * perOutput + i] = weight[o * perOutput + i] * scale }
            foldedBias[o] = (bias[o] - mean[o]) * scale + beta[o]
        }
        return Conv2D(inChannels: inChannels, outChannels: outChannels, geometry: geometry, weight: foldedWeight, bias: foldedBias)
    }
}

/// Winograd filters are transformed per GEMM kernel and tile (a layer run on planes of different sizes may use both).
struct WinogradFilterKey: Hashable {
    let kernel: GemmKernel
    let tile: WinogradTile
}

/// Weights rearranged once for a fast path (packed, transformed), per GEMM kernel or precision, built on first
/// use under a lock and read-only afterwards; the layer that owns it never changes its weights.
final class PreparedWeights<Key: Hashable, Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Key: Value] = [:]

    /// The prepared values for `key`, made by `prepare` the first time (concurrent callers wait for it).
    func values(for key: Key, _ prepare: () -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        if let prepared = values[key] { return prepared }
        let made = prepare()
        values[key] = made
        return made
    }
}

/// A fully connected layer: weight is out x in (PyTorch nn.Linear layout).
public struct Linear: Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var weight: [Float]
    public var bias: [Float]

    public init(inFeatures: Int, outFeatures: Int, weight: [Float], bias: [Float]? = nil) {
        precondition(weight.count == inFeatures * outFeatures)
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = weight
        self.bias = bias ?? [Float](repeating: 0, count: outFeatures)
    }
}

/// Geometry of max / average pooling, PyTorch semantics (ceil_mode, count_include_pad).
public struct PoolGeometry: Sendable, Equatable {
    public var kernelHeight: Int, kernelWidth: Int
    public var strideY: Int, strideX: Int
    public var padY: Int, padX: Int
    public var ceilMode: Bool
    public var countIncludePad: Bool

    public init(kernel: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        kernelHeight = kernel; kernelWidth = kernel
        strideY = stride ?? kernel; strideX = stride ?? kernel
        padY = padding; padX = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    /// PyTorch's pooling_output_shape: with ceil_mode the last window must start inside the (left-padded) input.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        func size(_ input: Int, _ k: Int, _ s: Int, _ p: Int) -> Int {
            let numerator = input + 2 * p - k + (ceilMode ? s - 1 : 0)
            var out = numerator / s + 1
            if ceilMode && (out - 1) * s >= input + p { out -= 1 }
            return out
        }
        return (size(height, kernelHeight, strideY, padY), size(width, kernelWidth, strideX, padX))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Conv2D {
    /// A depthwise layer's weights as [group][tap][lanes] and each group's biases after its taps ([group][taps + 1]
    /// [lanes]): group g holds output channels g·lanes ..< (g + 1)·lanes, lanes past the last channel zero.
    func channelLaneWeights(lanes: Int) -> [Float] {
        laneWeights.values(for: lanes) {
            let taps = weight.count / outChannels, groups = (outChannels + lanes - 1) / lanes
            var values = [Float](repeating: 0, count: groups * (taps + 1) * lanes)
            for channel in 0..<outChannels {
                let base = channel / lanes * (taps + 1) * lanes + channel % lanes
                for tap in 0..<taps { values[base + tap * lanes] = weight[channel * taps + tap] }
                values[base + taps * lanes] = bias[channel]
            }
            return values
        }
    }

    /// An ungrouped layer's weights as OC x (IC·KH·KW) packed for `kernel`'s tiles: packed at the first call, then kept.
    func packedMatrix(for kernel: GemmKernel) -> PackedMatrix {
        packedWeights.values(for: kernel) {
            PackedMatrix(weight, rows: outChannels, depth: inChannels * geometry.kernelHeight * geometry.kernelWidth, kernel: kernel)
        }
    }
}
