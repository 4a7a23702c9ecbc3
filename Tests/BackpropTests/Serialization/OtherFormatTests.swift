import Backprop
import Foundation
import Testing

/// A file of another format read as safetensors gets a message that names the format and what to do,
/// not only an impossible header length.
@Suite("Files that are not safetensors")
struct OtherFormatTests {
    static func error(for bytes: [UInt8]) -> String {
        do {
            _ = try SafeTensorsFile(bytes: bytes)
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func aZipArchiveIsNamedAsPyTorchsFormat() {
        // torch.save's zip format: "PK\u{3}\u{4}" then a local file header.
        let zip: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x00, 0x00, 0x08, 0x08] + [UInt8](repeating: 0, count: 200)
        let text = Self.error(for: zip)
        #expect(text.contains("this is not a safetensors file but a zip archive (PyTorch's torch.save format, .pt/.pth/.bin)"), "\(text)")
        #expect(text.contains("safetensors.torch.save_file"), "\(text)")
    }

    @Test func aPickleIsNamedAsPyTorchsLegacyFormat() {
        // Protocol 2: PROTO 2, EMPTY_DICT, BINPUT 0, …; protocol 4: PROTO 4, FRAME <8-byte length>.
        for bytes: [UInt8] in [[0x80, 0x02, 0x7D, 0x71, 0x00, 0x28, 0x58, 0x06] + [UInt8](repeating: 0x61, count: 100),
                               [0x80, 0x04, 0x95, 0x10, 0x00, 0x00, 0x00, 0x00] + [UInt8](repeating: 0x61, count: 100)] {
            let text = Self.error(for: bytes)
            #expect(text.contains("a Python pickle (PyTorch's legacy torch.save format)"), "\(text)")
        }
    }

    @Test func aNumPyArrayIsNamed() {
        let npy: [UInt8] = [0x93] + Array("NUMPY".utf8) + [0x01, 0x00] + [UInt8](repeating: 0x20, count: 100)
        #expect(Self.error(for: npy).contains("a NumPy .npy array"))
    }

    @Test func aSafeTensorsFileWhoseHeaderLengthBeginsLikeAPickleStillLoads() throws {
        // A header of 0x0380 = 896 bytes starts the file with 0x80 0x03, as a pickle of protocol 3 would.
        var metadata = ""
        var file = SafeTensorsFile(["w": Tensor<Float>([1, 2])])
        for _ in 0..<2000 {
            file.metadata = ["pad": metadata]
            let bytes = try file.serialized()
            if bytes[0] == 0x80 && bytes[1] == 0x03 {
                let loaded = try SafeTensorsFile(bytes: bytes)
                #expect(try loaded.tensor(named: "w", as: Float.self) == Tensor<Float>([1, 2]))
                return
            }
            metadata += "x"
        }
        Issue.record("no padding gave a header length of 0x03xx")
    }
}
