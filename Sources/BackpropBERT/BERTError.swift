import Backprop

/// Why a BERT model folder, configuration, vocabulary or checkpoint could not be used.
public enum BERTError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)
    /// `config.json` is malformed or describes an architecture this encoder does not implement.
    case invalidConfiguration(path: String, reason: String)
    /// `vocab.txt` is unusable.
    case invalidVocabulary(reason: String)
    /// The weights file could not be read.
    case checkpoint(SafeTensorsError)
    /// The weights do not fit the configuration (names, shapes or values).
    case stateDict(StateDictError)

    /// A sentence naming what is wrong.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason): return "BERT: cannot read '\(path)': \(reason)"
        case .invalidConfiguration(let path, let reason): return "BERT: configuration '\(path)': \(reason)"
        case .invalidVocabulary(let reason): return "BERT: vocabulary: \(reason)"
        case .checkpoint(let error): return "BERT: \(error)"
        case .stateDict(let error): return "BERT: \(error)"
        }
    }
}
