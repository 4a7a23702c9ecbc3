// libFuzzer entry point for the safetensors reader.
//
// Compiled by `run-fuzzer.sh` together with the library's sources into one executable (so it needs
// no `import`), with `-sanitize=fuzzer,address`: libFuzzer supplies `main` and mutates inputs,
// AddressSanitizer turns any out-of-bounds read into a crash. Every input must end in a valid file
// or a typed `SafeTensorsError`; a valid file must also survive a serialize/parse round trip and
// decode (or reject with a typed error) every tensor it holds.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let file: SafeTensorsFile
    do {
        file = try SafeTensorsFile(bytes: bytes)
    } catch {
        _ = error.description   // every error must describe itself without trapping
        return 0
    }
    for (name, entry) in file.tensors {
        let elements = entry.shape.reduce(1, *)
        precondition(entry.bytes.count == elements * entry.dtype.byteSize, "\(name): byte count disagrees with shape")
        // Every dtype decodes into both scalar types or throws a typed error; neither may trap.
        for rounding in [SafeTensorsRounding.exact, .toNearestOrEven] {
            if let tensor = try? entry.tensor(as: Float.self, name: name, rounding: rounding) {
                precondition(tensor.shape == entry.shape, "\(name): decoded shape differs")
            }
            if let tensor = try? entry.tensor(as: Double.self, name: name, rounding: rounding) {
                precondition(tensor.shape == entry.shape, "\(name): decoded shape differs")
            }
        }
    }
    do {
        let again = try SafeTensorsFile(bytes: try file.serialized())
        precondition(again == file, "round trip changed the file")
    } catch {
        // Names the writer refuses (empty, "__metadata__") can be read; anything else is a bug.
        guard case .invalidName = error else { preconditionFailure("re-reading a serialized file failed: \(error)") }
    }
    return 0
}
