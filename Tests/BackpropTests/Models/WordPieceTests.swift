import BackpropBERT
import Testing

/// BERT's tokenization rules on a small vocabulary, worked out by hand.
@Suite("WordPiece tokenizer")
struct WordPieceTests {
    static let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "the", "cafe", "!", ",", "北", "京",
                             "a", "##b", "ab", "hello", "world", "."]

    static func tokenizer(lowercases: Bool = true) throws -> WordPieceTokenizer {
        try WordPieceTokenizer(tokens: vocabulary, lowercases: lowercases)
    }

    @Test func greedyLongestMatchFirst() throws {
        let t = try Self.tokenizer()
        #expect(t.tokenize("unaffable") == ["un", "##aff", "##able"])
        #expect(t.tokenize("ab") == ["ab"])              // the whole word wins over a + ##b
        #expect(t.tokenize("abb") == ["ab", "##b"])
        #expect(t.tokenize("unx") == ["[UNK]"])          // a part that matches nothing makes the whole word unknown
        #expect(t.tokenize(String(repeating: "a", count: 101)) == ["[UNK]"])   // longer than 100 scalars
    }

    @Test func basicTokenizationCleansSplitsAndNormalizes() throws {
        let t = try Self.tokenizer()
        #expect(t.tokenize("  The\tCAFÉ,  hello!\n") == ["the", "cafe", ",", "hello", "!"])
        #expect(t.tokenize("北京") == ["北", "京"])                          // CJK ideographs are words of their own
        // U+0000 and the format character U+200B vanish, leaving "helloworld": one word, not in the vocabulary.
        #expect(t.tokenize("hello\u{0}\u{200B}world") == ["[UNK]"])
        #expect(t.tokenize("hello\u{3000}world") == ["hello", "world"])     // ideographic space is whitespace
        #expect(t.tokenize("the [MASK] cafe") == ["the", "[MASK]", "cafe"])  // special tokens stay whole
        let cased = try Self.tokenizer(lowercases: false)
        #expect(cased.tokenize("The Café") == ["[UNK]", "[UNK]"])           // no lower-casing, accents kept
    }

    @Test func batchesArePaddedTruncatedAndMasked() throws {
        let t = try Self.tokenizer()
        let batch = t.encode(["hello world.", "the"], maximumLength: 4)
        #expect(batch.batchSize == 2 && batch.length == 4)
        #expect(batch.ids == [2, 17, 18, 3, 2, 8, 3, 0])                     // "." is cut to fit [SEP]
        #expect(batch.attentionMask == [[true, true, true, true], [true, true, true, false]])
        #expect(batch.tokenTypeIDs == Array(repeating: 0, count: 8))
        #expect(batch.sequence(1) == [2, 8, 3])
    }

    @Test func vocabulariesWithoutSpecialTokensOrWithRepeatsAreRejected() {
        #expect(throws: BERTError.invalidVocabulary(reason: "the special token '[UNK]' is not in the vocabulary")) {
            try WordPieceTokenizer(tokens: ["[PAD]", "[CLS]", "[SEP]"])
        }
        #expect(throws: BERTError.invalidVocabulary(reason: "token 'a' appears twice (line 6)")) {
            try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "a"])
        }
    }
}
