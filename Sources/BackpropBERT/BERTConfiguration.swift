import Foundation

/// The architecture of a BERT-family encoder, as Hugging Face's `config.json` describes it.
public struct BERTConfiguration: Sendable, Equatable, Codable {
    /// Tokens in the vocabulary.
    public var vocabularySize: Int
    /// The model width `E` (`hidden_size`).
    public var hiddenSize: Int
    /// Encoder layers.
    public var layerCount: Int
    /// Attention heads per layer; must divide `hiddenSize`.
    public var headCount: Int
    /// The feed-forward width (`intermediate_size`).
    public var intermediateSize: Int
    /// The feed-forward nonlinearity: `"gelu"` (exact, erf) or `"gelu_new"`/`"gelu_pytorch_tanh"` (tanh form), or `"relu"`.
    public var hiddenActivation: String
    /// ε of every LayerNorm.
    public var layerNormEps: Double
    /// The number of learned positions.
    public var maximumPositions: Int
    /// The number of token types (segments).
    public var tokenTypeCount: Int
    /// Dropout after the embeddings, the attention output and the feed-forward output.
    public var hiddenDropout: Double
    /// Dropout on the attention weights.
    public var attentionDropout: Double
    /// The padding token's id.
    public var paddingTokenID: Int

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", hiddenSize = "hidden_size", layerCount = "num_hidden_layers"
        case headCount = "num_attention_heads", intermediateSize = "intermediate_size", hiddenActivation = "hidden_act"
        case layerNormEps = "layer_norm_eps", maximumPositions = "max_position_embeddings", tokenTypeCount = "type_vocab_size"
        case hiddenDropout = "hidden_dropout_prob", attentionDropout = "attention_probs_dropout_prob", paddingTokenID = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type"
    }

    /// Creates a configuration; the defaults are BERT-base's.
    public init(vocabularySize: Int = 30522, hiddenSize: Int = 768, layerCount: Int = 12, headCount: Int = 12,
                intermediateSize: Int = 3072, hiddenActivation: String = "gelu", layerNormEps: Double = 1e-12,
                maximumPositions: Int = 512, tokenTypeCount: Int = 2, hiddenDropout: Double = 0.1, attentionDropout: Double = 0.1,
                paddingTokenID: Int = 0) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.hiddenActivation = hiddenActivation
        self.layerNormEps = layerNormEps
        self.maximumPositions = maximumPositions
        self.tokenTypeCount = tokenTypeCount
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.paddingTokenID = paddingTokenID
    }

    /// Decodes `config.json`; absent optional keys take BERT's defaults, and anything this encoder
    /// does not implement (a position embedding other than `"absolute"`, an unknown activation) is
    /// an error rather than a silently different model.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = BERTConfiguration()
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        hiddenActivation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation) ?? defaults.hiddenActivation
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? defaults.layerNormEps
        maximumPositions = try c.decodeIfPresent(Int.self, forKey: .maximumPositions) ?? defaults.maximumPositions
        tokenTypeCount = try c.decodeIfPresent(Int.self, forKey: .tokenTypeCount) ?? defaults.tokenTypeCount
        hiddenDropout = try c.decodeIfPresent(Double.self, forKey: .hiddenDropout) ?? defaults.hiddenDropout
        attentionDropout = try c.decodeIfPresent(Double.self, forKey: .attentionDropout) ?? defaults.attentionDropout
        paddingTokenID = try c.decodeIfPresent(Int.self, forKey: .paddingTokenID) ?? defaults.paddingTokenID
        if let type = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType), type != "absolute" {
            throw DecodingError.dataCorruptedError(forKey: .positionEmbeddingType, in: c,
                                                   debugDescription: "position_embedding_type '\(type)' is not implemented (only 'absolute')")
        }
    }

    /// Encodes with Hugging Face's keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabularySize, forKey: .vocabularySize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headCount, forKey: .headCount)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(hiddenActivation, forKey: .hiddenActivation)
        try c.encode(layerNormEps, forKey: .layerNormEps)
        try c.encode(maximumPositions, forKey: .maximumPositions)
        try c.encode(tokenTypeCount, forKey: .tokenTypeCount)
        try c.encode(hiddenDropout, forKey: .hiddenDropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(paddingTokenID, forKey: .paddingTokenID)
        try c.encode("absolute", forKey: .positionEmbeddingType)
    }

    /// Reads `config.json`.
    public init(contentsOfPath path: String) throws(BERTError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableFile(path: path, reason: "no such file or permission denied")
        }
        do {
            self = try JSONDecoder().decode(BERTConfiguration.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw .invalidConfiguration(path: path, reason: context.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) {
            throw .invalidConfiguration(path: path, reason: "missing key '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw .invalidConfiguration(path: path, reason: "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw .invalidConfiguration(path: path, reason: "\(error)")
        }
        try validate(path: path)
    }

    /// Checks sizes and the activation.
    func validate(path: String) throws(BERTError) {
        for (name, value) in [("vocab_size", vocabularySize), ("hidden_size", hiddenSize), ("num_hidden_layers", layerCount),
                              ("num_attention_heads", headCount), ("intermediate_size", intermediateSize),
                              ("max_position_embeddings", maximumPositions), ("type_vocab_size", tokenTypeCount)] where value <= 0 {
            throw .invalidConfiguration(path: path, reason: "\(name) \(value) must be positive")
        }
        guard hiddenSize % headCount == 0 else {
            throw .invalidConfiguration(path: path, reason: "num_attention_heads \(headCount) must divide hidden_size \(hiddenSize)")
        }
        guard (0..<vocabularySize).contains(paddingTokenID) else {
            throw .invalidConfiguration(path: path, reason: "pad_token_id \(paddingTokenID) is outside the vocabulary 0..<\(vocabularySize)")
        }
        guard activation != nil else {
            throw .invalidConfiguration(path: path, reason: "hidden_act '\(hiddenActivation)' is not implemented (gelu, gelu_new, gelu_pytorch_tanh, relu)")
        }
    }

    /// The feed-forward activation, or `nil` when `hiddenActivation` is not implemented.
    var activation: FeedForwardActivationName? {
        switch hiddenActivation {
        case "gelu": .geluExact
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": .geluTanh
        case "relu": .relu
        default: nil
        }
    }
}

/// The activations `config.json` may name.
enum FeedForwardActivationName {
    case geluExact, geluTanh, relu
}
