/// Eight `Double` accumulator lanes with a fixed summation order, kept as plain stored values
/// (8-byte aligned, unlike `SIMD8<Double>`, which closure contexts and dispatch stacks need not
/// align to 64 bytes); the optimizer turns the lane-wise operations into vector instructions.
struct Lanes8 {
    var v0 = 0.0, v1 = 0.0, v2 = 0.0, v3 = 0.0, v4 = 0.0, v5 = 0.0, v6 = 0.0, v7 = 0.0

    init() {}

    @inline(__always)
    init(_ a0: Double, _ a1: Double, _ a2: Double, _ a3: Double, _ a4: Double, _ a5: Double, _ a6: Double, _ a7: Double) {
        (v0, v1, v2, v3, v4, v5, v6, v7) = (a0, a1, a2, a3, a4, a5, a6, a7)
    }

    @inline(__always)
    init(repeating value: Double) { self.init(value, value, value, value, value, value, value, value) }

    @inline(__always)
    subscript(lane: Int) -> Double {
        get {
            switch lane {
            case 0: v0
            case 1: v1
            case 2: v2
            case 3: v3
            case 4: v4
            case 5: v5
            case 6: v6
            default: v7
            }
        }
        set {
            switch lane {
            case 0: v0 = newValue
            case 1: v1 = newValue
            case 2: v2 = newValue
            case 3: v3 = newValue
            case 4: v4 = newValue
            case 5: v5 = newValue
            case 6: v6 = newValue
            default: v7 = newValue
            }
        }
    }

    /// The lanes below `count` kept, the others set to zero.
    @inline(__always)
    func masked(lanes count: Int) -> Lanes8 {
        var result = Lanes8()
        for lane in 0..<count { result[lane] = self[lane] }
        return result
    }

    /// ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)).
    @inline(__always)
    func sum() -> Double { ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)) }

    @inline(__always)
    static func + (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 + b.v0, a.v1 + b.v1, a.v2 + b.v2, a.v3 + b.v3, a.v4 + b.v4, a.v5 + b.v5, a.v6 + b.v6, a.v7 + b.v7)
    }

    @inline(__always)
    static func - (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 - b.v0, a.v1 - b.v1, a.v2 - b.v2, a.v3 - b.v3, a.v4 - b.v4, a.v5 - b.v5, a.v6 - b.v6, a.v7 - b.v7)
    }

    @inline(__always)
    static func * (a: Lanes8, b: Lanes8) -> Lanes8 {
        Lanes8(a.v0 * b.v0, a.v1 * b.v1, a.v2 * b.v2, a.v3 * b.v3, a.v4 * b.v4, a.v5 * b.v5, a.v6 * b.v6, a.v7 * b.v7)
    }

    @inline(__always)
    static func += (a: inout Lanes8, b: Lanes8) { a = a + b }
}
