// An NCHW Float32 tensor: the one value every kernel reads and writes.
//
// Storage is a plain contiguous array in row-major N, C, H, W order, so a
// tensor hands its buffer straight to cblas_sgemm.

public struct Tensor: Sendable {
    /// N x C x H x W (a 2-D [N, width] embedding uses height = width = 1).
    public private(set) var shape: [Int]
    public var storage: [Float]

    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.count == 4, "Tensor is NCHW")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public init(shape: [Int], storage: [Float]) {
        precondition(shape.count == 4, "Tensor is NCHW")
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not hold \(storage.count) values")
        self.shape = shape
        self.storage = storage
    }

    /// A tensor whose values are left unset, for an output whose every value is written before it is read (the
    /// concatenation of branches that write their channel slices): no pass over memory to zero it first.
    public static func uninitialised(shape: [Int]) -> Tensor {
        precondition(shape.count == 4, "Tensor is NCHW")
        return Tensor(shape: shape, storage: uninitialisedFloats(shape.reduce(1, *)))
    }

    public var batch: Int { shape[0] }
    public var channels: Int { shape[1] }
    public var height: Int { shape[2] }
    public var width: Int { shape[3] }
    public var count: Int { storage.count }

    @inline(__always)
    public subscript(n: Int, c: Int, y: Int, x: Int) -> Float {
        get { storage[((n * shape[1] + c) * shape[2] + y) * shape[3] + x] }
        set { storage[((n * shape[1] + c) * shape[2] + y) * shape[3] + x] = newValue }
    }
}
