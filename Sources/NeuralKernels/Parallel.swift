// How many cores a kernel may use, passed as a value (no global thread setting).
//
// Every kernel splits its independent planes, rows or GEMM pieces across
// `threadCount` workers: the process's WorkerPool, or DispatchQueue.concurrentPerform when the pool is
// busy or smaller than the request (the fully connected layer alone runs on OpenBLAS's own threads,
// `threadCount` of them for the length of its call: BLASThreads owns that setting). Work is split only over independent
// outputs, never over a reduction, so results do not depend on the thread count.

import BLASThreads
import COpenBLAS
import Dispatch
import Foundation

public struct KernelContext: Sendable, Equatable {
    public var threadCount: Int
    /// Whether `.automatic` convolutions may take Winograd F(4x4, 3x3) / F(2x2, 3x3) (off: im2col/GEMM only).
    public var winograd: Bool
    /// The packed GEMM's register tile (the machine's own by default; tests run every supported one).
    public var gemmKernel: GemmKernel
    /// The convolutions' GEMM arithmetic: float32 (the default), or bfloat16 on AMX or AVX512-BF16 (AMXGemm.swift).
    public var precision: Precision
    /// The unit of the bfloat16 GEMM (the machine's own by default; tests run every supported one).
    public var bfloat16Unit: BFloat16Unit

    public init(threadCount: Int = ProcessInfo.processInfo.activeProcessorCount, winograd: Bool = true,
                gemmKernel: GemmKernel = .native, precision: Precision = .float32,
                bfloat16Unit: BFloat16Unit = BFloat16Unit.native ?? .amx) {
        precondition(threadCount >= 1, "threadCount must be at least 1")
        precondition(precision.isSupported, precision.unsupportedReason ?? "")
        precondition(precision == .float32 || BFloat16Unit.supported.contains(bfloat16Unit),
                     "the bfloat16 unit \(bfloat16Unit.rawValue) cannot run on this machine")
        self.threadCount = threadCount
        self.winograd = winograd
        self.gemmKernel = gemmKernel
        self.precision = precision
        self.bfloat16Unit = bfloat16Unit
    }

    /// All cores of this machine.
    public static var allCores: KernelContext { KernelContext() }
    public static let singleThread = KernelContext(threadCount: 1)
}

/// Runs body over `0..<count` split into contiguous chunks of at least `minimumChunk` items (but the last), on
/// at most `threadCount` threads that take them in turn; chunk boundaries never change what is computed per item.
/// The chunks are contiguous, disjoint and cover 0..<count; how many there are, and which thread runs which, may
/// vary (so a body must not depend on them: items are independent). Public for the tests.
@inline(__always)
public func parallelChunks(_ count: Int, _ context: KernelContext, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let most = max(1, count / max(1, minimumChunk))
    let chunks = min(context.threadCount, most)
    if chunks == 1 { body(0..<count); return }
    // On the pool, each thread owns a fixed share of the items (the caller the first, worker k the k + 1-th) and takes
    // it in chunks that shrink towards its end; a thread done with its share takes what is left of the others', so
    // one that finishes early (or a core the machine lends elsewhere for a moment) leaves no wait at the end.
    // Factoring over all items (ChunkSchedule alone) had replaced four equal chunks per thread (whose last chunk left
    // the other thread ~1/16 of a region idle on average): paired, pass by pass in one process, 2 threads, batch 1,
    // Emerald Rapids, the pass took 0.98-0.99 of the time (EfficientNet-Lite0 224, ResNet-50 224, GoogLeNet 224,
    // EfficientNet-V2-S 224) and 0.96 (Inception-v3 299). Owned shares keep that balance and add locality: a layer's
    // rows, planes or channels go to the same thread in every pass, and consecutive layers split alike mostly hand
    // their data over within one core's caches (between two cores a cache line moves at 60-85 ns on cores that share a
    // level-3 cache, at 300-370 ns on ones that do not; `carcinoma bench cores`).
    if WorkerPool.shared.run(OwnedChunks(count: count, owners: chunks, minimum: max(1, minimumChunk)), body) { return }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = count * chunk / chunks, end = count * (chunk + 1) / chunks
        if start < end { body(start..<end) }
    }
}

/// How items 0..<count are cut into chunks that `threads` threads take in turn (OwnedChunks cuts each share with
/// one thread). Factoring (Hummel, Schonberg & Flynn, "Factoring: a method for scheduling parallel loops", CACM 35(8),
/// 1992): rounds of `threads` chunks, each 1/(2 · threads) of the items left when its round starts but at least
/// `minimum`, so the chunks shrink towards the end (the last one may be shorter than `minimum`) and a thread that
/// finishes first waits for at most a small one. 1000 items on 2 threads: 250, 250, 125, 125, 63, 63, …, 1; on one
/// thread: 500, 250, 125, …, 1. Public for the tests.
public struct ChunkSchedule: Sendable, Equatable {
    public let count: Int, threads: Int, minimum: Int
    /// How many chunks there are.
    public let chunkCount: Int

    public init(count: Int, threads: Int, minimum: Int = 1) {
        precondition(count >= 0 && threads >= 1 && minimum >= 1, "ChunkSchedule(\(count), \(threads), \(minimum))")
        self.count = count
        self.threads = threads
        self.minimum = minimum
        var chunks = 0, start = 0
        while start < count {
            let (size, inRound) = ChunkSchedule.round(left: count - start, threads: threads, minimum: minimum)
            chunks += inRound
            start += size * inRound
        }
        chunkCount = chunks
    }

    /// The chunk size of a round that starts with `left` items, and how many chunks it has.
    @inline(__always)
    static func round(left: Int, threads: Int, minimum: Int) -> (size: Int, chunks: Int) {
        let size = max(minimum, (left + 2 * threads - 1) / (2 * threads))
        return (size, min(threads, (left + size - 1) / size))
    }

    /// Chunk `ticket` (0 ..< chunkCount); the chunks follow one another and cover 0..<count.
    public func chunk(_ ticket: Int) -> Range<Int> {
        var start = 0, ticket = ticket
        while start < count {
            let (size, inRound) = ChunkSchedule.round(left: count - start, threads: threads, minimum: minimum)
            if ticket < inRound {
                let first = start + ticket * size
                return first..<min(count, first + size)
            }
            ticket -= inRound
            start += size * inRound
        }
        return count..<count
    }
}

/// The pool's chunks: items 0..<count cut into `owners` contiguous shares as equal as can be (share o is
/// count·o/owners ..< count·(o + 1)/owners, at least `minimum` items when count ≥ owners · minimum), each share cut by
/// ChunkSchedule with one thread (half of what is left, at least `minimum`: 21 items → 11, 5, 3, 1, 1). Thread o takes
/// its own share's chunks in order, then what is left of the others'. Public for the tests.
public struct OwnedChunks: Sendable, Equatable {
    public let count: Int, owners: Int, minimum: Int

    public init(count: Int, owners: Int, minimum: Int = 1) {
        precondition(count >= 0 && owners >= 1 && minimum >= 1, "OwnedChunks(\(count), \(owners), \(minimum))")
        (self.count, self.owners, self.minimum) = (count, owners, minimum)
    }

    /// How many chunks all shares have together.
    public var chunkCount: Int { (0..<owners).reduce(0) { $0 + schedule($1).chunkCount } }

    /// Share `owner`'s items.
    @inline(__always)
    public func share(_ owner: Int) -> Range<Int> { count * owner / owners ..< count * (owner + 1) / owners }

    /// How share `owner` is cut (chunk offsets within the share).
    @inline(__always)
    public func schedule(_ owner: Int) -> ChunkSchedule { ChunkSchedule(count: share(owner).count, threads: 1, minimum: minimum) }

    /// Chunk `ticket` of share `owner` (0 ..< schedule(owner).chunkCount), in items.
    @inline(__always)
    public func chunk(_ ticket: Int, of owner: Int) -> Range<Int> {
        let inside = schedule(owner).chunk(ticket), first = share(owner).lowerBound
        return first + inside.lowerBound ..< first + inside.upperBound
    }
}

/// Runs `body` with OpenBLAS on the context's `threadCount` threads (see BLASThreads).
@inline(__always)
func withBLASThreads<Result>(_ context: KernelContext, _ body: () throws -> Result) rethrows -> Result {
    try BLASThreads.with(context.threadCount, body)
}

/// C[m x n] = A[m x k] · B[k x n] (+ C when accumulate), row-major with leading dimensions.
@inline(__always)
func sgemm(m: Int, n: Int, k: Int,
           a: UnsafePointer<Float>, lda: Int,
           b: UnsafePointer<Float>, ldb: Int,
           c: UnsafeMutablePointer<Float>, ldc: Int,
           transposeB: Bool = false, accumulate: Bool = false) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), accumulate ? 1 : 0, c, Int32(ldc))
}

/// An uninitialised Float array (every element is written before it is read).
@inline(__always)
func uninitialisedFloats(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialised in initialised = count }
}

/// Copies `count` floats between non-overlapping buffers with 8-lane loads and stores (the last one
/// may overlap the one before it), inline: im2col and the padded planes copy many short rows, where
/// a call to memmove costs more than the copy.
@inline(__always)
func copyFloats(from source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    typealias Lanes = SIMD8<Float>
    let lanes = Lanes.scalarCount
    guard count >= lanes else {
        for index in 0..<count { destination[index] = source[index] }
        return
    }
    var index = 0
    while index + lanes <= count {
        UnsafeMutableRawPointer(destination + index).storeBytes(of: UnsafeRawPointer(source + index).loadUnaligned(as: Lanes.self), as: Lanes.self)
        index += lanes
    }
    if index < count {
        let last = count - lanes
        UnsafeMutableRawPointer(destination + last).storeBytes(of: UnsafeRawPointer(source + last).loadUnaligned(as: Lanes.self), as: Lanes.self)
    }
}

/// Sets `count` floats to `value` with 8-lane stores (the last one may overlap the one before it),
/// inline, for the same short rows as copyFloats (a zero loop would become a call to memset).
@inline(__always)
func fillFloats(_ destination: UnsafeMutablePointer<Float>, count: Int, with value: Float) {
    typealias Lanes = SIMD8<Float>
    let lanes = Lanes.scalarCount, fill = Lanes(repeating: value)
    guard count >= lanes else {
        destination.update(repeating: value, count: count)
        return
    }
    var index = 0
    while index + lanes <= count {
        UnsafeMutableRawPointer(destination + index).storeBytes(of: fill, as: Lanes.self)
        index += lanes
    }
    if index < count { UnsafeMutableRawPointer(destination + count - lanes).storeBytes(of: fill, as: Lanes.self) }
}

/// Lanes 0, 2, 4, … of a 32-lane vector, written out lane by lane: LLVM folds this into one two-register shuffle
/// (vpermt2ps), while the standard library's SIMD32.evenHalf stayed an out-of-line call returning through memory.
@inline(__always)
func evenLanes(_ v: SIMD32<Float>) -> SIMD16<Float> {
    SIMD16(v[0], v[2], v[4], v[6], v[8], v[10], v[12], v[14], v[16], v[18], v[20], v[22], v[24], v[26], v[28], v[30])
}

/// Lanes 1, 3, 5, … of a 32-lane vector (see evenLanes).
@inline(__always)
func oddLanes(_ v: SIMD32<Float>) -> SIMD16<Float> {
    SIMD16(v[1], v[3], v[5], v[7], v[9], v[11], v[13], v[15], v[17], v[19], v[21], v[23], v[25], v[27], v[29], v[31])
}

/// Lanes 0, 2, 4, … and 1, 3, 5, … of a 16-lane vector (the standard library's halves inline at this width).
@inline(__always) func evenLanes(_ v: SIMD16<Float>) -> SIMD8<Float> { v.evenHalf }
@inline(__always) func oddLanes(_ v: SIMD16<Float>) -> SIMD8<Float> { v.oddHalf }

/// even[0], odd[0], even[1], odd[1], … to p[0 ..< count] (count ≤ twice the lanes): the inverse of
/// evenLanes/oddLanes, as two vectors of the input's width, each built lane by lane with the initializer LLVM folds
/// into a two-register shuffle. Not inlined: where the lanes came straight from loads, LLVM turned the shuffles into
/// 4-lane gathers from the loads' addresses (and SIMD32's evenHalf/oddHalf setters into lane-by-lane code); behind
/// a call they stay two vpermt2ps on registers.
@inline(never)
func storeInterleaved(_ even: SIMD16<Float>, _ odd: SIMD16<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    let low = SIMD16(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3],
                     even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
    if count <= 16 { storePrefix(low, to: p, count: count); return }
    let high = SIMD16(even[8], odd[8], even[9], odd[9], even[10], odd[10], even[11], odd[11],
                      even[12], odd[12], even[13], odd[13], even[14], odd[14], even[15], odd[15])
    UnsafeMutableRawPointer(p).storeBytes(of: low, as: SIMD16<Float>.self)
    storePrefix(high, to: p + 16, count: count - 16)
}

/// y0[0], y1[0], y2[0], y3[0], y0[1], … to p[0 ..< count] (count ≤ four times the lanes): F(4x4, 3x3)'s output
/// columns. Pairs (y0, y1) and (y2, y3) are interleaved as floats, then the two results as 64-bit pairs.
@inline(never)
func storeInterleaved(_ y0: SIMD16<Float>, _ y1: SIMD16<Float>, _ y2: SIMD16<Float>, _ y3: SIMD16<Float>,
                      to p: UnsafeMutablePointer<Float>, count: Int) {
    typealias Pairs = SIMD8<UInt64>
    @inline(__always) func zip(_ a: SIMD16<Float>, _ b: SIMD16<Float>, from i: Int) -> Pairs {
        unsafeBitCast(SIMD16(a[i], b[i], a[i + 1], b[i + 1], a[i + 2], b[i + 2], a[i + 3], b[i + 3],
                             a[i + 4], b[i + 4], a[i + 5], b[i + 5], a[i + 6], b[i + 6], a[i + 7], b[i + 7]), to: Pairs.self)
    }
    @inline(__always) func zip(_ a: Pairs, _ b: Pairs, from i: Int) -> SIMD16<Float> {
        unsafeBitCast(Pairs(a[i], b[i], a[i + 1], b[i + 1], a[i + 2], b[i + 2], a[i + 3], b[i + 3]), to: SIMD16<Float>.self)
    }
    let low01 = zip(y0, y1, from: 0), low23 = zip(y2, y3, from: 0), high01 = zip(y0, y1, from: 8), high23 = zip(y2, y3, from: 8)
    storePrefix(zip(low01, low23, from: 0), to: p, count: min(16, count))
    if count > 16 { storePrefix(zip(low01, low23, from: 4), to: p + 16, count: min(16, count - 16)) }
    if count > 32 { storePrefix(zip(high01, high23, from: 0), to: p + 32, count: min(16, count - 32)) }
    if count > 48 { storePrefix(zip(high01, high23, from: 4), to: p + 48, count: min(16, count - 48)) }
}

@inline(never)
func storeInterleaved(_ y0: SIMD8<Float>, _ y1: SIMD8<Float>, _ y2: SIMD8<Float>, _ y3: SIMD8<Float>,
                      to p: UnsafeMutablePointer<Float>, count: Int) {
    typealias Pairs = SIMD4<UInt64>
    @inline(__always) func zip(_ a: SIMD8<Float>, _ b: SIMD8<Float>, from i: Int) -> Pairs {
        unsafeBitCast(SIMD8(a[i], b[i], a[i + 1], b[i + 1], a[i + 2], b[i + 2], a[i + 3], b[i + 3]), to: Pairs.self)
    }
    @inline(__always) func zip(_ a: Pairs, _ b: Pairs, from i: Int) -> SIMD8<Float> {
        unsafeBitCast(Pairs(a[i], b[i], a[i + 1], b[i + 1]), to: SIMD8<Float>.self)
    }
    let low01 = zip(y0, y1, from: 0), low23 = zip(y2, y3, from: 0), high01 = zip(y0, y1, from: 4), high23 = zip(y2, y3, from: 4)
    storePrefix(zip(low01, low23, from: 0), to: p, count: min(8, count))
    if count > 8 { storePrefix(zip(low01, low23, from: 2), to: p + 8, count: min(8, count - 8)) }
    if count > 16 { storePrefix(zip(high01, high23, from: 0), to: p + 16, count: min(8, count - 16)) }
    if count > 24 { storePrefix(zip(high01, high23, from: 2), to: p + 24, count: min(8, count - 24)) }
}

@inline(never)
func storeInterleaved(_ even: SIMD8<Float>, _ odd: SIMD8<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    let low = SIMD8(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3])
    if count <= 8 { storePrefix(low, to: p, count: count); return }
    let high = SIMD8(even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
    UnsafeMutableRawPointer(p).storeBytes(of: low, as: SIMD8<Float>.self)
    storePrefix(high, to: p + 8, count: count - 8)
}
