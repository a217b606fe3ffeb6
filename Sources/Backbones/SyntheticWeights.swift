// Deterministic synthetic weights: the same numbers in Swift and in Python
// (scripts/fixtures/synthetic_weights.py), so real architectures are checked at
// full size against torchvision without committing a weight file.
//
// Spec (version 1), per state_dict tensor, from its name and shape alone:
//   seed   = FNV-1a 64 of the name's UTF-8 bytes
//   z_i    = SplitMix64 output i (i = 0, 1, …) seeded with `seed`
//   u_i    = (z_i >> 11) * 2^-53                        (Double in [0, 1))
//   value  = name ends in "running_var"        → 0.5 + u
//            name ends in "running_mean"       → (2u − 1) · 0.1
//            name ends in "num_batches_tracked"→ 0
//            name ends in "bias"               → (2u − 1) · 0.1
//            1-D "weight" (batch-norm scale)   → 0.5 + u
//            otherwise (conv / linear weight)  → (2u − 1) · sqrt(3 / fanIn), fanIn = product of shape[1...]
//   computed in Double, rounded once to Float32.

import Weights

public enum SyntheticWeights {
    public static let specVersion = 1

    /// A store that answers every tensor request with its synthetic values.
    public static func store() -> WeightStore {
        WeightStore(source: "synthetic weights v\(specVersion)") { key, shape in values(name: key, shape: shape) }
    }

    public static func seed(of name: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    public static func values(name: String, shape: [Int]) -> [Float] {
        let count = shape.reduce(1, *)
        var state = seed(of: name)
        let transform: (Double) -> Double
        if name.hasSuffix("running_var") {
            transform = { 0.5 + $0 }
        } else if name.hasSuffix("running_mean") {
            transform = { (2 * $0 - 1) * 0.1 }
        } else if name.hasSuffix("num_batches_tracked") {
            transform = { _ in 0 }
        } else if name.hasSuffix("bias") {
            transform = { (2 * $0 - 1) * 0.1 }
        } else if shape.count == 1 {
            transform = { 0.5 + $0 }
        } else {
            let fanIn = Double(shape.dropFirst().reduce(1, *))
            let scale = (3 / fanIn).squareRoot()
            transform = { (2 * $0 - 1) * scale }
        }
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            out[i] = Float(transform(Double(z >> 11) * 0x1p-53))
        }
        return out
    }
}
