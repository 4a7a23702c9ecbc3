import Backprop
import Foundation
import Testing

/// The layer of `AttentionTests`' reference (E = 4, 2 heads, weights from closed forms), in either layout.
private func referenceLayer(_ layout: MultiHeadAttention<Double>.Layout) -> MultiHeadAttention<Double> {
    var inProjWeight: [Double] = [], inProjBias: [Double] = [], outProjWeight: [Double] = []
    for i in 0..<12 {
        for j in 0..<4 { inProjWeight.append(Double((i * 7 + j * 3) % 11 - 5) / 10) }
        inProjBias.append(Double(i % 5 - 2) / 10)
    }
    for i in 0..<4 { for j in 0..<4 { outProjWeight.append(Double((i * 5 + j) % 7 - 3) / 10) } }
    let weight = Tensor(shape: [12, 4], scalars: inProjWeight), bias = Tensor(inProjBias)
    let outProj = Linear(weight: Tensor(shape: [4, 4], scalars: outProjWeight), bias: Tensor([0.1, -0.2, 0.3, -0.4]))
    switch layout {
    case .stacked:
        return MultiHeadAttention(projections: .stacked(weight: Parameter(weight), bias: Parameter(bias)), outProj: outProj, headCount: 2)
    case .separate:
        func part(_ i: Int) -> Linear<Double> {
            Linear(weight: weight.slice(alongAxis: 0, range: (4 * i)..<(4 * i + 4)), bias: bias.slice(alongAxis: 0, range: (4 * i)..<(4 * i + 4)))
        }
        return MultiHeadAttention(projections: .separate(query: part(0), key: part(1), value: part(2)), outProj: outProj, headCount: 2)
    }
}

/// x[n, l, e] = ((n·12 + l·4 + e) mod 9)/4 − 1, shape [2, 3, 4].
private let input = Tensor<Double>(shape: [2, 3, 4], scalars: (0..<24).map { Double($0 % 9) / 4 - 1 })

/// Separate (Hugging Face) projections, data masks and attention weights, against PyTorch.
@Suite("Multi-head attention layouts and masks")
struct AttentionLayoutTests {
    // Expected values from PyTorch 2.15 nn.MultiheadAttention, float64, rounded to 15 decimals. Script:
    //
//   import torch
//   E, H = 4, 2
//   mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
//   with torch.no_grad():
//       mha.in_proj_weight.copy_(torch.tensor([((i*7 + j*3) % 11 - 5) / 10 for i in range(3*E) for j in range(E)], dtype=torch.float64).reshape(3*E, E))
//       mha.in_proj_bias.copy_(torch.tensor([(i % 5 - 2) / 10 for i in range(3*E)], dtype=torch.float64))
//       mha.out_proj.weight.copy_(torch.tensor([((i*5 + j) % 7 - 3) / 10 for i in range(E) for j in range(E)], dtype=torch.float64).reshape(E, E))
//       mha.out_proj.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4], dtype=torch.float64))
//   x = torch.tensor([[[(n*12 + l*4 + e) % 9 / 4 - 1 for e in range(E)] for l in range(3)] for n in range(2)], dtype=torch.float64)
//   additive = torch.tensor([[(i - 2 * j) / 4 for j in range(3)] for i in range(3)], dtype=torch.float64)
//   boolean = torch.tensor([[False, True, False], [False, False, True], [True, False, False]])
//   per_head = torch.tensor([[[((b + i + j) % 3 - 1) / 2 for j in range(3)] for i in range(3)] for b in range(2 * H)], dtype=torch.float64)
//   def show(t): return [round(v, 15) for v in t.flatten().tolist()]
//   with torch.no_grad():
//       print("additive", show(mha(x, x, x, need_weights=False, attn_mask=additive)[0]))
//       print("boolean", show(mha(x, x, x, need_weights=False, attn_mask=boolean)[0]))
//       print("perhead", show(mha(x, x, x, need_weights=False, attn_mask=per_head)[0]))
//       out, w = mha(x, x, x, need_weights=True, attn_mask=boolean)
//       print("weights_avg", show(w))
//       out, w = mha(x, x, x, need_weights=True, average_attn_weights=False, key_padding_mask=torch.tensor([[False, False, True], [False, True, False]]))
//       print("weights_heads", show(w))
    static let additive: [Double] = [
        -0.007739960011874, 0.052744994099971, 0.306632081828743, -0.469615946065002, -0.009556003140603, 0.055789550030792,
        0.303910144167192, -0.471733954038005, -0.011858055421842, 0.050931609604255, 0.308295939098434, -0.471806723915083,
        0.095000237046088, -0.045686124599205, 0.205169541312023, -0.4349433281986, 0.011631844020965, 0.004038792639086,
        0.219473983511557, -0.485754109482171, 0.099085411218726, -0.055696983163111, 0.21467657046671, -0.429050869031946,
    ]
    static let boolean: [Double] = [
        0.058440606318682, 0.194524111776775, 0.221159736156018, -0.453986350402206, -0.046930169510565, -0.027102619794691,
        0.35466859763375, -0.47973058046246, 0.031741202941106, 0.144092560519605, 0.193784914772862, -0.480910893114975,
        -0.051231770046906, -0.040031762753527, 0.351212712394789, -0.483750275899674, 0.070352482742316, 0.018220007143027,
        0.134703231880454, -0.474863934211638, 0.191234940415836, -0.049014555149885, 0.132816100627904, -0.394904672846808,
    ]
    static let perHead: [Double] = [
        0.029963103988725, 0.054476632513663, 0.332744558725132, -0.435776411099139, -0.00272412450598, 0.087943145700447,
        0.252274274727045, -0.484391324761638, 0.013153990253478, 0.15900247928952, 0.197144808527275, -0.492182403655256,
        0.0423821761435, -0.002395316070726, 0.207453907619486, -0.469260580031171, 0.012828004822854, 0.071736530174677,
        0.137754144985207, -0.512196615123028, 0.185925304343933, -0.152835860511679, 0.264823856249024, -0.354441845021036,
    ]
    static let weightsAveraged: [Double] = [
        0.468953327818002, 0.0, 0.531046672181998, 0.503973802053087, 0.496026197946913, 0.0,
        0.0, 0.50887837906516, 0.49112162093484, 0.501270510141087, 0.0, 0.498729489858913,
        0.615572091568736, 0.384427908431264, 0.0, 0.0, 0.525053281751532, 0.474946718248468,
    ]
    static let weightsPerHead: [Double] = [
        0.453728889957792, 0.546271110042208, 0.0, 0.488953254458342, 0.511046745541658, 0.0,
        0.484536971713942, 0.515463028286058, 0.0, 0.481888316616083, 0.518111683383917, 0.0,
        0.518994349647831, 0.481005650352169, 0.0, 0.559816238687106, 0.440183761312894, 0.0,
        0.504971680694752, 0.0, 0.495028319305248, 0.481226306019285, 0.0, 0.518773693980715,
        0.507181059438502, 0.0, 0.492818940561498, 0.497569339587422, 0.0, 0.502430660412578,
        0.500220970854735, 0.0, 0.499779029145265, 0.499889514567238, 0.0, 0.500110485432762,
    ]

    /// (i − 2j)/4 at [i, j].
    static let additiveMask: Tensor<Double> = {
        var scalars: [Double] = []
        for i in 0..<3 { for j in 0..<3 { scalars.append(Double(i - 2 * j) / 4) } }
        return Tensor(shape: [3, 3], scalars: scalars)
    }()
    static let booleanMask = [[false, true, false], [false, false, true], [true, false, false]]
    /// ((b + i + j) mod 3 − 1)/2 at [b, i, j] (b = sample·H + head).
    static let perHeadMask: Tensor<Double> = {
        var scalars: [Double] = []
        for b in 0..<4 { for i in 0..<3 { for j in 0..<3 { scalars.append(Double((b + i + j) % 3 - 1) / 2) } } }
        return Tensor(shape: [4, 3, 3], scalars: scalars)
    }()

    @Test(arguments: [MultiHeadAttention<Double>.Layout.stacked, .separate])
    func masksMatchPyTorch(layout: MultiHeadAttention<Double>.Layout) {
        let layer = referenceLayer(layout)
        let x = Variable(input)
        expectClose(layer(x, causal: false, attentionMask: .additive(Self.additiveMask)).value, Tensor(shape: [2, 3, 4], scalars: Self.additive), tolerance: 1e-14)
        expectClose(layer(x, causal: false, attentionMask: .blocking(Self.booleanMask)).value, Tensor(shape: [2, 3, 4], scalars: Self.boolean), tolerance: 1e-14)
        expectClose(layer(x, causal: false, attentionMask: .additive(Self.perHeadMask)).value, Tensor(shape: [2, 3, 4], scalars: Self.perHead), tolerance: 1e-14)
    }

    @Test(arguments: [MultiHeadAttention<Double>.Layout.stacked, .separate])
    func attentionWeightsMatchPyTorch(layout: MultiHeadAttention<Double>.Layout) {
        let layer = referenceLayer(layout)
        let x = Variable(input)
        let averaged = layer.outputAndWeights(query: x, key: x, value: x, attentionMask: .blocking(Self.booleanMask))
        expectClose(averaged.output.value, Tensor(shape: [2, 3, 4], scalars: Self.boolean), tolerance: 1e-14)
        expectClose(averaged.weights.value, Tensor(shape: [2, 3, 3], scalars: Self.weightsAveraged), tolerance: 1e-14)
        let perHead = layer.outputAndWeights(query: x, key: x, value: x, keyPaddingMask: [[false, false, true], [false, true, false]],
                                             averagingHeads: false)
        expectClose(perHead.weights.value, Tensor(shape: [2, 2, 3, 3], scalars: Self.weightsPerHead), tolerance: 1e-14)
    }

    @Test func separateProjectionsComputeWhatTheStackedOnesDo() {
        let x = Variable(input)
        let padding = [[false, true, false], [false, false, false]]
        let stacked = referenceLayer(.stacked)(x, causal: true, keyPaddingMask: padding).value
        let separate = referenceLayer(.separate)(x, causal: true, keyPaddingMask: padding).value
        expectClose(separate, stacked, tolerance: 1e-15)
    }

    @Test func huggingFaceMaskShapeBroadcasts() {
        // Hugging Face's extended attention mask [N, 1, 1, S]: 0 to attend, finfo.min to ignore.
        let layer = referenceLayer(.separate)
        let x = Variable(input)
        let extended = Tensor<Double>(shape: [2, 1, 1, 3], scalars: [0, 0, -Double.greatestFiniteMagnitude, 0, -Double.greatestFiniteMagnitude, 0])
        let padded = layer(x, causal: false, keyPaddingMask: [[false, false, true], [false, true, false]]).value
        expectClose(layer(x, causal: false, attentionMask: .additive(extended)).value, padded, tolerance: 1e-15)
    }

    @Test func separateLayoutHasHuggingFaceNamesAndTheSameInitialization() {
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9)
        let separate = MultiHeadAttention<Float>(embedDimension: 8, headCount: 2, layout: .separate, generator: &a)
        let stacked = MultiHeadAttention<Float>(embedDimension: 8, headCount: 2, generator: &b)
        #expect(separate.namedParameters.map { "\($0.name)\($0.parameter.shape)" } == [
            "query.weight[8, 8]", "query.bias[8]", "key.weight[8, 8]", "key.bias[8]", "value.weight[8, 8]", "value.bias[8]",
            "out_proj.weight[8, 8]", "out_proj.bias[8]"])
        let stackedWeight = stacked.inProjWeight.value
        #expect(separate.query!.weight.value == stackedWeight.slice(alongAxis: 0, range: 0..<8))
        #expect(separate.value!.weight.value == stackedWeight.slice(alongAxis: 0, range: 16..<24))
        #expect(stacked.query == nil && separate.outProj.weight.value == stacked.outProj.weight.value)
    }

    @Test func gradientsFlowThroughSeparateProjections() {
        let layer = referenceLayer(.separate)
        let tape = Tape<Double>()
        layer(tape.constant(input), causal: true).squared().sum().backward()
        for (name, parameter) in layer.namedParameters {
            #expect(parameter.grad?.scalars.contains { $0 != 0 } == true, "\(name)")
        }
    }

    @Test func maskOfTheWrongShapeStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = SeededGenerator(seed: 0)
            let layer = MultiHeadAttention<Double>(embedDimension: 4, headCount: 2, generator: &generator)
            _ = layer(Variable(Tensor<Double>(zeros: [2, 3, 4])), causal: false, attentionMask: .additive(Tensor(zeros: [3, 2])))
        }
        #expect(standardError(of: result).contains("scaledDotProductAttention: attentionMask of shape [3, 2] does not broadcast against the scores [N, H, L, S] = [2, 2, 3, 3]"))
    }
}

/// The fused inference path (nothing recorded) against the recorded composition, in `Float`.
@Suite("Multi-head attention inference path")
struct AttentionInferenceTests {
    /// A separate-layout layer E = 32, 4 heads, and x [3, 7, 32], from a seed.
    static func setUp() -> (MultiHeadAttention<Float>, Tensor<Float>) {
        var generator = SeededGenerator(seed: 31)
        let layer = MultiHeadAttention<Float>(embedDimension: 32, headCount: 4, layout: .separate, generator: &generator)
        return (layer, Tensor.randomNormal(shape: [3, 7, 32], using: &generator))
    }

    /// The layer's output with and without recording, and their largest difference.
    static func compare(_ run: (Variable<Float>) -> Variable<Float>) -> Float {
        let (_, x) = setUp()
        let tape = Tape<Float>()
        let recorded = run(tape.variable(x)).value
        let fused = withoutGradients { run(Variable(x)).value }
        #expect(recorded.shape == fused.shape)
        var worst: Float = 0
        for (a, b) in zip(recorded.scalars, fused.scalars) {
            if a.isNaN || b.isNaN { #expect(a.isNaN && b.isNaN); continue }
            worst = Swift.max(worst, Swift.abs(a - b) / Swift.max(1, Swift.abs(a)))
        }
        return worst
    }

    @Test func fusedPathComputesWhatTheRecordedOneDoes() {
        let (layer, _) = Self.setUp()
        let padding = [[false, false, false, false, false, true, true], [false, false, false, false, false, false, false],
                       [false, true, false, false, false, false, true]]
        var additive = [Float]()
        for i in 0..<7 { for j in 0..<7 { additive.append(Float((i * 3 + j * 5) % 7) / 4 - 0.75) } }
        let perHead = Tensor<Float>(shape: [12, 7, 7], scalars: (0..<(12 * 49)).map { Float($0 % 11) / 8 - 0.6 })
        let blocked = Tensor<Float>(shape: [3, 1, 7, 7], scalars: (0..<147).map { $0 % 5 == 3 ? 1 : 0 })
        let cases: [(String, (Variable<Float>) -> Variable<Float>)] = [
            ("plain", { layer($0) }),
            ("causal", { layer($0, causal: true) }),
            ("padding", { layer($0, causal: false, keyPaddingMask: padding) }),
            ("causal + padding", { layer($0, causal: true, keyPaddingMask: padding) }),
            ("additive [L, S]", { layer($0, causal: false, attentionMask: .additive(Tensor(shape: [7, 7], scalars: additive))) }),
            ("additive [N·H, L, S] + padding", { layer($0, causal: false, keyPaddingMask: padding, attentionMask: .additive(perHead)) }),
            ("blocking [N, 1, L, S]", { layer($0, causal: false, attentionMask: .blocking(blocked)) }),
            ("cross-attention", { x in layer(query: x.slice(alongAxis: 1, range: 0..<3), key: x, value: x) }),
        ]
        for (name, run) in cases {
            let difference = Self.compare(run)
            #expect(difference <= 2e-6, "\(name): largest difference \(difference)")
        }
    }

    /// A query with every key masked attends to nothing: output 0 on both paths (PyTorch 2.15's
    /// scaled_dot_product_attention; `nn.MultiheadAttention` with `need_weights=False` agrees).
    @Test func aQueryWithEveryKeyMaskedGivesZeroOnBothPaths() {
        let (layer, _) = Self.setUp()
        let padding = Array(repeating: Array(repeating: true, count: 7), count: 3)
        #expect(Self.compare { layer($0, causal: false, keyPaddingMask: padding) } < 1e-5)
        let fused = withoutGradients { layer(Variable(Self.setUp().1), causal: false, keyPaddingMask: padding).value }
        // Every head's output is 0, so the layer gives the output projection's bias.
        let bias = layer.outProj.bias!.value
        for row in 0..<21 { #expect(Array(fused.scalars[(row * 32)..<((row + 1) * 32)]) == bias.scalars) }
    }
}
