// RGB bytes → network input planes, exactly torchvision's
// `Compose([ToTensor(), Normalize(mean, std)])` on a PIL image.

/// 3 x height x width Float32 planes of (pixel / 255 − mean[c]) / std[c]. Each step is one
/// float32 operation as in torch (ToTensor divides the byte by 255 in float32, Normalize then
/// subtracts a float32 mean and divides by a float32 std), so the result is bit-identical.
public func normalizedPlanes(_ image: RGBImage, mean: [Float], std: [Float]) -> [Float] {
    precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values each")
    let count = image.width * image.height
    var planes = [Float](repeating: 0, count: 3 * count)
    image.pixels.withUnsafeBufferPointer { p in
        planes.withUnsafeMutableBufferPointer { out in
            for c in 0..<3 {
                let m = mean[c], s = std[c], offset = c * count
                for i in 0..<count {
                    out[offset + i] = (Float(p[3 * i + c]) / 255 - m) / s
                }
            }
        }
    }
    return planes
}
