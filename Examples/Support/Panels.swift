import Foundation

/// A row of square panels in one SVG: continuous heat maps of a field on a grid, or scatter plots of
/// points over reference points, each with its own title and a shared axis range.
///
/// ```swift
/// var figure = Panels(title: "u(x, y)", xRange: 0...1, yRange: 0...1)
/// figure.addHeatMap(title: "network", values: u, resolution: 51)
/// try figure.write(to: "pinn.svg")
/// ```
public struct Panels {
    /// The figure's title.
    public var title: String
    /// The plotted horizontal range.
    public var xRange: ClosedRange<Double>
    /// The plotted vertical range.
    public var yRange: ClosedRange<Double>
    /// The side of one panel in pixels.
    public var side = 260.0
    private var panels: [String] = []
    private var legends: [String] = []

    /// Creates an empty figure.
    public init(title: String, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>) {
        self.title = title
        self.xRange = xRange
        self.yRange = yRange
    }

    private func px(_ x: Double, _ left: Double) -> Double {
        left + (x - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * side
    }

    private func py(_ y: Double, _ top: Double) -> Double {
        top + (yRange.upperBound - y) / (yRange.upperBound - yRange.lowerBound) * side
    }

    /// A color from a diverging (signed values) or sequential scale, `t` in [0, 1].
    static func color(_ t: Double, diverging: Bool) -> String {
        let t = Swift.min(Swift.max(t.isFinite ? t : 0, 0), 1)
        let (r, g, b): (Double, Double, Double)
        if diverging {
            // blue (0) – white (0.5) – red (1)
            if t < 0.5 {
                let s = t / 0.5
                (r, g, b) = (0.13 + 0.87 * s, 0.4 + 0.6 * s, 0.8 + 0.2 * s)
            } else {
                let s = (t - 0.5) / 0.5
                (r, g, b) = (1, 1 - 0.8 * s, 1 - 0.85 * s)
            }
        } else {
            // light yellow – orange – dark red
            (r, g, b) = (1 - 0.45 * t, 0.98 - 0.85 * t, 0.8 - 0.75 * t)
        }
        return String(format: "#%02x%02x%02x", Int(r * 255), Int(g * 255), Int(b * 255))
    }

    /// Adds a heat map of `values`, row-major on a `resolution × resolution` grid whose first row is
    /// the top (largest y). The color scale runs over `range` (the values' own range by default);
    /// signed values get a diverging scale centred on 0.
    public mutating func addHeatMap(title: String, values: [Double], resolution: Int, range: ClosedRange<Double>? = nil) {
        let finite = values.filter(\.isFinite)
        var low = range?.lowerBound ?? finite.min() ?? 0, high = range?.upperBound ?? finite.max() ?? 1
        let diverging = low < 0 && high > 0
        if diverging { let m = Swift.max(-low, high); (low, high) = (-m, m) }
        if high <= low { high = low + 1 }
        let cell = side / Double(resolution)
        var out = ""
        for row in 0..<resolution {
            for column in 0..<resolution {
                let t = (values[row * resolution + column] - low) / (high - low)
                out += "<rect x=\"\(fmt(Double(column) * cell))\" y=\"\(fmt(Double(row) * cell))\" width=\"\(fmt(cell + 0.4))\" height=\"\(fmt(cell + 0.4))\" fill=\"\(Self.color(t, diverging: diverging))\"/>\n"
            }
        }
        panels.append(out)
        legends.append("\(title) [\(LineChart.label(low)), \(LineChart.label(high))]")
    }

    /// Adds a scatter plot of `points` (dark) over `references` (light crosses, for example the data).
    public mutating func addScatter(title: String, points: [(x: Double, y: Double)], references: [(x: Double, y: Double)] = []) {
        var out = ""
        for r in references where xRange.contains(r.x) && yRange.contains(r.y) {
            out += "<circle cx=\"\(fmt(px(r.x, 0)))\" cy=\"\(fmt(py(r.y, 0)))\" r=\"2.2\" fill=\"#9ecae1\" fill-opacity=\"0.6\"/>\n"
        }
        for p in points where xRange.contains(p.x) && yRange.contains(p.y) {
            out += "<circle cx=\"\(fmt(px(p.x, 0)))\" cy=\"\(fmt(py(p.y, 0)))\" r=\"1.6\" fill=\"#a50f15\" fill-opacity=\"0.55\"/>\n"
        }
        panels.append(out)
        legends.append(title)
    }

    /// The SVG document.
    public func svg() -> String {
        let gap = 28.0, left = 40.0, top = 52.0
        let width = left + Double(panels.count) * (side + gap) + 10
        let height = top + side + 48
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

        """
        for (i, panel) in panels.enumerated() {
            let x0 = left + Double(i) * (side + gap)
            out += "<text x=\"\(fmt(x0 + side / 2))\" y=\"\(fmt(top - 8))\" text-anchor=\"middle\">\(escape(legends[i]))</text>\n"
            out += "<g transform=\"translate(\(fmt(x0)),\(fmt(top)))\">\n\(panel)</g>\n"
            out += "<rect x=\"\(fmt(x0))\" y=\"\(fmt(top))\" width=\"\(fmt(side))\" height=\"\(fmt(side))\" fill=\"none\" stroke=\"#333\"/>\n"
            for t in LineChart.ticks(from: xRange.lowerBound, to: xRange.upperBound) {
                out += "<text x=\"\(fmt(px(t, x0)))\" y=\"\(fmt(top + side + 15))\" text-anchor=\"middle\" font-size=\"10\">\(LineChart.label(t))</text>\n"
            }
            if i == 0 {
                for t in LineChart.ticks(from: yRange.lowerBound, to: yRange.upperBound) {
                    out += "<text x=\"\(fmt(x0 - 5))\" y=\"\(fmt(py(t, top) + 4))\" text-anchor=\"end\" font-size=\"10\">\(LineChart.label(t))</text>\n"
                }
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
