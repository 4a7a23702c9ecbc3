import Backprop
import Foundation

/// The mean of the token vectors of each sequence over its real (unpadded) tokens:
/// `e[n] = Σ_l m[n, l]·h[n, l] / max(Σ_l m[n, l], 1e-9)` (sentence-transformers' mean pooling).
///
/// Backward: each real token of sequence `n` receives `g[n] / count[n]`; padding receives 0.
///
/// - Parameters:
///   - hidden: `[N, L, E]`.
///   - attentionMask: `[N][L]`, `true` for real tokens.
/// - Returns: `[N, E]`.
public func meanPooling<Scalar: TensorScalar>(_ hidden: Variable<Scalar>, attentionMask: [[Bool]]) -> Variable<Scalar> {
    precondition(hidden.rank == 3 && attentionMask.count == hidden.shape[0] && attentionMask.allSatisfy { $0.count == hidden.shape[1] },
                 "meanPooling: attentionMask must be [N][L] for hidden states [N, L, E] = \(hidden.shape)")
    let (n, l) = (hidden.shape[0], hidden.shape[1])
    let mask = Tensor<Scalar>(shape: [n, l, 1], scalars: attentionMask.flatMap { $0.map { $0 ? 1 : 0 } })
    let counts = Tensor<Scalar>(shape: [n, 1], scalars: attentionMask.map { Scalar(Swift.max(Double($0.filter { $0 }.count), 1e-9)) })
    return (hidden * Variable(mask)).sum(alongAxes: [1]) / Variable(counts)
}

/// The rows of `x` `[N, E]` scaled to unit Euclidean length: `x / max(‖x‖₂, 1e-12)` (PyTorch's
/// `F.normalize`, sentence-transformers' `Normalize`).
public func l2Normalized<Scalar: TensorScalar>(_ x: Variable<Scalar>) -> Variable<Scalar> {
    precondition(x.rank == 2, "l2Normalized: expected [N, E], got \(x.shape)")
    let norms = x.squared().sum(alongAxes: [1], keepDims: true).sqrt().clamped(to: Scalar(1e-12)...Scalar.greatestFiniteMagnitude)
    return x / norms
}

/// How a sentence encoder turns token vectors into one vector (sentence-transformers' `Pooling`).
public enum SentencePooling: String, Sendable, Equatable {
    /// The mean over real tokens (`pooling_mode_mean_tokens`).
    case mean
    /// The `[CLS]` token's vector (`pooling_mode_cls_token`).
    case classToken
}

/// A sentence-transformers model: tokenizer, BERT encoder, pooling and (optionally) L2
/// normalization, read from its folder (`config.json`, `model.safetensors`, `vocab.txt`,
/// `tokenizer_config.json`, `sentence_bert_config.json`, `1_Pooling/config.json`, `modules.json`).
///
/// ```swift
/// let encoder = try SentenceEncoder<Float>(contentsOfDirectory: "all-MiniLM-L6-v2")
/// let embeddings = encoder.embeddings(["A man is eating food.", "Someone is eating."])   // [2, 384], unit rows
/// ```
public final class SentenceEncoder<Scalar: TensorScalar> {
    /// The tokenizer.
    public let tokenizer: WordPieceTokenizer
    /// The encoder.
    public let model: BERTModel<Scalar>
    /// How token vectors are pooled.
    public let pooling: SentencePooling
    /// Whether embeddings are scaled to unit length.
    public let normalizes: Bool
    /// The longest sequence, special tokens included (`max_seq_length`).
    public let maximumLength: Int

    /// Creates an encoder from its parts.
    public init(tokenizer: WordPieceTokenizer, model: BERTModel<Scalar>, pooling: SentencePooling = .mean, normalizes: Bool = true,
                maximumLength: Int = 512) {
        self.tokenizer = tokenizer
        self.model = model
        self.pooling = pooling
        self.normalizes = normalizes
        self.maximumLength = Swift.min(maximumLength, model.configuration.maximumPositions)
    }

    /// Reads a sentence-transformers (or plain Hugging Face BERT) folder.
    ///
    /// Missing optional files take sentence-transformers' defaults: mean pooling, no
    /// normalization unless `modules.json` lists a `Normalize` module, `max_seq_length` from
    /// `sentence_bert_config.json` or else the model's positions, lower-casing unless
    /// `tokenizer_config.json` says `do_lower_case: false`.
    ///
    /// - Throws: `BERTError`.
    public convenience init(contentsOfDirectory path: String) throws(BERTError) {
        let directory = path.hasSuffix("/") ? path : path + "/"
        let model = try BERTModel<Scalar>(contentsOfDirectory: directory)
        model.eval()
        let tokenizerConfiguration = try Self.jsonObject(directory + "tokenizer_config.json")
        let tokenizer = try WordPieceTokenizer(vocabularyAtPath: directory + "vocab.txt",
                                               lowercases: tokenizerConfiguration?["do_lower_case"] as? Bool ?? true,
                                               stripsAccents: tokenizerConfiguration?["strip_accents"] as? Bool,
                                               splitsCJKCharacters: tokenizerConfiguration?["tokenize_chinese_chars"] as? Bool ?? true)
        guard tokenizer.tokens.count == model.configuration.vocabularySize else {
            throw .invalidVocabulary(reason: "vocab.txt has \(tokenizer.tokens.count) tokens but config.json says vocab_size \(model.configuration.vocabularySize)")
        }
        var pooling = SentencePooling.mean
        if let poolingConfiguration = try Self.jsonObject(directory + "1_Pooling/config.json") {
            let modes = ["pooling_mode_mean_tokens", "pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"]
                .filter { poolingConfiguration[$0] as? Bool == true }
            switch modes {
            case ["pooling_mode_mean_tokens"]: pooling = .mean
            case ["pooling_mode_cls_token"]: pooling = .classToken
            default: throw .invalidConfiguration(path: directory + "1_Pooling/config.json", reason: "pooling modes \(modes) are not implemented (one of mean or cls)")
            }
        }
        var normalizes = false
        if let data = FileManager.default.contents(atPath: directory + "modules.json"),
           let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
            normalizes = modules.contains { ($0["type"] as? String)?.hasSuffix(".Normalize") == true }
        }
        let sentenceConfiguration = try Self.jsonObject(directory + "sentence_bert_config.json")
        let maximumLength = sentenceConfiguration?["max_seq_length"] as? Int ?? model.configuration.maximumPositions
        self.init(tokenizer: tokenizer, model: model, pooling: pooling, normalizes: normalizes, maximumLength: maximumLength)
    }

    /// A JSON object file, or `nil` when there is no such file.
    private static func jsonObject(_ path: String) throws(BERTError) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw .invalidConfiguration(path: path, reason: "not a JSON object")
        }
        return object
    }

    /// Tokenizes texts into one padded batch (truncated to `maximumLength`).
    public func tokenize(_ texts: [String]) -> TokenizedBatch {
        tokenizer.encode(texts, maximumLength: maximumLength)
    }

    /// The sentence embeddings `[N, E]` of a batch, recorded on `tape` (for fine-tuning) or
    /// computed as constants when `tape` is `nil`.
    public func embeddings(of batch: TokenizedBatch, on tape: Tape<Scalar>? = nil) -> Variable<Scalar> {
        let hidden = model(batch, on: tape)
        let pooled: Variable<Scalar> = switch pooling {
        case .mean: meanPooling(hidden, attentionMask: batch.attentionMask)
        case .classToken: hidden.slice(alongAxis: 1, range: 0..<1).reshaped(to: [hidden.shape[0], hidden.shape[2]])
        }
        return normalizes ? l2Normalized(pooled) : pooled
    }

    /// The sentence embeddings `[N, E]` of texts, without recording anything.
    public func embeddings(_ texts: [String]) -> Tensor<Scalar> {
        withoutGradients { embeddings(of: tokenize(texts)).value }
    }
}

/// The cosine similarity of every pair of rows of `a` `[N, E]` and `b` `[M, E]`, `[N, M]`.
public func cosineSimilarities<Scalar: TensorScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Tensor<Scalar> {
    precondition(a.rank == 2 && b.rank == 2 && a.shape[1] == b.shape[1], "cosineSimilarities: expected [N, E] and [M, E], got \(a.shape) and \(b.shape)")
    func unit(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        let norms = (x * x).sum(alongAxes: [1], keepDims: true).sqrt()
        return x / Tensor(shape: norms.shape, scalars: norms.scalars.map { Swift.max($0, Scalar(1e-12)) })
    }
    return unit(a).matmul(unit(b).transposed())
}
