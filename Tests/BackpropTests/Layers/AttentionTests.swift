import Backprop
import Foundation
import Testing

/// A one-head layer with E = 2, identity query/key/value/output projections and zero biases, so
/// that it computes `softmax(x·xᵀ/√2)·x`.
private func identityAttention() -> MultiHeadAttention<Double> {
    var generator = SeededGenerator(seed: 0)
    let layer = MultiHeadAttention<Double>(embedDimension: 2, headCount: 1, generator: &generator)
    layer.inProjWeight.value = tensor([6, 2], [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1])
    layer.outProj.weight.value = tensor([2, 2], [1, 0, 0, 1])
    return layer
}

/// The layer of the PyTorch script in the comment above `AttentionTests.pytorchReference`: E = 4, 2 heads, weights from closed forms.
private func referenceLayer() -> MultiHeadAttention<Double> {
    var generator = SeededGenerator(seed: 0)
    let layer = MultiHeadAttention<Double>(embedDimension: 4, headCount: 2, generator: &generator)
    var inProjWeight: [Double] = [], inProjBias: [Double] = [], outProjWeight: [Double] = []
    for i in 0..<12 {
        for j in 0..<4 { inProjWeight.append(Double((i * 7 + j * 3) % 11 - 5) / 10) }
        inProjBias.append(Double(i % 5 - 2) / 10)
    }
    for i in 0..<4 { for j in 0..<4 { outProjWeight.append(Double((i * 5 + j) % 7 - 3) / 10) } }
    layer.inProjWeight.value = Tensor(shape: [12, 4], scalars: inProjWeight)
    layer.inProjBias!.value = Tensor(inProjBias)
    layer.outProj.weight.value = Tensor(shape: [4, 4], scalars: outProjWeight)
    layer.outProj.bias!.value = Tensor([0.1, -0.2, 0.3, -0.4])
    return layer
}

/// x[n, l, e] = ((n·12 + l·4 + e) mod 9)/4 − 1, shape [2, 3, 4].
private let referenceInput: Tensor<Double> = {
    var scalars: [Double] = []
    for index in 0..<24 { scalars.append(Double(index % 9) / 4 - 1) }   // index = n·12 + l·4 + e
    return Tensor(shape: [2, 3, 4], scalars: scalars)
}()

@Suite("Multi-head attention")
struct AttentionTests {
    // MARK: Values

    @Test func oneHeadWithIdentityProjectionsMatchesTheHandComputedSoftmax() {
        // x₀ = [1, 0], x₁ = [0, 1]: scores = I/√2, so row 0 weighs (a, 1 − a) with a = e^s/(e^s + 1), s = 1/√2.
        let layer = identityAttention()
        let x = Variable(tensor([1, 2, 2], [1, 0, 0, 1]))
        let s = 1 / 2.0.squareRoot()
        let a = Foundation.exp(s) / (Foundation.exp(s) + 1)
        expectClose(layer(x).value, tensor([1, 2, 2], [a, 1 - a, 1 - a, a]), tolerance: 1e-15)
        // Causal: position 0 sees only itself.
        expectClose(layer(x, causal: true).value, tensor([1, 2, 2], [1, 0, 1 - a, a]), tolerance: 1e-15)
        // Key 1 padded: both positions see only x₀.
        expectClose(layer(x, causal: false, keyPaddingMask: [[false, true]]).value, tensor([1, 2, 2], [1, 0, 1, 0]), tolerance: 1e-15)
    }

    // Expected values from PyTorch 2.15 nn.MultiheadAttention(4, 2, batch_first=True, dtype=float64) with
    // the weights of `referenceLayer()`, rounded to 15 decimals. Generating script (run once):
    //
    //   import torch
    //   E, H = 4, 2
    //   mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    //   with torch.no_grad():
    //       mha.in_proj_weight.copy_(torch.tensor([((i*7 + j*3) % 11 - 5) / 10 for i in range(3*E) for j in range(E)],
    //                                             dtype=torch.float64).reshape(3*E, E))
    //       mha.in_proj_bias.copy_(torch.tensor([(i % 5 - 2) / 10 for i in range(3*E)], dtype=torch.float64))
    //       mha.out_proj.weight.copy_(torch.tensor([((i*5 + j) % 7 - 3) / 10 for i in range(E) for j in range(E)],
    //                                              dtype=torch.float64).reshape(E, E))
    //       mha.out_proj.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4], dtype=torch.float64))
    //   x = torch.tensor([[[(n*12 + l*4 + e) % 9 / 4 - 1 for e in range(E)] for l in range(3)] for n in range(2)],
    //                    dtype=torch.float64)
    //   causal = torch.triu(torch.ones(3, 3, dtype=torch.bool), diagonal=1)
    //   pad = torch.tensor([[False, False, True], [False, True, False]])
    //   for kw in [{}, dict(attn_mask=causal), dict(key_padding_mask=pad), dict(attn_mask=causal, key_padding_mask=pad)]:
    //       print([round(v, 15) for v in mha(x, x, x, need_weights=False, **kw)[0].flatten().tolist()])
    static let pytorchReference: [(causal: Bool, padding: Bool, values: [Double])] = [
        (false, false, [0.016501798180074, 0.099693123338836, 0.263096976522922, -0.467966475705643, 0.014238748281707, 0.103963182289785,
                        0.257403162194624, -0.471373113747321, 0.01036404312468, 0.096988812475627, 0.26230164833931, -0.472323421803777,
                        0.108589547812522, -0.042384985258787, 0.194639457789186, -0.42939381552859, 0.018677272113055, 0.012505173062033,
                        0.209758267486645, -0.484295729429082, 0.11307139062954, -0.052757118705014, 0.204301962847318, -0.423185085297868]),
        (true, false, [-0.0325, 0.0225, 0.37, -0.465, -0.046930169510565, -0.027102619794691, 0.35466859763375, -0.47973058046246,
                       0.01036404312468, 0.096988812475627, 0.26230164833931, -0.472323421803777, -0.055, -0.0525, 0.3475, -0.4875,
                       0.070352482742316, 0.018220007143027, 0.134703231880454, -0.474863934211638, 0.11307139062954, -0.052757118705014,
                       0.204301962847318, -0.423185085297868]),
        (false, true, [-0.048043350501518, -0.030719139671306, 0.353611866698734, -0.4808249447681, -0.046930169510565, -0.027102619794691,
                       0.35466859763375, -0.47973058046246, -0.045705512839387, -0.025282339479948, 0.354536109151418, -0.478958305509118,
                       -0.051231770046906, -0.040031762753527, 0.351212712394789, -0.483750275899674, -0.051251657281411, -0.039768090960925,
                       0.351390802704855, -0.483704170619322, -0.051249171359254, -0.040088382175072, 0.351196142054211, -0.483767400221432]),
        (true, true, [-0.0325, 0.0225, 0.37, -0.465, -0.046930169510565, -0.027102619794691, 0.35466859763375, -0.47973058046246,
                      -0.045705512839387, -0.025282339479948, 0.354536109151418, -0.478958305509118, -0.055, -0.0525, 0.3475, -0.4875,
                      -0.055, -0.0525, 0.3475, -0.4875, -0.051249171359254, -0.040088382175072, 0.351196142054211, -0.483767400221432]),
    ]

    @Test(arguments: 0..<4) func matchesPyTorchMultiheadAttention(caseIndex: Int) {
        let reference = Self.pytorchReference[caseIndex]
        let padding: [[Bool]]? = reference.padding ? [[false, false, true], [false, true, false]] : nil
        let y = referenceLayer()(Variable(referenceInput), causal: reference.causal, keyPaddingMask: padding)
        expectClose(y.value, Tensor(shape: [2, 3, 4], scalars: reference.values), tolerance: 1e-14)
    }

    // MARK: Masks

    @Test func causalOutputsDoNotDependOnFuturePositions() {
        let layer = referenceLayer()
        let before = layer(Variable(referenceInput), causal: true).value
        var perturbed = referenceInput.scalars
        for e in 0..<4 { perturbed[2 * 4 + e] += 3; perturbed[12 + 2 * 4 + e] -= 2 }   // the last token of both samples
        let after = layer(Variable(Tensor(shape: [2, 3, 4], scalars: perturbed)), causal: true).value
        for n in 0..<2 {
            for index in 0..<8 { #expect(after.scalars[n * 12 + index] == before.scalars[n * 12 + index]) }
            #expect((8..<12).contains { after.scalars[n * 12 + $0] != before.scalars[n * 12 + $0] })
        }
        // Without the mask, earlier positions do see the change.
        #expect(layer(Variable(Tensor(shape: [2, 3, 4], scalars: perturbed))).value.scalars[0] != layer(Variable(referenceInput)).value.scalars[0])
    }

    @Test func paddedKeysAreIgnoredAsIfRemoved() {
        // Sample 0 pads key 2: its output equals attention over keys 0 and 1 only.
        let layer = referenceLayer()
        let x = Variable(referenceInput)
        let masked = layer(query: x, key: x, value: x, keyPaddingMask: [[false, false, true], [false, false, false]])
        let keys = Variable(referenceInput.slice(alongAxis: 0, range: 0..<1).slice(alongAxis: 1, range: 0..<2))
        let removed = layer(query: Variable(referenceInput.slice(alongAxis: 0, range: 0..<1)), key: keys, value: keys)
        expectClose(masked.value.slice(alongAxis: 0, range: 0..<1), removed.value, tolerance: 1e-14)
        // The padded key's value does not matter.
        var changed = referenceInput.scalars
        for e in 0..<4 { changed[8 + e] = 100 }
        let query = Variable(referenceInput)
        let other = Variable(Tensor(shape: [2, 3, 4], scalars: changed))
        let y = layer(query: query, key: other, value: other, keyPaddingMask: [[false, false, true], [false, false, false]])
        expectClose(y.value.slice(alongAxis: 0, range: 0..<1), masked.value.slice(alongAxis: 0, range: 0..<1), tolerance: 1e-14)
    }

    @Test func maskedKeysReceiveNoGradient() {
        let layer = referenceLayer()
        let tape = Tape<Double>()
        let key = tape.variable(referenceInput)
        let query = tape.constant(referenceInput)
        layer(query: query, key: key, value: key, keyPaddingMask: [[false, true, false], [false, false, false]]).sum().backward()
        let grad = key.grad!
        #expect(grad.slice(alongAxis: 0, range: 0..<1).slice(alongAxis: 1, range: 1..<2).scalars.allSatisfy { $0 == 0 })
        #expect(grad.slice(alongAxis: 0, range: 1..<2).scalars.contains { $0 != 0 })
    }

    // MARK: Parameters

    @Test func parameterNamesAndShapesAreNNMultiheadAttentions() {
        var generator = SeededGenerator(seed: 3)
        let layer = MultiHeadAttention<Double>(embedDimension: 8, headCount: 2, generator: &generator)
        let shapes = layer.namedParameters.map { "\($0.name)\($0.parameter.shape)" }
        #expect(shapes == ["in_proj_weight[24, 8]", "in_proj_bias[24]", "out_proj.weight[8, 8]", "out_proj.bias[8]"])
        let noBias = MultiHeadAttention<Double>(embedDimension: 8, headCount: 4, bias: false, generator: &generator)
        #expect(noBias.namedParameters.map(\.name) == ["in_proj_weight", "out_proj.weight"])
    }

    @Test func initializationIsPyTorchs() {
        var generator = SeededGenerator(seed: 4)
        let layer = MultiHeadAttention<Double>(embedDimension: 8, headCount: 2, generator: &generator)
        let xavierBound = (6.0 / (8 + 24)).squareRoot()
        let weights = layer.inProjWeight.value.scalars
        #expect(weights.allSatisfy { Swift.abs($0) < xavierBound })
        #expect(weights.contains { Swift.abs($0) > 0.8 * xavierBound })   // spread over the range, not a narrower one
        #expect(layer.inProjBias!.value.scalars.allSatisfy { $0 == 0 })
        #expect(layer.outProj.bias!.value.scalars.allSatisfy { $0 == 0 })
        #expect(layer.outProj.weight.value.scalars.allSatisfy { Swift.abs($0) < 1 / 8.0.squareRoot() })
    }

    @Test func parametersReceiveGradientsThroughTheModule() {
        let layer = referenceLayer()
        let tape = Tape<Double>()
        layer(tape.constant(referenceInput), causal: true).squared().sum().backward()
        for (name, parameter) in layer.namedParameters {
            #expect(parameter.grad?.shape == parameter.shape, "\(name)")
            #expect(parameter.grad?.scalars.contains { $0 != 0 } == true, "\(name)")
        }
    }

    @Test func dropoutActsOnlyInTraining() {
        var generator = SeededGenerator(seed: 5)
        let layer = MultiHeadAttention<Double>(embedDimension: 4, headCount: 2, dropout: 0.5, generator: &generator)
        let x = Variable(referenceInput)
        let first = layer(x).value, second = layer(x).value
        #expect(first != second)
        layer.eval()
        #expect(layer(x).value == layer(x).value)
    }

    // MARK: Misuse

    @Test func headCountMustDivideTheEmbedDimension() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = SeededGenerator(seed: 0)
            _ = MultiHeadAttention<Double>(embedDimension: 6, headCount: 4, generator: &generator)
        }
        #expect(standardError(of: result).contains("MultiHeadAttention: headCount 4 must be positive and divide embedDimension 6"))
    }

    @Test func keyPaddingMaskMustBeNByS() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var generator = SeededGenerator(seed: 0)
            let layer = MultiHeadAttention<Double>(embedDimension: 4, headCount: 2, generator: &generator)
            _ = layer(Variable(Tensor<Double>(zeros: [2, 3, 4])), causal: false, keyPaddingMask: [[false, false, false]])
        }
        #expect(standardError(of: result).contains("keyPaddingMask must have shape [N, S] = [2, 3]"))
    }
}
