import Foundation

/// A line chart written as a standalone SVG file: axes with ticks, axis labels, a title and a legend.
///
/// ```swift
/// var chart = LineChart(title: "Training loss", xLabel: "step", yLabel: "loss")
/// chart.add(Series(name: "pre-norm", points: losses.enumerated().map { (Double($0), $1) }))
/// try chart.write(to: "loss.svg")
/// ```
public struct LineChart {
    /// The chart's title, drawn above the plot.
    public var title: String
    /// The label of the horizontal axis.
    public var xLabel: String
    /// The label of the vertical axis.
    public var yLabel: String
    /// Whether the vertical axis is logarithmic (base 10); non-positive values are dropped.
    public var logarithmicY: Bool
    /// The series, drawn in order.
    public private(set) var series: [Series] = []
    /// Width and height of the image in pixels.
    public var size: (width: Double, height: Double) = (760, 440)

    /// Creates an empty chart.
    public init(title: String, xLabel: String, yLabel: String, logarithmicY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logarithmicY = logarithmicY
    }

    /// Adds a series.
    public mutating func add(_ s: Series) { series.append(s) }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// The SVG document.
    public func svg() -> String {
        let (width, height) = size
        let left = 72.0, right = 200.0, top = 40.0, bottom = 56.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let transform: (Double) -> Double = { logarithmicY ? Foundation.log10($0) : $0 }
        let points = series.flatMap { $0.points }.filter { $0.x.isFinite && $0.y.isFinite && (!logarithmicY || $0.y > 0) }
        var xMin = points.map(\.x).min() ?? 0, xMax = points.map(\.x).max() ?? 1
        var yMin = points.map { transform($0.y) }.min() ?? 0, yMax = points.map { transform($0.y) }.max() ?? 1
        if xMax <= xMin { xMax = xMin + 1 }
        if yMax <= yMin { yMax = yMin + 1; yMin -= 1 }
        if !logarithmicY {
            let pad = (yMax - yMin) * 0.05
            yMin -= pad; yMax += pad
        } else {
            yMin = yMin.rounded(.down); yMax = yMax.rounded(.up)
        }
        xMin = xMin.isFinite ? xMin : 0
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - (transform(y) - yMin) / (yMax - yMin) * plotHeight }

        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(left + plotWidth / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>
        <rect x="\(fmt(left))" y="\(fmt(top))" width="\(fmt(plotWidth))" height="\(fmt(plotHeight))" fill="none" stroke="#333"/>

        """
        // Ticks and grid lines.
        for x in Self.ticks(from: xMin, to: xMax) {
            let X = px(x)
            out += "<line x1=\"\(fmt(X))\" y1=\"\(fmt(top))\" x2=\"\(fmt(X))\" y2=\"\(fmt(top + plotHeight))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(fmt(X))\" y=\"\(fmt(top + plotHeight + 16))\" text-anchor=\"middle\">\(Self.label(x))</text>\n"
        }
        let decadeStep = Swift.max(1, ((yMax - yMin) / 8).rounded(.up))
        let yTicks: [Double] = logarithmicY ? Array(stride(from: yMin, through: yMax, by: decadeStep)).map { Foundation.pow(10, $0) } : Self.ticks(from: yMin, to: yMax)
        for y in yTicks {
            let Y = py(y)
            out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(Y))\" x2=\"\(fmt(left + plotWidth))\" y2=\"\(fmt(Y))\" stroke=\"#e5e5e5\"/>\n"
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(Y + 4))\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        out += "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(fmt(height - 14))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text x=\"18\" y=\"\(fmt(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(fmt(top + plotHeight / 2)))\">\(escape(yLabel))</text>\n"
        // Lines.
        for (i, s) in series.enumerated() {
            let color = s.color ?? Self.palette[i % Self.palette.count]
            let visible = s.points.filter { $0.x.isFinite && $0.y.isFinite && (!logarithmicY || $0.y > 0) }
            guard !visible.isEmpty else { continue }
            let path = visible.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.8\"\(dash)/>\n"
            if visible.count == 1 {
                out += "<circle cx=\"\(fmt(px(visible[0].x)))\" cy=\"\(fmt(py(visible[0].y)))\" r=\"3\" fill=\"\(color)\"/>\n"
            }
        }
        // Legend.
        for (i, s) in series.enumerated() {
            let color = s.color ?? Self.palette[i % Self.palette.count]
            let y = top + 10 + Double(i) * 18
            let x = left + plotWidth + 14
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(y))\" x2=\"\(fmt(x + 22))\" y2=\"\(fmt(y))\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>\n"
            out += "<text x=\"\(fmt(x + 28))\" y=\"\(fmt(y + 4))\">\(escape(s.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    /// Writes the SVG atomically (a temporary file, then a rename).
    public func write(to path: String) throws {
        try writeAtomically(svg(), to: path)
    }

    /// About five round tick values covering `[low, high]`.
    static func ticks(from low: Double, to high: Double) -> [Double] {
        let span = high - low
        guard span > 0, span.isFinite else { return [low] }
        let raw = span / 5
        let magnitude = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var ticks: [Double] = []
        var t = (low / step).rounded(.up) * step
        while t <= high + step * 1e-9 {
            ticks.append(Swift.abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return ticks
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = Swift.abs(v)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.0e", v) }
        if v == v.rounded() { return String(Int(v)) }
        return String(format: a < 1 ? "%.3g" : "%.4g", v)
    }
}

/// One line of a chart.
public struct Series {
    /// The name shown in the legend.
    public var name: String
    /// The points, in drawing order.
    public var points: [(x: Double, y: Double)]
    /// A CSS color; the palette is used when nil.
    public var color: String?
    /// Draw with dashes.
    public var dashed: Bool

    /// Creates a series.
    public init(name: String, points: [(x: Double, y: Double)], color: String? = nil, dashed: Bool = false) {
        self.name = name
        self.points = points
        self.color = color
        self.dashed = dashed
    }

    /// A series of values at x = 1, 2, 3, ….
    public init(name: String, values: [Double], color: String? = nil, dashed: Bool = false) {
        self.init(name: name, points: values.enumerated().map { (Double($0.offset + 1), $0.element) }, color: color, dashed: dashed)
    }
}

func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}

/// Writes text to `path` atomically: a temporary file in the same directory, then a rename, so a
/// reader never sees a half-written file and an existing file is replaced only by a complete one.
public func writeAtomically(_ text: String, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url, options: .atomic)
}
