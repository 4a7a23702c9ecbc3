import Backprop
import Foundation
import Testing

/// Every safetensors dtype, decoded from a file PyTorch wrote (values from the closed forms in
/// `make_dtype_fixture.py`) and encoded here, exactly or with a typed error.
@Suite("Safetensors dtypes")
struct SafeTensorsDTypeTests {
    static let fixturePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/every_dtype.safetensors").path

    static func fixture() throws -> SafeTensorsFile { try SafeTensorsFile(contentsOfPath: fixturePath) }

    @Test func theFixtureHoldsEveryDType() throws {
        let dtypes = Set(try Self.fixture().tensors.values.map(\.dtype))
        #expect(dtypes == [.float64, .float32, .float16, .bfloat16, .float8E4M3, .float8E5M2, .int64, .int32, .int16, .int8,
                           .uint8, .bool])
    }

    @Test func floatingPointDTypesDecodeExactly() throws {
        let file = try Self.fixture()
        #expect(try file.tensor(named: "f64", as: Double.self).scalars == [0.1, -1.0 / 3, 1e300, 0x1p-1074])
        let f32: [Float] = [Float(0.1), Float(-1.0 / 3), 0x1p-149, Float.greatestFiniteMagnitude]
        #expect(try file.tensor(named: "f32", as: Float.self).scalars == f32)
        #expect(try file.tensor(named: "f32", as: Double.self).scalars == f32.map(Double.init))
        for decoded in [try file.tensor(named: "f16", as: Double.self).scalars, try file.tensor(named: "f16", as: Float.self).scalars.map(Double.init)] {
            #expect(decoded == [1, -2.5, 0x1p-24, 65504, -.infinity])
        }
        #expect(try file.tensor(named: "bf16", as: Double.self).scalars == [1.5, -3.140625, 0x1p-133, 0x1p127])
        #expect(try file.tensor(named: "f8e4m3", as: Float.self).scalars == [0.5, -448, 0x1p-9])
        #expect(try file.tensor(named: "f8e5m2", as: Double.self).scalars == [0.5, -57344, 0x1p-16])
    }

    @Test func integerDTypesDecodeExactlyOrThrowNamingTheElement() throws {
        let file = try Self.fixture()
        #expect(try file.tensor(named: "i64", as: Double.self).scalars == [0, -1, 0x1p53, -0x1p62])
        #expect(try file.tensor(named: "i64", as: Float.self).scalars == [0, -1, 0x1p53, -0x1p62])   // powers of two are floats
        #expect(throws: SafeTensorsError.inexactValue(tensor: "i64_big", index: 0, value: "9007199254740993", dtype: "I64", target: "F64")) {
            try file.tensor(named: "i64_big", as: Double.self)
        }
        #expect(try file.tensor(named: "i64_big", as: Double.self, rounding: .toNearestOrEven).scalars == [0x1p53, 0x1p63])
        #expect(throws: SafeTensorsError.inexactValue(tensor: "i32", index: 2, value: "16777217", dtype: "I32", target: "F32")) {
            try file.tensor(named: "i32", as: Float.self)
        }
        #expect(try file.tensor(named: "i32", as: Double.self).scalars == [16_777_216, -2_147_483_648, 16_777_217])
        #expect(try file.tensor(named: "i16", as: Float.self).scalars == [-32768, 32767])
        #expect(try file.tensor(named: "i8", as: Float.self).scalars == [-128, 127])
        #expect(try file.tensor(named: "u8", as: Double.self).scalars == [0, 255])
        #expect(try file.tensor(named: "bool", as: Float.self).scalars == [1, 0, 1])
        let counter = try file.tensor(named: "counter", as: Float.self)
        #expect(counter.shape == [] && counter.scalars == [7])
    }

    @Test func rangeErrorsAreTypedEvenWhenRounding() throws {
        let file = try Self.fixture()
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "f64", index: 2, value: "1e+300", target: "F32",
                                                              reason: "it is beyond the largest finite F32 value 3.4028235e+38")) {
            try file.tensor(named: "f64", as: Float.self, rounding: .toNearestOrEven)
        }
        let badBool = rawSafeTensors(header: #"{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#, data: [1, 2])
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "b", index: 1, value: "byte 2", target: "F64",
                                                              reason: "a BOOL element must be the byte 0 or 1")) {
            try SafeTensorsFile(bytes: badBool).tensor(named: "b", as: Double.self)
        }
    }

    /// Encoding each dtype and decoding it again gives the same values; the bytes are the
    /// little-endian layout written out by hand.
    @Test func encodingRoundTripsAndLaysOutBytesLittleEndian() throws {
        let values = Tensor<Double>([0, -1, 2, 100])
        for dtype in SafeTensorsDType.allCases where dtype != .bool && dtype != .float8E4M3 && dtype != .float8E5M2 {
            let isUnsigned = [SafeTensorsDType.uint8, .uint16, .uint32, .uint64].contains(dtype)
            let source = isUnsigned ? Tensor<Double>([0, 1, 2, 100]) : values
            let entry = try SafeTensorsEntry(source, dtype: dtype, name: "t")
            #expect(entry.dtype == dtype && entry.bytes.count == 4 * dtype.byteSize)
            #expect(try entry.tensor(as: Double.self) == source, "\(dtype)")
        }
        #expect(try SafeTensorsEntry(Tensor<Float>([258, -2]), dtype: .int16).bytes == [2, 1, 0xFE, 0xFF])
        #expect(try SafeTensorsEntry(Tensor<Float>([3]), dtype: .int64).bytes == [3, 0, 0, 0, 0, 0, 0, 0])
        #expect(try SafeTensorsEntry(Tensor<Float>([1, 0]), dtype: .bool).bytes == [1, 0])
        #expect(try SafeTensorsEntry(Tensor<Float>([1, -2.5]), dtype: .float16).bytes == [0x00, 0x3C, 0x00, 0xC1])
        #expect(try SafeTensorsEntry(Tensor<Double>([1.5]), dtype: .bfloat16).bytes == [0xC0, 0x3F])
        #expect(try SafeTensorsEntry(Tensor<Double>([0x1p-24]), dtype: .float16).bytes == [0x01, 0x00])   // smallest subnormal
    }

    @Test func encodingRejectsWhatTheDTypeCannotHold() {
        #expect(throws: SafeTensorsError.inexactValue(tensor: "n", index: 1, value: "2.5", dtype: "F32", target: "I64")) {
            try SafeTensorsEntry(Tensor<Float>([1, 2.5]), dtype: .int64, name: "n")
        }
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "n", index: 0, value: "nan", target: "I32",
                                                              reason: "an integer dtype holds only finite values")) {
            try SafeTensorsEntry(Tensor<Float>([.nan]), dtype: .int32, name: "n")
        }
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "n", index: 0, value: "300.0", target: "U8",
                                                              reason: "it is outside 0...255")) {
            try SafeTensorsEntry(Tensor<Double>([300]), dtype: .uint8, name: "n")
        }
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "n", index: 0, value: "70000.0", target: "F16",
                                                              reason: "it is beyond the largest finite F16 value")) {
            try SafeTensorsEntry(Tensor<Double>([70000]), dtype: .float16, name: "n", rounding: .toNearestOrEven)
        }
        #expect(throws: SafeTensorsError.inexactValue(tensor: "n", index: 0, value: "0.1", dtype: "F64", target: "F16")) {
            try SafeTensorsEntry(Tensor<Double>([0.1]), dtype: .float16, name: "n")
        }
        #expect(throws: SafeTensorsError.unrepresentableValue(tensor: "n", index: 0, value: "2.0", target: "BOOL",
                                                              reason: "BOOL holds only 0 and 1")) {
            try SafeTensorsEntry(Tensor<Float>([2]), dtype: .bool, name: "n")
        }
        #expect(throws: SafeTensorsError.unsupportedEncoding(tensor: "n", dtype: "F8_E4M3")) {
            try SafeTensorsEntry(Tensor<Float>([1]), dtype: .float8E4M3, name: "n")
        }
        // Rounding: 2.5 → 2 (ties to even) for integers, 0.1 → the nearest half for F16.
        #expect((try? SafeTensorsEntry(Tensor<Float>([2.5]), dtype: .int8, rounding: .toNearestOrEven))?.bytes == [2])
        #expect((try? SafeTensorsEntry(Tensor<Double>([0.1]), dtype: .float16, rounding: .toNearestOrEven))?.bytes == [0x66, 0x2E])
    }

    /// Rounding to F16 and BF16 against the value computed in Double: the nearest neighbour, ties
    /// to the even significand, for values around every binade edge.
    @Test func halfPrecisionRoundingIsToNearestEven() throws {
        // BF16 has 8 significand bits: 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷ and rounds to 1 (even);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶ and rounds up to the even 1 + 2⁻⁶.
        let cases: [(Double, Double)] = [(1 + 0x1p-8, 1), (1 + 3 * 0x1p-8, 1 + 0x1p-6), (1 + 0x1p-8 + 0x1p-20, 1 + 0x1p-7),
                                         (2 - 0x1p-9, 2), (-(1 + 0x1p-8), -1)]
        for (value, expected) in cases {
            let entry = try SafeTensorsEntry(Tensor<Double>([value]), dtype: .bfloat16, rounding: .toNearestOrEven)
            #expect(try entry.tensor(as: Double.self).scalars == [expected], "\(value)")
        }
        // F16: 2⁻²⁵ is halfway between 0 and the smallest subnormal 2⁻²⁴ and rounds to 0 (even);
        // 3·2⁻²⁵ rounds to 2·2⁻²⁴; 65520 is halfway between 65504 and the overflow threshold → ∞ → error.
        let half: [(Double, Double)] = [(0x1p-25, 0), (3 * 0x1p-25, 0x1p-23), (65519, 65504), (1 + 0x1p-11, 1)]
        for (value, expected) in half {
            let entry = try SafeTensorsEntry(Tensor<Double>([value]), dtype: .float16, rounding: .toNearestOrEven)
            #expect(try entry.tensor(as: Double.self).scalars == [expected], "\(value)")
        }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsEntry(Tensor<Double>([65520]), dtype: .float16, rounding: .toNearestOrEven) }
    }

    @Test(.enabled(if: PythonSafeTensors.isAvailable, "python3 with the safetensors package is not installed"))
    func everyWritableDTypeReadsBackInPython() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/dtypes.safetensors"
        var entries: [String: SafeTensorsEntry] = [:]
        for dtype in SafeTensorsDType.allCases where dtype != .float8E4M3 && dtype != .float8E5M2 {
            let values: Tensor<Double> = dtype == .bool ? Tensor([1, 0]) : Tensor([0, 1, 100])
            entries[dtype.rawValue] = try SafeTensorsEntry(values, dtype: dtype, name: dtype.rawValue)
        }
        try SafeTensorsFile(tensors: entries).write(toPath: path)
        // The safetensors package validates the header; the values are read with `struct`, which
        // knows every dtype's little-endian layout (numpy has no bfloat16).
        let output = try PythonSafeTensors.run("""
        import json, struct, sys
        from safetensors import safe_open
        with safe_open(sys.argv[1], framework="numpy") as f:
            names = sorted(f.keys())
        data = open(sys.argv[1], "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        header, base = json.loads(data[8:8 + n]), 8 + n
        formats = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "I16": "h", "I8": "b",
                   "U64": "Q", "U32": "I", "U16": "H", "U8": "B", "BOOL": "?"}
        for name in names:
            entry = header[name]
            begin, end = entry["data_offsets"]
            raw = data[base + begin:base + end]
            if entry["dtype"] == "BF16":
                values = [struct.unpack("<f", b"\\0\\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
            else:
                code = formats[entry["dtype"]]
                values = struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw)
            print(name, entry["dtype"], entry["shape"], [int(v) for v in values])
        """, arguments: [path])
        #expect(output == """
        BF16 BF16 [3] [0, 1, 100]
        BOOL BOOL [2] [1, 0]
        F16 F16 [3] [0, 1, 100]
        F32 F32 [3] [0, 1, 100]
        F64 F64 [3] [0, 1, 100]
        I16 I16 [3] [0, 1, 100]
        I32 I32 [3] [0, 1, 100]
        I64 I64 [3] [0, 1, 100]
        I8 I8 [3] [0, 1, 100]
        U16 U16 [3] [0, 1, 100]
        U32 U32 [3] [0, 1, 100]
        U64 U64 [3] [0, 1, 100]
        U8 U8 [3] [0, 1, 100]

        """)
    }
}
