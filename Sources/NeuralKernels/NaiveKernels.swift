// Naive twins: plain loops, obviously right. Every fast kernel in this module is
// tested against the twin of the same name here; networks may also call these
// while the fast kernel does not exist yet.

public enum Naive {
    /// input N x IC x H x W → N x OC x OH x OW, then activation.
    public static func conv2d(_ input: Tensor, _ layer: Conv2D, activation: Activation = .identity) -> Tensor {
        let g = layer.geometry
        precondition(input.channels == layer.inChannels, "conv expects \(layer.inChannels) channels, got \(input.channels)")
        let (oh, ow) = g.outputSize(height: input.height, width: input.width)
        var out = Tensor(shape: [input.batch, layer.outChannels, oh, ow])
        let icPerGroup = layer.inChannels / g.groups, ocPerGroup = layer.outChannels / g.groups
        for n in 0..<input.batch {
            for o in 0..<layer.outChannels {
                let group = o / ocPerGroup
                for y in 0..<oh {
                    for x in 0..<ow {
                        var sum = layer.bias[o]
                        for ic in 0..<icPerGroup {
                            let c = group * icPerGroup + ic
                            for ky in 0..<g.kernelHeight {
                                let iy = y * g.strideY - g.padTop + ky * g.dilationY
                                if iy < 0 || iy >= input.height { continue }
                                for kx in 0..<g.kernelWidth {
                                    let ix = x * g.strideX - g.padLeft + kx * g.dilationX
                                    if ix < 0 || ix >= input.width { continue }
                                    let w = layer.weight[((o * icPerGroup + ic) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                    sum += w * input[n, c, iy, ix]
                                }
                            }
                        }
                        out[n, o, y, x] = activation.apply(sum)
                    }
                }
            }
        }
        return out
    }

    public static func maxPool2d(_ input: Tensor, _ g: PoolGeometry) -> Tensor {
        let (oh, ow) = g.outputSize(height: input.height, width: input.width)
        var out = Tensor(shape: [input.batch, input.channels, oh, ow])
        for n in 0..<input.batch { for c in 0..<input.channels { for y in 0..<oh { for x in 0..<ow {
            var best = -Float.infinity
            for ky in 0..<g.kernelHeight {
                let iy = y * g.strideY - g.padY + ky
                if iy < 0 || iy >= input.height { continue }
                for kx in 0..<g.kernelWidth {
                    let ix = x * g.strideX - g.padX + kx
                    if ix < 0 || ix >= input.width { continue }
                    best = max(best, input[n, c, iy, ix])
                }
            }
            out[n, c, y, x] = best
        } } } }
        return out
    }

    /// PyTorch avg_pool2d: the divisor counts padded cells inside the padded input when
    /// countIncludePad, never the cells past it that ceil_mode adds.
    public static func avgPool2d(_ input: Tensor, _ g: PoolGeometry) -> Tensor {
        let (oh, ow) = g.outputSize(height: input.height, width: input.width)
        var out = Tensor(shape: [input.batch, input.channels, oh, ow])
        for n in 0..<input.batch { for c in 0..<input.channels { for y in 0..<oh { for x in 0..<ow {
            let y0 = y * g.strideY - g.padY, x0 = x * g.strideX - g.padX
            let y1 = min(y0 + g.kernelHeight, input.height + g.padY), x1 = min(x0 + g.kernelWidth, input.width + g.padX)
            let paddedArea = (y1 - y0) * (x1 - x0)
            let ys = max(y0, 0), xs = max(x0, 0), ye = min(y1, input.height), xe = min(x1, input.width)
            var sum: Float = 0
            for iy in ys..<max(ys, ye) { for ix in xs..<max(xs, xe) { sum += input[n, c, iy, ix] } }
            let divisor = g.countIncludePad ? paddedArea : (ye - ys) * (xe - xs)
            out[n, c, y, x] = sum / Float(divisor)
        } } } }
        return out
    }

    /// N x C x H x W → N x C x 1 x 1.
    public static func globalAveragePool(_ input: Tensor) -> Tensor {
        var out = Tensor(shape: [input.batch, input.channels, 1, 1])
        let plane = input.height * input.width
        for n in 0..<input.batch { for c in 0..<input.channels {
            var sum: Float = 0
            for i in 0..<plane { sum += input.storage[(n * input.channels + c) * plane + i] }
            out[n, c, 0, 0] = sum / Float(plane)
        } }
        return out
    }

    /// N x in (any H, W flattened per sample) → N x out x 1 x 1.
    public static func linear(_ input: Tensor, _ layer: Linear) -> Tensor {
        let perSample = input.count / input.batch
        precondition(perSample == layer.inFeatures)
        var out = Tensor(shape: [input.batch, layer.outFeatures, 1, 1])
        for n in 0..<input.batch { for o in 0..<layer.outFeatures {
            var sum = layer.bias[o]
            for i in 0..<layer.inFeatures { sum += layer.weight[o * layer.inFeatures + i] * input.storage[n * perSample + i] }
            out.storage[n * layer.outFeatures + o] = sum
        } }
        return out
    }

    public static func activate(_ input: Tensor, _ activation: Activation) -> Tensor {
        var out = input
        for i in 0..<out.count { out.storage[i] = activation.apply(out.storage[i]) }
        return out
    }

    /// a + b, then activation (the residual join).
    public static func add(_ a: Tensor, _ b: Tensor, activation: Activation = .identity) -> Tensor {
        precondition(a.shape == b.shape)
        var out = a
        for i in 0..<out.count { out.storage[i] = activation.apply(a.storage[i] + b.storage[i]) }
        return out
    }

    /// Concatenates along channels.
    public static func concatChannels(_ parts: [Tensor]) -> Tensor {
        let n = parts[0].batch, h = parts[0].height, w = parts[0].width
        let channels = parts.reduce(0) { $0 + $1.channels }
        var out = Tensor(shape: [n, channels, h, w])
        for b in 0..<n {
            var offset = 0
            for p in parts {
                precondition(p.batch == n && p.height == h && p.width == w)
                for c in 0..<p.channels { for y in 0..<h { for x in 0..<w { out[b, offset + c, y, x] = p[b, c, y, x] } } }
                offset += p.channels
            }
        }
        return out
    }

    /// Squeeze-and-excitation: x * sigmoid(expand(act(reduce(avgpool(x))))).
    public static func squeezeExcitation(_ input: Tensor, reduce: Conv2D, expand: Conv2D, activation: Activation) -> Tensor {
        let squeezed = globalAveragePool(input)
        let scale = conv2d(conv2d(squeezed, reduce, activation: activation), expand, activation: .sigmoid)
        var out = input
        let plane = input.height * input.width
        for n in 0..<input.batch { for c in 0..<input.channels {
            let s = scale[n, c, 0, 0]
            for i in 0..<plane { out.storage[(n * input.channels + c) * plane + i] *= s }
        } }
        return out
    }
}
