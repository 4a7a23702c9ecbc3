import Foundation

/// BERT's tokenizer: basic tokenization (cleaning, CJK splitting, accent stripping, lower-casing,
/// splitting on whitespace and punctuation) followed by greedy longest-match WordPiece, then
/// `[CLS] … [SEP]`, truncation, padding and attention masks for a batch.
///
/// It follows Hugging Face's fast `BertTokenizerFast` (the Rust `tokenizers` `BertNormalizer`,
/// `BertPreTokenizer` and `WordPiece` model), which sentence-transformers uses:
///
/// 1. Special tokens that appear verbatim in the text (`[MASK]`, …) are kept whole.
/// 2. Cleaning: U+0000, U+FFFD and control characters (general category C*, except tab, newline and
///    carriage return) are removed; whitespace (the Unicode `White_Space` property) becomes a space.
/// 3. CJK ideographs (the CJK Unified Ideographs blocks and extensions A–E, the compatibility
///    ideographs) get a space on each side, so each is a word.
/// 4. With `stripsAccents` (by default when lower-casing): canonical decomposition (NFD), then
///    non-spacing marks (category Mn) are removed. With `lowercases`: each scalar's lower-case mapping.
/// 5. Words are split on whitespace; every punctuation scalar (ASCII symbols and punctuation, and
///    Unicode category P*) becomes a word of its own.
/// 6. WordPiece: a word longer than 100 scalars is `[UNK]`; otherwise the longest prefix in the
///    vocabulary is taken, then the longest `##`-prefixed continuation, and so on; a word with a
///    part that matches nothing is `[UNK]` as a whole.
public struct WordPieceTokenizer: Sendable {
    /// Token → id (the line number in `vocab.txt`).
    public let vocabulary: [String: Int]
    /// Id → token.
    public let tokens: [String]
    /// Lower-case the text (uncased models).
    public var lowercases: Bool
    /// Remove accents; `nil` follows `lowercases`, as Hugging Face's `strip_accents=None`.
    public var stripsAccents: Bool?
    /// Put spaces around CJK ideographs.
    public var splitsCJKCharacters: Bool
    /// Words longer than this many scalars become `[UNK]`.
    public var maximumCharactersPerWord = 100
    /// The unknown token.
    public let unknownToken: String
    /// The classification token put first.
    public let classToken: String
    /// The separator token put last.
    public let separatorToken: String
    /// The padding token.
    public let paddingToken: String
    /// Tokens kept whole when they appear in the text.
    public let specialTokens: [String]

    /// Creates a tokenizer from a vocabulary in id order.
    ///
    /// - Parameters:
    ///   - tokens: The vocabulary; a token's id is its index.
    ///   - lowercases: Lower-case the text (`do_lower_case`).
    ///   - stripsAccents: Remove accents (`strip_accents`); `nil` follows `lowercases`.
    ///   - splitsCJKCharacters: Split CJK ideographs into words (`tokenize_chinese_chars`).
    /// - Throws: `BERTError.invalidVocabulary` when a special token is missing or a token repeats.
    public init(tokens: [String], lowercases: Bool = true, stripsAccents: Bool? = nil, splitsCJKCharacters: Bool = true,
                unknownToken: String = "[UNK]", classToken: String = "[CLS]", separatorToken: String = "[SEP]",
                paddingToken: String = "[PAD]", maskToken: String = "[MASK]") throws(BERTError) {
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            // Hugging Face keeps the last id of a repeated token; such vocabularies are broken.
            guard vocabulary.updateValue(id, forKey: token) == nil else {
                throw .invalidVocabulary(reason: "token '\(token)' appears twice (line \(id + 1))")
            }
        }
        for special in [unknownToken, classToken, separatorToken, paddingToken] where vocabulary[special] == nil {
            throw .invalidVocabulary(reason: "the special token '\(special)' is not in the vocabulary")
        }
        self.vocabulary = vocabulary
        self.tokens = tokens
        self.lowercases = lowercases
        self.stripsAccents = stripsAccents
        self.splitsCJKCharacters = splitsCJKCharacters
        self.unknownToken = unknownToken
        self.classToken = classToken
        self.separatorToken = separatorToken
        self.paddingToken = paddingToken
        specialTokens = [unknownToken, classToken, separatorToken, paddingToken, maskToken].filter { vocabulary[$0] != nil }
    }

    /// Reads `vocab.txt` (one token per line, the id is the line number).
    public init(vocabularyAtPath path: String, lowercases: Bool = true, stripsAccents: Bool? = nil,
                splitsCJKCharacters: Bool = true) throws(BERTError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadableFile(path: path, reason: "\(error.localizedDescription)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        try self.init(tokens: lines, lowercases: lowercases, stripsAccents: stripsAccents, splitsCJKCharacters: splitsCJKCharacters)
    }

    /// The id of the padding token.
    public var paddingID: Int { vocabulary[paddingToken]! }

    // MARK: Tokenizing one text

    /// The word pieces of `text`, without `[CLS]`/`[SEP]`.
    public func tokenize(_ text: String) -> [String] {
        var pieces: [String] = []
        for segment in splitOnSpecialTokens(text) {
            if segment.isSpecial {
                pieces.append(segment.text)
            } else {
                for word in words(of: segment.text) { pieces += wordPieces(word) }
            }
        }
        return pieces
    }

    /// The ids of `text`'s word pieces, without `[CLS]`/`[SEP]`.
    public func ids(of text: String) -> [Int] {
        tokenize(text).map { vocabulary[$0] ?? vocabulary[unknownToken]! }
    }

    /// `text` cut around verbatim special tokens.
    func splitOnSpecialTokens(_ text: String) -> [(text: String, isSpecial: Bool)] {
        var segments: [(text: String, isSpecial: Bool)] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var earliest: (range: Range<Substring.Index>, token: String)?
            for token in specialTokens {
                if let range = rest.range(of: token), earliest == nil || range.lowerBound < earliest!.range.lowerBound {
                    earliest = (range, token)
                }
            }
            guard let found = earliest else { segments.append((String(rest), false)); break }
            if found.range.lowerBound > rest.startIndex { segments.append((String(rest[..<found.range.lowerBound]), false)) }
            segments.append((found.token, true))
            rest = rest[found.range.upperBound...]
        }
        return segments
    }

    /// Steps 2–5: the normalized words of `text`, each a list of scalars.
    func words(of text: String) -> [[Unicode.Scalar]] {
        var cleaned = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value == 0 || scalar.value == 0xFFFD || Self.isControl(scalar) { continue }
            if Self.isWhitespace(scalar) {
                cleaned.append(" ")
            } else if splitsCJKCharacters && Self.isCJKIdeograph(scalar) {
                cleaned.append(" ")
                cleaned.append(scalar)
                cleaned.append(" ")
            } else {
                cleaned.append(scalar)
            }
        }
        var normalized = String(cleaned)
        if stripsAccents ?? lowercases {
            var kept = String.UnicodeScalarView()
            for scalar in normalized.decomposedStringWithCanonicalMapping.unicodeScalars
            where scalar.properties.generalCategory != .nonspacingMark {
                kept.append(scalar)
            }
            normalized = String(kept)
        }
        var scalars = Array(normalized.unicodeScalars)
        if lowercases {
            scalars = scalars.flatMap { $0.properties.lowercaseMapping.unicodeScalars }
        }
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        func finishWord() {
            if !current.isEmpty { words.append(current) }
            current = []
        }
        for scalar in scalars {
            if Self.isWhitespace(scalar) {
                finishWord()
            } else if Self.isPunctuation(scalar) {
                finishWord()
                words.append([scalar])
            } else {
                current.append(scalar)
            }
        }
        finishWord()
        return words
    }

    /// Step 6: greedy longest-match-first WordPiece of one word.
    func wordPieces(_ word: [Unicode.Scalar]) -> [String] {
        guard word.count <= maximumCharactersPerWord else { return [unknownToken] }
        var pieces: [String] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var match: String?
            while start < end {
                var candidate = start > 0 ? "##" : ""
                candidate.unicodeScalars.append(contentsOf: word[start..<end])
                if vocabulary[candidate] != nil {
                    match = candidate
                    break
                }
                end -= 1
            }
            guard let match else { return [unknownToken] }
            pieces.append(match)
            start = end
        }
        return pieces
    }

    // MARK: Character classes

    /// Tab, newline, carriage return and the Unicode `White_Space` property.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
    }

    /// General category C* (control, format, unassigned, private use, surrogate), except tab,
    /// newline and carriage return.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        switch scalar.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    /// ASCII symbols and punctuation (33–47, 58–64, 91–96, 123–126) and general category P*.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK ideograph blocks BERT splits on (not Hangul, Hiragana or Katakana).
    static func isCJKIdeograph(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F, 0x2B820...0x2CEAF,
             0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    // MARK: Batches

    /// Encodes texts as one padded batch: `[CLS] pieces… [SEP]`, truncated to `maximumLength`
    /// tokens (the pieces are cut, `[SEP]` is kept), padded with `[PAD]` to the longest sequence.
    ///
    /// - Parameters:
    ///   - texts: One or more texts.
    ///   - maximumLength: The longest sequence, special tokens included (at least 2).
    /// - Returns: Ids, attention masks and token types, `[N, L]`.
    public func encode(_ texts: [String], maximumLength: Int = 512) -> TokenizedBatch {
        precondition(maximumLength >= 2, "WordPieceTokenizer.encode: maximumLength \(maximumLength) must leave room for [CLS] and [SEP]")
        let (cls, sep, unk) = (vocabulary[classToken]!, vocabulary[separatorToken]!, vocabulary[unknownToken]!)
        let sequences: [[Int]] = texts.map { text in
            let pieces = tokenize(text).prefix(maximumLength - 2).map { vocabulary[$0] ?? unk }
            return [cls] + pieces + [sep]
        }
        let length = sequences.map(\.count).max() ?? 0
        var ids: [Int] = [], mask: [[Bool]] = []
        for sequence in sequences {
            ids += sequence + Array(repeating: paddingID, count: length - sequence.count)
            mask.append(Array(repeating: true, count: sequence.count) + Array(repeating: false, count: length - sequence.count))
        }
        return TokenizedBatch(ids: ids, batchSize: texts.count, length: length, attentionMask: mask,
                              tokenTypeIDs: Array(repeating: 0, count: ids.count))
    }
}

/// Token ids of a padded batch, `[N, L]` row-major, with its attention mask.
public struct TokenizedBatch: Sendable, Equatable {
    /// The ids, `batchSize · length` of them, row by row.
    public var ids: [Int]
    /// N.
    public var batchSize: Int
    /// L, the length of the longest sequence.
    public var length: Int
    /// `[N][L]`: `true` for real tokens, `false` for padding (Hugging Face's `attention_mask` 1/0).
    public var attentionMask: [[Bool]]
    /// The segment of each token (all 0 for single sentences), row-major like `ids`.
    public var tokenTypeIDs: [Int]

    /// Creates a batch.
    public init(ids: [Int], batchSize: Int, length: Int, attentionMask: [[Bool]], tokenTypeIDs: [Int]) {
        precondition(ids.count == batchSize * length && tokenTypeIDs.count == ids.count
                     && attentionMask.count == batchSize && attentionMask.allSatisfy { $0.count == length },
                     "TokenizedBatch: \(ids.count) ids, \(tokenTypeIDs.count) token types and a \(attentionMask.count)-row mask do not fit [\(batchSize), \(length)]")
        self.ids = ids
        self.batchSize = batchSize
        self.length = length
        self.attentionMask = attentionMask
        self.tokenTypeIDs = tokenTypeIDs
    }

    /// The ids of sequence `index` without padding.
    public func sequence(_ index: Int) -> [Int] {
        Array(ids[(index * length)..<(index * length + length)]).enumerated().filter { attentionMask[index][$0.offset] }.map(\.element)
    }
}
