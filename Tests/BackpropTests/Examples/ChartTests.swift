import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ExampleSupport

/// Parses an SVG document as XML and counts its elements by name.
private final class ElementCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var rootName: String?
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        if rootName == nil { rootName = name }
        counts[name, default: 0] += 1
    }
}

private func parse(_ svg: String) -> (ok: Bool, counter: ElementCounter) {
    let parser = XMLParser(data: Data(svg.utf8))
    let counter = ElementCounter()
    parser.delegate = counter
    return (parser.parse(), counter)
}

@Suite("Example charts")
struct ChartTests {
    @Test("A line chart is well-formed SVG with axes, one line per series and a legend")
    func lineChartIsValidSVG() {
        var chart = LineChart(title: "loss & <accuracy>", xLabel: "step", yLabel: "loss")
        chart.add(Series(name: "pre-norm", values: [3, 2.5, 2.1, 1.9]))
        chart.add(Series(name: "post-norm", values: [3, 2.9, .nan, 2.2], dashed: true))
        let (ok, counter) = parse(chart.svg())
        #expect(ok)
        #expect(counter.rootName == "svg")
        #expect(counter.counts["polyline"] == 2)
        // title, axis labels, tick labels and two legend entries
        #expect((counter.counts["text"] ?? 0) >= 2 + 3 + 2)
    }

    @Test("A logarithmic chart drops non-positive values and stays valid")
    func logarithmicChart() {
        var chart = LineChart(title: "gradients", xLabel: "layer", yLabel: "norm", logarithmicY: true)
        chart.add(Series(name: "none", values: [1e-25, 1e-10, 0, 1]))
        let (ok, counter) = parse(chart.svg())
        #expect(ok)
        #expect(counter.counts["polyline"] == 1)
    }

    @Test("A decision map has one cell per grid point and one circle per data point")
    func decisionMap() {
        let map = DecisionMap(title: "t", extent: 1, resolution: 4, grid: Array(repeating: 1, count: 16),
                              points: [(0, 0, 0), (0.5, -0.5, 1)], classNames: ["a", "b"])
        let (ok, counter) = parse(map.svg())
        #expect(ok)
        #expect(counter.counts["circle"] == 2)
        #expect((counter.counts["rect"] ?? 0) == 16 + 1 + 1 + 2)   // cells, background, frame, legend
    }

    @Test("Tick values are round and cover the range")
    func ticks() {
        let ticks = LineChart.ticks(from: 0, to: 1)
        #expect(ticks.count == 6)
        #expect(zip(ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
        #expect(LineChart.ticks(from: 3, to: 47).first == 10)
    }
}
