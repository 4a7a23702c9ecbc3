#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SafeTensorsFile {
    /// The name of a single-file checkpoint in a Hugging Face model folder.
    public static let singleFileName = "model.safetensors"
    /// The name of a sharded checkpoint's index in a Hugging Face model folder.
    public static let shardIndexName = "model.safetensors.index.json"

    /// Reads a checkpoint given as a safetensors file, a sharded checkpoint's index
    /// (`model.safetensors.index.json`), or a folder holding either (`model.safetensors` is
    /// preferred, as Hugging Face does).
    ///
    /// A sharded checkpoint is read whole: the index's `weight_map` (`{"name": "model-00001-of-00002.safetensors", …}`)
    /// must list every tensor of every shard, each in the shard that holds it, and no name twice.
    /// The tensors of all shards become one file's `tensors`; `metadata` holds the index's
    /// `metadata` entries (numbers written in decimal).
    ///
    /// - Parameter path: A `.safetensors` file, a `.json` index, or a folder.
    /// - Throws: `SafeTensorsError`: `.unreadableFile`, `.invalidShardIndex` (malformed index, a
    ///   shard outside the index's folder, a tensor missing from its shard or held by the wrong one),
    ///   or any error of the shards themselves.
    public init(checkpointAt path: String) throws(SafeTensorsError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
        }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            let directory = path.hasSuffix("/") ? path : path + "/"
            if access(directory + Self.singleFileName, F_OK) == 0 {
                try self.init(contentsOfPath: directory + Self.singleFileName)
            } else if access(directory + Self.shardIndexName, F_OK) == 0 {
                try self.init(shardIndexAt: directory + Self.shardIndexName)
            } else {
                throw .unreadableFile(path: path, reason: "the folder holds neither \(Self.singleFileName) nor \(Self.shardIndexName)")
            }
        } else if path.hasSuffix(".json") {
            try self.init(shardIndexAt: path)
        } else {
            try self.init(contentsOfPath: path)
        }
    }

    /// Reads every shard listed by a sharded checkpoint's index (see `init(checkpointAt:)`).
    public init(shardIndexAt indexPath: String) throws(SafeTensorsError) {
        func invalid(_ reason: String) -> SafeTensorsError { .invalidShardIndex(path: indexPath, reason: reason) }
        let bytes = try readWholeFile(indexPath) { _, size throws(SafeTensorsError) in
            guard size <= SafeTensorsFile.maximumHeaderLength else {
                throw .invalidShardIndex(path: indexPath, reason: "\(size) bytes is larger than any index (limit \(SafeTensorsFile.maximumHeaderLength))")
            }
        }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw invalid("invalid JSON at byte \(error.offset): \(error.reason)") }
        guard case .object(let members) = json else { throw invalid("the top level must be an object, found \(json.kind)") }
        guard let weightMap = members.first(where: { $0.key == "weight_map" })?.value else { throw invalid("no 'weight_map'") }
        guard case .object(let pairs) = weightMap else { throw invalid("'weight_map' must be an object, found \(weightMap.kind)") }

        var shardOf: [String: String] = [:]
        for (tensor, value) in pairs {
            guard case .string(let shard) = value else { throw invalid("the shard of '\(tensor)' must be a string, found \(value.kind)") }
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw invalid("shard '\(shard)' of '\(tensor)' is not a file name in the index's folder")
            }
            shardOf[tensor] = shard
        }
        var metadata: [String: String] = [:]
        if case .object(let entries)? = members.first(where: { $0.key == "metadata" })?.value {
            for (key, value) in entries {
                switch value {
                case .string(let text): metadata[key] = text
                case .integer(let number): metadata[key] = String(number)
                case .number(let number): metadata[key] = String(number)
                default: continue
                }
            }
        }

        let directory = indexPath.contains("/") ? String(indexPath[...indexPath.lastIndex(of: "/")!]) : ""
        var tensors: [String: SafeTensorsEntry] = [:]
        for shard in Set(shardOf.values).sorted() {
            let file = try SafeTensorsFile(contentsOfPath: directory + shard)
            for (name, entry) in file.tensors {
                guard let listed = shardOf[name] else { throw invalid("shard '\(shard)' holds '\(name)', which the weight_map does not list") }
                guard listed == shard else { throw invalid("shard '\(shard)' holds '\(name)', which the weight_map puts in '\(listed)'") }
                tensors[name] = entry
            }
        }
        if let absent = shardOf.keys.sorted().first(where: { tensors[$0] == nil }) {
            throw invalid("'\(absent)' is mapped to shard '\(shardOf[absent]!)', which does not hold it")
        }
        self.init(tensors: tensors, metadata: metadata)
    }
}
