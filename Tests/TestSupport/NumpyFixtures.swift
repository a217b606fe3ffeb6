// Reads the small .npy fixtures the Python generators write (numpy format 1.0/2.0,
// C order, little-endian float32 '<f4' or bytes '|u1'), values widened to Float.

import Foundation

public struct NumpyFixture {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

public struct NumpyFixtureError: Error, LocalizedError {
    public var file: String
    public var problem: String
    public var errorDescription: String? { "\(file): \(problem)" }

    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }
}

public func loadNumpyFixture(_ url: URL) throws -> NumpyFixture {
    let data = try Data(contentsOf: url)
    let bytes = [UInt8](data)
    func fail(_ problem: String) -> NumpyFixtureError { NumpyFixtureError(file: url.path, problem: problem) }
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw fail("not a .npy file") }
    let major = bytes[6]
    let headerLength: Int, headerStart: Int
    if major == 1 {
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
    } else {
        guard bytes.count >= 12 else { throw fail("truncated header") }
        headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24; headerStart = 12
    }
    guard bytes.count >= headerStart + headerLength,
          let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .ascii) else { throw fail("truncated header") }
    guard !header.contains("'fortran_order': True") else { throw fail("Fortran order is not supported") }
    guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw fail("no shape in header \(header)")
    }
    let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let count = shape.reduce(1, *)
    let payload = Array(bytes[(headerStart + headerLength)...])
    if header.contains("'<f4'") {
        guard payload.count == 4 * count else { throw fail("expected \(count) float32 values, found \(payload.count) bytes") }
        let values = (0..<count).map { i -> Float in
            let b = i * 4
            return Float(bitPattern: UInt32(payload[b]) | UInt32(payload[b + 1]) << 8 | UInt32(payload[b + 2]) << 16 | UInt32(payload[b + 3]) << 24)
        }
        return NumpyFixture(shape: shape, values: values)
    }
    if header.contains("'|u1'") {
        guard payload.count == count else { throw fail("expected \(count) bytes, found \(payload.count)") }
        return NumpyFixture(shape: shape, values: payload.map(Float.init))
    }
    throw fail("unsupported dtype in header \(header)")
}
