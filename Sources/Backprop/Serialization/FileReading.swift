#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole regular file into one array with `read(2)`, without intermediate copies.
///
/// `checkPrefix` sees the first (up to) 8 bytes and the file's size before the rest is allocated,
/// so a corrupt length field can be rejected first.
///
/// - Throws: `SafeTensorsError.unreadableFile` (no such file, not a regular file, read error, the
///   file changed size while being read), or whatever `checkPrefix` throws.
func readWholeFile(_ path: String,
                   checkPrefix: ([UInt8], Int) throws(SafeTensorsError) -> Void) throws(SafeTensorsError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw .unreadableFile(path: path, reason: String(cString: strerror(errno)))
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw .unreadableFile(path: path, reason: String(cString: strerror(errno))) }
    guard (status.st_mode & S_IFMT) == S_IFREG else { throw .unreadableFile(path: path, reason: "not a regular file") }
    let size = Int(status.st_size)

    /// Reads up to `count` bytes into `buffer`; returns how many (fewer only at the end of the
    /// file), or −1 with `errno` set.
    func readFully(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            let n = read(descriptor, buffer + done, count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return -1
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
    func failure(_ got: Int) -> SafeTensorsError {
        .unreadableFile(path: path, reason: got < 0 ? String(cString: strerror(errno)) : "the file changed size while being read")
    }

    var prefix = [UInt8](repeating: 0, count: Swift.min(8, size))
    let prefixRead = prefix.isEmpty ? 0 : prefix.withUnsafeMutableBytes { readFully($0.baseAddress!, $0.count) }
    guard prefixRead == prefix.count else { throw failure(prefixRead) }
    try checkPrefix(prefix, size)

    var got = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        guard size > 0 else { return }
        let base = UnsafeMutableRawPointer(buffer.baseAddress!)
        base.copyMemory(from: prefix, byteCount: prefix.count)
        let rest = readFully(base + prefix.count, size - prefix.count)
        got = rest < 0 ? rest : prefix.count + rest
        initialized = Swift.max(0, got)
    }
    guard got == size else { throw failure(got) }
    return bytes
}
