import Foundation

/// A labelled matrix of values in [−1, 1] (or any range) drawn as a colored grid with the values
/// printed in the cells, as a standalone SVG file.
///
/// ```swift
/// let map = HeatMap(title: "Cosine similarity", labels: sentences, values: matrix)
/// try map.write(to: "similarity.svg")
/// ```
public struct HeatMap {
    /// The title drawn above the grid.
    public var title: String
    /// The row and column labels (the matrix is square).
    public var labels: [String]
    /// `values[i][j]`, one row per label.
    public var values: [[Double]]
    /// The value drawn white and the one drawn in full color.
    public var range: ClosedRange<Double>

    /// Creates a heat map.
    public init(title: String, labels: [String], values: [[Double]], range: ClosedRange<Double> = 0...1) {
        precondition(values.count == labels.count && values.allSatisfy { $0.count == labels.count },
                     "HeatMap: values must be \(labels.count) × \(labels.count) for \(labels.count) labels")
        self.title = title
        self.labels = labels
        self.values = values
        self.range = range
    }

    /// The SVG document.
    public func svg() -> String {
        let cell = 56.0, labelWidth = 380.0, top = 60.0, left = labelWidth + 10
        let n = Double(labels.count)
        let width = left + n * cell + 20, height = top + n * cell + 30
        func shortened(_ text: String) -> String { text.count > 56 ? String(text.prefix(54)) + "…" : text }
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2))" y="24" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for (j, _) in labels.enumerated() {
            out += "<text x=\"\(fmt(left + (Double(j) + 0.5) * cell))\" y=\"\(fmt(top - 8))\" text-anchor=\"middle\">\(j + 1)</text>\n"
        }
        for (i, label) in labels.enumerated() {
            let y = top + Double(i) * cell
            out += "<text x=\"\(fmt(left - 8))\" y=\"\(fmt(y + cell / 2 + 4))\" text-anchor=\"end\">\(i + 1). \(escape(shortened(label)))</text>\n"
            for (j, value) in values[i].enumerated() {
                let t = Swift.max(0, Swift.min(1, (value - range.lowerBound) / (range.upperBound - range.lowerBound)))
                // White to a dark blue; text turns white on dark cells.
                let (r, g, b) = (Int(255 - 225 * t), Int(255 - 175 * t), Int(255 - 75 * t))
                let x = left + Double(j) * cell
                out += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(cell))\" height=\"\(fmt(cell))\" fill=\"rgb(\(r),\(g),\(b))\" stroke=\"white\"/>\n"
                out += "<text x=\"\(fmt(x + cell / 2))\" y=\"\(fmt(y + cell / 2 + 4))\" text-anchor=\"middle\" fill=\"\(t > 0.55 ? "white" : "black")\">\(String(format: "%.2f", value))</text>\n"
            }
        }
        out += "</svg>\n"
        return out
    }

    /// Writes the SVG atomically.
    public func write(to path: String) throws {
        try writeAtomically(svg(), to: path)
    }
}
