// Single-precision GEMM over a left operand packed once: C[M x N] (+)= A[M x K] · B[K x N].
//
// The loop structure is Goto & van de Geijn's ("Anatomy of High-Performance Matrix Multiplication",
// ACM TOMS 34(3), 2008) as BLIS lays it out (Van Zee & van de Geijn, ACM TOMS 41(3), 2015):
//   for each block of ≤ columnBlock columns of B and C          (jc; the packed B block lives in L2/L3)
//     for each block of ≤ depthBlock rows of B (= columns of A)  (pc; packs B[pc, jc] once)
//       for each block of rowBlock rows of A                     (ic; its packed panels stay in L2)
//         for each 16-column panel of the packed B block         (jr; 16 · kc floats stay in L1)
//           for each 6-row panel of A in the block               (ir)
//             micro-kernel: a 6 x 16 tile of C in 12 AVX registers, kc rank-1 updates
// A is a convolution's weights (or Winograd-transformed filters): it is packed once, when the layer is
// first run, into 6-row panels per depth block (`PackedMatrix`). OpenBLAS repacks A on every call, which
// cost ~12% of a ResNet-50 pass and much more on late layers with few pixels, where A is large.
// B (im2col columns, input planes or Winograd tiles) is packed per call into 16-column panels.
//
// Each element of C is the sum over k in ascending order: in registers within a depth block, then
// added to C block after block. The depth blocks depend on K only, so the result does not depend on how
// a caller splits rows or columns across threads, nor on N. Edge tiles (fewer than 6 rows or 16
// columns) are computed in full over zero padding and only their valid part is stored.

import Foundation

/// Micro-kernel and cache-block sizes (AVX2 / AVX-512 machines with ≥ 32 KiB L1 and ≥ 512 KiB L2).
enum GemmBlocking {
    static let panelRows = 6
    static let panelColumns = 16
    /// A last panel of at most this many columns is packed and multiplied 8 wide (a 7x7 plane's 49
    /// pixels are 3 panels of 16 and one of 8, not 4 of 16).
    static let narrowColumns = 8
    static let maximumDepthBlock = 256
    static let rowBlockPanels = 24          // 144 rows: 24 · 6 · 256 floats = 144 KiB of A in L2
    static let columnBlock = 2048

    /// K split into nearly equal blocks of at most maximumDepthBlock, each a multiple of 8 but the last.
    static func depthBlocks(_ depth: Int) -> [Range<Int>] {
        let count = max(1, (depth + maximumDepthBlock - 1) / maximumDepthBlock)
        let size = ((depth + count - 1) / count + 7) / 8 * 8
        return stride(from: 0, to: max(depth, 1), by: size).map { $0..<min(depth, $0 + size) }
    }

    /// Floats of workspace one `packedGemm` call with `columns` columns needs.
    static func workspaceCount(columns: Int) -> Int {
        let panels = (min(columns, columnBlock) + panelColumns - 1) / panelColumns
        return maximumDepthBlock * panels * panelColumns + panelRows * panelColumns
    }
}

/// A row-major M x K matrix rearranged for `packedGemm`: for each depth block (pc ..< pc + kc), the
/// ⌈M / 6⌉ panels of 6 rows, each kc x 6 (k-major), rows past M zero. Block pc starts at pc · 6 · panels.
public struct PackedMatrix: Sendable {
    public let rows: Int
    public let depth: Int
    let depthBlocks: [Range<Int>]
    let values: [Float]

    var panelCount: Int { (rows + GemmBlocking.panelRows - 1) / GemmBlocking.panelRows }

    /// Packs A (rows x depth, leading dimension lda).
    init(_ a: UnsafePointer<Float>, rows: Int, depth: Int, lda: Int) {
        let panelRows = GemmBlocking.panelRows
        let panels = (rows + panelRows - 1) / panelRows
        let blocks = GemmBlocking.depthBlocks(depth)
        var values = [Float](repeating: 0, count: panels * panelRows * depth)
        values.withUnsafeMutableBufferPointer { buffer in
            var destination = buffer.baseAddress!
            for block in blocks {
                for panel in 0..<panels {
                    for k in block {
                        for r in 0..<panelRows {
                            let row = panel * panelRows + r
                            if row < rows { destination[r] = a[row * lda + k] }
                        }
                        destination += panelRows
                    }
                }
            }
        }
        self.rows = rows
        self.depth = depth
        self.depthBlocks = blocks
        self.values = values
    }

    init(_ a: [Float], rows: Int, depth: Int) {
        precondition(a.count >= rows * depth, "PackedMatrix: \(a.count) values for \(rows) x \(depth)")
        self = a.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, rows: rows, depth: depth, lda: depth) }
    }
}

/// C[rows x n] = A[rows, 0..<K] · B[K x n] (+ C when accumulate); `rows` must start on a 6-row panel.
/// c points at C's element (rows.lowerBound, 0); workspace holds GemmBlocking.workspaceCount(columns: n) floats.
func packedGemm(_ a: PackedMatrix, rows: Range<Int>, columns n: Int, b: UnsafePointer<Float>, ldb: Int,
                c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, workspace: UnsafeMutablePointer<Float>) {
    let panelRows = GemmBlocking.panelRows, panelColumns = GemmBlocking.panelColumns, narrowColumns = GemmBlocking.narrowColumns
    precondition(rows.lowerBound % panelRows == 0 && rows.upperBound <= a.rows, "packedGemm: rows \(rows) of \(a.rows)")
    guard !rows.isEmpty, n > 0 else { return }
    let panels = a.panelCount
    let firstPanel = rows.lowerBound / panelRows, endPanel = (rows.upperBound + panelRows - 1) / panelRows
    let tile = workspace + GemmBlocking.workspaceCount(columns: n) - panelRows * panelColumns
    a.values.withUnsafeBufferPointer { packedBuffer in
        let packed = packedBuffer.baseAddress!
        var jc = 0
        while jc < n {
            let nc = min(GemmBlocking.columnBlock, n - jc)
            for (index, block) in a.depthBlocks.enumerated() {
                let kc = block.count
                let add = accumulate || index > 0
                packColumns(b + block.lowerBound * ldb + jc, ldb: ldb, depth: kc, columns: nc, into: workspace)
                let aBlock = packed + block.lowerBound * panels * panelRows
                var ic = firstPanel
                while ic < endPanel {
                    let icEnd = min(endPanel, ic + GemmBlocking.rowBlockPanels)
                    var jr = 0
                    while jr < nc {
                        let bPanel = UnsafePointer(workspace + jr * kc)
                        let width = min(panelColumns, nc - jr)
                        let narrow = width <= narrowColumns   // the last panel, 8 wide: the 6 x 8 kernel
                        let kernel = narrow ? gemmNarrowKernel : gemmMicroKernel
                        let tileColumns = narrow ? narrowColumns : panelColumns
                        for panel in ic..<icEnd {
                            let aPanel = aBlock + panel * kc * panelRows
                            let firstRow = panel * panelRows
                            let height = min(panelRows, rows.upperBound - firstRow)
                            let cTile = c + (firstRow - rows.lowerBound) * ldc + jc + jr
                            if height == panelRows && width == tileColumns {
                                kernel(kc, aPanel, bPanel, cTile, ldc, add)
                            } else {
                                kernel(kc, aPanel, bPanel, tile, tileColumns, false)
                                for r in 0..<height {
                                    let source = tile + r * tileColumns, destination = cTile + r * ldc
                                    if add {
                                        for j in 0..<width { destination[j] += source[j] }
                                    } else {
                                        copyFloats(from: source, to: destination, count: width)
                                    }
                                }
                            }
                        }
                        jr += panelColumns
                    }
                    ic = icEnd
                }
            }
            jc += nc
        }
    }
}

/// B[depth x columns] (leading dimension ldb) → ⌈columns / 16⌉ panels of depth x 16, zero past the last
/// column; a last panel of at most 8 columns is depth x 8. Panel p starts at p · 16 · depth either way.
@inline(__always)
func packColumns(_ b: UnsafePointer<Float>, ldb: Int, depth: Int, columns: Int, into destination: UnsafeMutablePointer<Float>) {
    typealias Lanes = SIMD8<Float>
    let panelColumns = GemmBlocking.panelColumns
    var target = destination
    var j = 0
    while j < columns {
        let width = min(panelColumns, columns - j)
        let stride = width <= GemmBlocking.narrowColumns ? GemmBlocking.narrowColumns : panelColumns
        if width == panelColumns {
            for k in 0..<depth {
                let source = UnsafeRawPointer(b + k * ldb + j)
                let low = source.loadUnaligned(as: Lanes.self)
                let high = source.loadUnaligned(fromByteOffset: 32, as: Lanes.self)
                UnsafeMutableRawPointer(target).storeBytes(of: low, as: Lanes.self)
                UnsafeMutableRawPointer(target).storeBytes(of: high, toByteOffset: 32, as: Lanes.self)
                target += panelColumns
            }
        } else {
            for k in 0..<depth {
                let source = b + k * ldb + j
                for q in 0..<width { target[q] = source[q] }
                for q in width..<stride { target[q] = 0 }
                target += stride
            }
        }
        j += panelColumns
    }
}

/// C[6 x 16] (+)= A panel (depth x 6) · B panel (depth x 16): twelve 8-lane accumulators, one broadcast
/// of A and two loads of B per k (vfmadd231ps where the target has FMA, see Package.swift; each lane is
/// one multiply-add per k, so the sum for an element is the same whatever the vector width).
@inline(never)
func gemmMicroKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias Lanes = GemmLanes
    var c00 = Lanes(), c01 = Lanes(), c10 = Lanes(), c11 = Lanes(), c20 = Lanes(), c21 = Lanes()
    var c30 = Lanes(), c31 = Lanes(), c40 = Lanes(), c41 = Lanes(), c50 = Lanes(), c51 = Lanes()
    var pa = a, pb = b
    // One k: two vectors of B, six broadcasts of A, twelve multiply-adds.
    @inline(__always) func rankOneUpdate() {
        let b0 = load(pb), b1 = load(pb + 8)
        var s = Lanes(repeating: pa[0]); c00 = multiplyAdd(c00, s, b0); c01 = multiplyAdd(c01, s, b1)
        s = Lanes(repeating: pa[1]); c10 = multiplyAdd(c10, s, b0); c11 = multiplyAdd(c11, s, b1)
        s = Lanes(repeating: pa[2]); c20 = multiplyAdd(c20, s, b0); c21 = multiplyAdd(c21, s, b1)
        s = Lanes(repeating: pa[3]); c30 = multiplyAdd(c30, s, b0); c31 = multiplyAdd(c31, s, b1)
        s = Lanes(repeating: pa[4]); c40 = multiplyAdd(c40, s, b0); c41 = multiplyAdd(c41, s, b1)
        s = Lanes(repeating: pa[5]); c50 = multiplyAdd(c50, s, b0); c51 = multiplyAdd(c51, s, b1)
        pa += 6; pb += 16
    }
    var remaining = depth
    while remaining >= 4 {   // unrolled by four: less loop overhead between the multiply-adds
        rankOneUpdate(); rankOneUpdate(); rankOneUpdate(); rankOneUpdate()
        remaining -= 4
    }
    while remaining > 0 {
        rankOneUpdate()
        remaining -= 1
    }
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc
    if accumulate {
        c00 += load(c); c01 += load(c + 8); c10 += load(r1); c11 += load(r1 + 8)
        c20 += load(r2); c21 += load(r2 + 8); c30 += load(r3); c31 += load(r3 + 8)
        c40 += load(r4); c41 += load(r4 + 8); c50 += load(r5); c51 += load(r5 + 8)
    }
    store(c00, c); store(c01, c + 8); store(c10, r1); store(c11, r1 + 8)
    store(c20, r2); store(c21, r2 + 8); store(c30, r3); store(c31, r3 + 8)
    store(c40, r4); store(c41, r4 + 8); store(c50, r5); store(c51, r5 + 8)
}

/// C[6 x 8] (+)= A panel (depth x 6) · B panel (depth x 8): the micro-kernel for a last panel of at most
/// 8 columns; six accumulators, the same multiply-add per k and lane as gemmMicroKernel.
@inline(never)
func gemmNarrowKernel(depth: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    typealias Lanes = GemmLanes
    var c0 = Lanes(), c1 = Lanes(), c2 = Lanes(), c3 = Lanes(), c4 = Lanes(), c5 = Lanes()
    var pa = a, pb = b
    for _ in 0..<depth {
        let b0 = load(pb)
        c0 = multiplyAdd(c0, Lanes(repeating: pa[0]), b0); c1 = multiplyAdd(c1, Lanes(repeating: pa[1]), b0)
        c2 = multiplyAdd(c2, Lanes(repeating: pa[2]), b0); c3 = multiplyAdd(c3, Lanes(repeating: pa[3]), b0)
        c4 = multiplyAdd(c4, Lanes(repeating: pa[4]), b0); c5 = multiplyAdd(c5, Lanes(repeating: pa[5]), b0)
        pa += 6; pb += 8
    }
    let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc
    if accumulate {
        c0 += load(c); c1 += load(r1); c2 += load(r2); c3 += load(r3); c4 += load(r4); c5 += load(r5)
    }
    store(c0, c); store(c1, r1); store(c2, r2); store(c3, r3); store(c4, r4); store(c5, r5)
}

typealias GemmLanes = SIMD8<Float>

@inline(__always)
private func load(_ pointer: UnsafePointer<Float>) -> GemmLanes { UnsafeRawPointer(pointer).loadUnaligned(as: GemmLanes.self) }

@inline(__always)
private func store(_ value: GemmLanes, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: GemmLanes.self)
}

/// sum + x · y per lane: one fused multiply-add where the target has FMA (Package.swift's CARCINOMA_FMA),
/// a multiply and an add otherwise (rather than a call to fmaf per lane).
@inline(__always)
private func multiplyAdd(_ sum: GemmLanes, _ x: GemmLanes, _ y: GemmLanes) -> GemmLanes {
    #if CARCINOMA_FMA
    return sum.addingProduct(x, y)
    #else
    return sum + x * y
    #endif
}
