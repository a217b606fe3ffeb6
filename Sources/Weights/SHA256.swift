// SHA-256 (FIPS 180-4), self-contained so the Weights module needs no crypto dependency.
// Used to verify downloads (torch.hub's hash-prefix-in-file-name convention) and to record
// the weights hash in feature manifests. Checked against hashlib vectors in the tests.

import Foundation

public struct SHA256 {
    // FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let roundConstants: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    // §5.3.3: initial hash value.
    private var state: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    public init() { pending.reserveCapacity(64) }

    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            pending.append(byte)
            if pending.count == 64 { compressPending() }
        }
    }

    /// Fast path for large buffers: whole blocks are compressed straight from the buffer.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < buffer.count, !pending.isEmpty {
            pending.append(buffer[offset]); offset += 1
            if pending.count == 64 { compressPending() }
        }
        let blocks = (buffer.count - offset) / 64
        if blocks > 0, let base = buffer.baseAddress {
            compress(base + offset, blocks: blocks)
            totalBytes &+= UInt64(blocks * 64)
            offset += blocks * 64
        }
        while offset < buffer.count { pending.append(buffer[offset]); offset += 1 }
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    private mutating func compressPending() {
        let block = pending
        block.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
        totalBytes &+= 64
        pending.removeAll(keepingCapacity: true)
    }

    /// §6.2.2 on `blocks` consecutive 512-bit blocks. The working variables and the message schedule
    /// live in locals and a stack buffer (no array accesses in the rounds).
    private mutating func compress(_ data: UnsafeRawPointer, blocks: Int) {
        @inline(__always) func rotate(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        var h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3]
        var h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7]
        SHA256.roundConstants.withUnsafeBufferPointer { constants in
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            guard let k = constants.baseAddress, let w = schedule.baseAddress else { return }
            for blockIndex in 0..<blocks {
                let block = data + blockIndex * 64
                for t in 0..<16 {
                    w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
                }
                for t in 16..<64 {
                    let x = w[t - 15], y = w[t - 2]
                    let s0 = rotate(x, 7) ^ rotate(x, 18) ^ (x >> 3)
                    let s1 = rotate(y, 17) ^ rotate(y, 19) ^ (y >> 10)
                    w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                }
                var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
                for t in 0..<64 {
                    let sum1 = rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)
                    let choose = (e & f) ^ (~e & g)
                    let temporary1 = h &+ sum1 &+ choose &+ k[t] &+ w[t]
                    let sum0 = rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let temporary2 = sum0 &+ majority
                    h = g; g = f; f = e; e = d &+ temporary1
                    d = c; c = b; b = a; a = temporary1 &+ temporary2
                }
                h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
                h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
            }
        } }
        state = [h0, h1, h2, h3, h4, h5, h6, h7]
    }

    /// §5.1.1 padding, then the digest (32 bytes).
    public mutating func finalize() -> [UInt8] {
        let messageBits = (totalBytes &+ UInt64(pending.count)) &* 8
        pending.append(0x80)
        if pending.count > 56 {
            while pending.count < 64 { pending.append(0) }
            compressPending()
        }
        while pending.count < 56 { pending.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { pending.append(UInt8(truncatingIfNeeded: messageBits >> UInt64(shift))) }
        let block = pending
        block.withUnsafeBytes { compress($0.baseAddress!, blocks: 1) }
        pending.removeAll()
        var digest: [UInt8] = []
        for word in state { for shift in stride(from: 24, through: 0, by: -8) { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) } }
        return digest
    }

    public static func hash(_ data: Data) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data)
        return hasher.finalize()
    }

    public static func hexDigest(_ data: Data) -> String { hexString(hash(data)) }

    /// Streams the file in 1 MiB chunks.
    public static func hexDigest(ofFile url: URL) throws -> String {
        if let problem = regularFileProblem(url.path) { throw WeightsError.fileAccess(file: url.path, problem: problem) }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw WeightsError.fileAccess(file: url.path, problem: "cannot open to hash (\(error.localizedDescription))")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw WeightsError.fileAccess(file: url.path, problem: "read failed while hashing (\(error.localizedDescription))")
            }
            guard let chunk, !chunk.isEmpty else { break }
            hasher.update(chunk)
        }
        return hexString(hasher.finalize())
    }
}

public func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var characters: [UInt8] = []
    characters.reserveCapacity(bytes.count * 2)
    for byte in bytes { characters.append(digits[Int(byte >> 4)]); characters.append(digits[Int(byte & 0x0F)]) }
    return String(decoding: characters, as: UTF8.self)
}
