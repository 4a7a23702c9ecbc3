import Foundation

/// The temporary files of atomic writes, and the checks on the paths they are written to.
///
/// A write goes to `.<name>.tmp-<host>-<pid>-<random>` beside the destination and is renamed over it,
/// so readers see the old file or the new one. A process killed between the two leaves its temporary
/// file behind; nothing else would ever remove it. Every later write or read of the same destination
/// therefore removes the temporary files of that destination left by processes of this host that no
/// longer exist (the host is in the name because on a shared file system a process of another machine
/// cannot be checked; its files are left alone).
enum SafeTensorsFiles {
    /// This machine's name, as it appears in temporary file names (no `-` or `/`).
    static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "host" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let cleaned = name.map { $0 == "-" || $0 == "/" || $0 == "." ? "_" : $0 }
        return cleaned.isEmpty ? "host" : String(cleaned)
    }()

    /// The prefix of every temporary file of `destination`: `.<name>.tmp-<host>-`.
    static func temporaryPrefix(for destination: URL) -> String {
        ".\(destination.lastPathComponent).tmp-\(host)-"
    }

    /// A fresh temporary file beside `destination`, named after this process.
    static func temporaryFile(for destination: URL) -> URL {
        destination.deletingLastPathComponent()
            .appendingPathComponent("\(temporaryPrefix(for: destination))\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// Removes the temporary files of `destination` whose writing process (on this host) has ended.
    /// Best effort: a file that cannot be listed or removed is left as it is.
    static func removeStaleTemporaryFiles(for destination: URL) {
        let directory = destination.deletingLastPathComponent()
        let prefix = temporaryPrefix(for: destination)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            // kill(pid, 0) fails with ESRCH exactly when no such process exists.
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// Why `path` cannot be written as a file, or `nil`: it ends in `/`, or it names a directory.
    static func directoryProblem(_ path: String) -> String? {
        if path.hasSuffix("/") { return "the path ends in '/', so it names a directory, not a file" }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return "it is a directory, not a file"
        }
        return nil
    }
}

extension SafeTensorsFile {
    /// The entry whose name has exactly the bytes of `name` (see `canonicallyEquivalentTensors`).
    func entry(named name: String) -> SafeTensorsEntry? {
        if let index = tensors.index(forKey: name), tensors[index].key.utf8.elementsEqual(name.utf8) {
            return tensors[index].value
        }
        return canonicallyEquivalentTensors[Array(name.utf8)]?.entry
    }

    /// A tensor kept under a name canonically equivalent to a key of `tensors` (see `tensorNames`).
    struct NamedEntry: Sendable, Equatable {
        var name: String
        var entry: SafeTensorsEntry
    }

    /// Every tensor name of the file, as the bytes it was written with: the keys of `tensors` and the
    /// names that are different byte strings but canonically equivalent Unicode to one of them (Swift
    /// compares `String`s by canonical equivalence, so a `[String: …]` holds only one of "é" as one
    /// scalar and as e + U+0301; the safetensors format compares names as bytes and holds both).
    public var tensorNames: [String] {
        Array(tensors.keys) + canonicallyEquivalentTensors.values.map(\.name)
    }

    /// Adds `entry` under `name`, keeping a name that is canonically equivalent to an existing key but
    /// another byte string as a separate tensor (names are compared as bytes, as the format defines).
    mutating func insert(_ entry: SafeTensorsEntry, named name: String) {
        if let index = tensors.index(forKey: name), !tensors[index].key.utf8.elementsEqual(name.utf8) {
            canonicallyEquivalentTensors[Array(name.utf8)] = NamedEntry(name: name, entry: entry)
        } else {
            tensors[name] = entry
        }
    }

    /// Every (name, entry), the canonically equivalent names included.
    var allEntries: [(key: String, value: SafeTensorsEntry)] {
        tensors.map { ($0.key, $0.value) } + canonicallyEquivalentTensors.values.map { ($0.name, $0.entry) }
    }
}
