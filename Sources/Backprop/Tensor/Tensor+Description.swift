extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
    /// NumPy-like text: nested brackets of values, with long axes elided (`…`) beyond 6 entries.
    public var description: String {
        if rank == 0 { return "\(scalars.first.map(Tensor.format) ?? "[]")" }
        var text = ""
        let strides = self.strides
        func write(axis: Int, offset: Int, indent: Int) {
            let size = shape[axis]
            let visible: [Int] = size > 6 ? [0, 1, 2, -1, size - 3, size - 2, size - 1] : Array(0..<size)
            text += "["
            for (position, i) in visible.enumerated() {
                if position > 0 {
                    text += axis == rank - 1 ? ", " : ",\n" + String(repeating: " ", count: indent + 1)
                }
                if i == -1 { text += "…"; continue }
                if axis == rank - 1 {
                    text += Tensor.format(scalars[offset + i])
                } else {
                    write(axis: axis + 1, offset: offset + i * strides[axis], indent: indent + 1)
                }
            }
            text += "]"
        }
        if count == 0 { return "[]" }
        write(axis: 0, offset: 0, indent: 0)
        return text
    }

    /// The shape and scalar type, then the values: `Tensor<Float> [2, 3]\n[[…]]`.
    public var debugDescription: String {
        "Tensor<\(Scalar.self)> \(shape)\n\(description)"
    }

    static func format(_ value: Scalar) -> String {
        let d = Double(value)
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded() && Swift.abs(d) < 1e15 { return String(Int(d)) + "." }
        let magnitude = Swift.abs(d)
        if magnitude >= 1e-4 && magnitude < 1e6 {
            var s = String(format4: d)
            while s.hasSuffix("0") { s.removeLast() }
            return s
        }
        return "\(value)"
    }
}

extension String {
    /// Formats with four decimals without Foundation (`String(format:)` is unavailable without it).
    init(format4 value: Double) {
        let scaled = (Swift.abs(value) * 10_000).rounded()
        let whole = Int(scaled / 10_000)
        let fraction = Int(scaled) % 10_000
        let fractionText = String(fraction)
        self = (value < 0 ? "-" : "") + "\(whole)." + String(repeating: "0", count: 4 - fractionText.count) + fractionText
    }
}
