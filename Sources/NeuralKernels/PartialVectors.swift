// The first `count` lanes of a vector, stored or loaded at a row's or a plane's tail, in one access per set bit
// of `count`, widest first (7 lanes are 4 + 2 + 1, 14 are 8 + 4 + 2), never touching memory past `count`: each
// width splits into its halves down to four lanes, then two and one.
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
    if count >= 4 {
        UnsafeMutableRawPointer(p).storeBytes(of: value.lowHalf, as: SIMD4<Float>.self)
        storePrefix(value.highHalf, to: p + 4, count: count - 4)
    } else {
        storePrefix(value.lowHalf, to: p, count: count)
    }
}

/// Writes lanes 0 ..< count (0 ≤ count ≤ 4) of `value` to p[0 ..< count].
@inline(always)
func storePrefix(_ value: SIMD4<Float>, to p: UnsafeMutablePointer<Float>, count: Int) {
    if count >= 4 { UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD4<Float>.self); return }
    if count >= 2 {
        UnsafeMutableRawPointer(p).storeBytes(of: value.lowHalf, as: SIMD2<Float>.self)
        if count == 3 { p[2] = value[2] }
    } else if count == 1 {
        p[0] = value[0]
    }
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
    if count >= 4 {
        return SIMD8(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self),
                     highHalf: loadPrefix(p + 4, count: count - 4))
    }
    return SIMD8(lowHalf: loadPrefix(p, count: count), highHalf: SIMD4())
}

/// p[0 ..< count] (0 ≤ count ≤ 4) in lanes 0 ..< count, zeros after.
@inline(always)
func loadPrefix(_ p: UnsafePointer<Float>, count: Int) -> SIMD4<Float> {
    if count >= 4 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self) }
    if count >= 2 { return SIMD4(lowHalf: UnsafeRawPointer(p).loadUnaligned(as: SIMD2<Float>.self), highHalf: SIMD2(count == 3 ? p[2] : 0, 0)) }
    return SIMD4(count == 1 ? p[0] : 0, 0, 0, 0)
}
