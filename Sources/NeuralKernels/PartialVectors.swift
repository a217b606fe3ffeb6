// The first `count` lanes of a vector, stored or loaded at a row's or a plane's tail, in one access per set bit
// of `count`, widest first (7 lanes are 4 + 2 + 1, 14 are 8 + 4 + 2), never touching memory past `count`.
// A loop of scalar lane accesses costs up to 16 (or 32) of them per vector; on small planes (Winograd on 14x14,
// where a row has 7 tiles in a 16-lane vector; 3x3 pools; depthwise tails) those loops showed in the profiles.
// Every lane gets the same value either way: only the number of memory accesses changes.

/// Writes lanes 0 ..< count (0 ≤ count ≤ 32) of `value` to p[0 ..< count].
@inline(always)
func storePrefix(_ value: SIMD32<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 32 { UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD32<Float>.self); return }
    if count >= 16 {
        UnsafeMutableRawPointer(p).storeBytes(of: value.lowHalf, as: SIMD16<Float>.self)
        storePrefix(value.highHalf, to: p + 16, count: count - 16)
    } else {
        storePrefix(value.lowHalf, to: p, count: count)
    }
}

/// Writes lanes 0 ..< count (0 ≤ count ≤ 16) of `value` to p[0 ..< count].
@inline(always)
func storePrefix(_ value: SIMD16<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD16<Float>.self); return }
    if count >= 8 {
        UnsafeMutableRawPointer(p).storeBytes(of: value.lowHalf, as: SIMD8<Float>.self)
        storePrefix(value.highHalf, to: p + 8, count: count - 8)
    } else {
        storePrefix(value.lowHalf, to: p, count: count)
    }
}

/// Writes lanes 0 ..< count (0 ≤ count ≤ 8) of `value` to p[0 ..< count].
@inline(always)
func storePrefix(_ value: SIMD8<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self); return }
    var rest = value.lowHalf, q = p
    if count & 4 != 0 {
        UnsafeMutableRawPointer(q).storeBytes(of: rest, as: SIMD4<Float>.self)
        rest = value.highHalf; q += 4
    }
    var pair = rest.lowHalf
    if count & 2 != 0 {
        UnsafeMutableRawPointer(q).storeBytes(of: pair, as: SIMD2<Float>.self)
        pair = rest.highHalf; q += 2
    }
    if count & 1 != 0 { q[0] = pair[0] }
}

/// p[0 ..< count] (0 ≤ count ≤ 16) in lanes 0 ..< count, zeros after.
@inline(always)
func loadPrefix(_ p: UnsafePointer<Float>, count: Int) -> SIMD16<Float> {
    if count >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    if count >= 8 {
        return SIMD16(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self),
                      highHalf: loadPrefix(p + 8, count: count - 8))
    }
    return SIMD16(lowHalf: loadPrefix(p, count: count), highHalf: SIMD8())
}

/// p[0 ..< count] (0 ≤ count ≤ 8) in lanes 0 ..< count, zeros after.
@inline(always)
func loadPrefix(_ p: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    if count >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    var q = p
    var quad = SIMD4<Float>(), pair = SIMD2<Float>(), single: Float = 0
    let hasQuad = count & 4 != 0, hasPair = count & 2 != 0
    if hasQuad { quad = UnsafeRawPointer(q).loadUnaligned(as: SIMD4<Float>.self); q += 4 }
    if hasPair { pair = UnsafeRawPointer(q).loadUnaligned(as: SIMD2<Float>.self); q += 2 }
    if count & 1 != 0 { single = q[0] }
    // Lanes in order: the quad, then the pair, then the single value, then zeros.
    var result = SIMD8<Float>()
    var lane = 0
    if hasQuad { result.lowHalf = quad; lane = 4 }
    if hasPair { result[lane] = pair[0]; result[lane + 1] = pair[1]; lane += 2 }
    if count & 1 != 0 { result[lane] = single }
    return result
}
