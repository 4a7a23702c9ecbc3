import Foundation

/// A 2-D classification picture as SVG: a colored grid of the model's predicted class (the decision
/// regions) with the data points on top, axes and a legend.
public struct DecisionMap {
    /// The title drawn above the plot.
    public var title: String
    /// The plotted square region, `x` and `y` in `[-extent, extent]`.
    public var extent: Double
    /// The predicted class at each grid cell, row-major from the top-left, `resolution × resolution`.
    public var grid: [Int]
    /// Cells per side.
    public var resolution: Int
    /// Points with their true class.
    public var points: [(x: Double, y: Double, label: Int)]
    /// The legend name of each class.
    public var classNames: [String]

    /// Creates a map.
    public init(title: String, extent: Double, resolution: Int, grid: [Int], points: [(x: Double, y: Double, label: Int)], classNames: [String]) {
        self.title = title
        self.extent = extent
        self.resolution = resolution
        self.grid = grid
        self.points = points
        self.classNames = classNames
    }

    /// The center of grid cell `(row, column)` in data coordinates.
    public static func cellCenter(row: Int, column: Int, resolution: Int, extent: Double) -> (x: Double, y: Double) {
        let step = 2 * extent / Double(resolution)
        return (-extent + (Double(column) + 0.5) * step, extent - (Double(row) + 0.5) * step)
    }

    static let regionColors = ["#c6dbef", "#fcbba1", "#c7e9c0", "#fdd0a2", "#dadaeb"]
    static let pointColors = ["#08519c", "#a50f15", "#006d2c", "#a63603", "#54278f"]

    /// The SVG document.
    public func svg() -> String {
        let side = 480.0, left = 56.0, top = 40.0
        let cell = side / Double(resolution)
        func px(_ x: Double) -> Double { left + (x + extent) / (2 * extent) * side }
        func py(_ y: Double) -> Double { top + (extent - y) / (2 * extent) * side }
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(side + left + 150))" height="\(Int(side + top + 50))" font-family="Helvetica, Arial, sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt((side + left + 150) / 2))" y="24" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

        """
        for row in 0..<resolution {
            for column in 0..<resolution {
                let label = grid[row * resolution + column]
                let color = Self.regionColors[label % Self.regionColors.count]
                out += "<rect x=\"\(fmt(left + Double(column) * cell))\" y=\"\(fmt(top + Double(row) * cell))\" width=\"\(fmt(cell + 0.3))\" height=\"\(fmt(cell + 0.3))\" fill=\"\(color)\"/>\n"
            }
        }
        for p in points {
            out += "<circle cx=\"\(fmt(px(p.x)))\" cy=\"\(fmt(py(p.y)))\" r=\"2.6\" fill=\"\(Self.pointColors[p.label % Self.pointColors.count])\"/>\n"
        }
        out += "<rect x=\"\(fmt(left))\" y=\"\(fmt(top))\" width=\"\(fmt(side))\" height=\"\(fmt(side))\" fill=\"none\" stroke=\"#333\"/>\n"
        for t in LineChart.ticks(from: -extent, to: extent) {
            out += "<text x=\"\(fmt(px(t)))\" y=\"\(fmt(top + side + 16))\" text-anchor=\"middle\">\(LineChart.label(t))</text>\n"
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(t) + 4))\" text-anchor=\"end\">\(LineChart.label(t))</text>\n"
        }
        out += "<text x=\"\(fmt(left + side / 2))\" y=\"\(fmt(top + side + 36))\" text-anchor=\"middle\">x₁</text>\n"
        out += "<text x=\"16\" y=\"\(fmt(top + side / 2))\" text-anchor=\"middle\">x₂</text>\n"
        for (i, name) in classNames.enumerated() {
            let y = top + 14 + Double(i) * 20
            out += "<rect x=\"\(fmt(left + side + 16))\" y=\"\(fmt(y - 9))\" width=\"14\" height=\"12\" fill=\"\(Self.regionColors[i % Self.regionColors.count])\" stroke=\"\(Self.pointColors[i % Self.pointColors.count])\"/>\n"
            out += "<text x=\"\(fmt(left + side + 36))\" y=\"\(fmt(y + 1))\">\(escape(name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    /// Writes the SVG atomically.
    public func write(to path: String) throws {
        try writeAtomically(svg(), to: path)
    }
}
