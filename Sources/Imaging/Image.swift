// An 8-bit RGB image, interleaved, row-major: what every decoder returns.

public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// height x width x 3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)x\(height) needs \(width * height * 3) bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
