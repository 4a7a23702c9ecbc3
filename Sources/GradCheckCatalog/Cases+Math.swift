import Backprop

extension Catalog {
    static var mathCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        for shape in [[5], [2, 3], [2, 1, 3]] {
            let s = shapeName(shape)
            cases.append(GradCheckCase("exp[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].exp() })
            cases.append(GradCheckCase("log[\(s)]", inputs: Inputs.tensors([shape], domain: .positive)) { $0[0].log() })
            cases.append(GradCheckCase("sqrt[\(s)]", inputs: Inputs.tensors([shape], domain: .positive)) { $0[0].sqrt() })
            cases.append(GradCheckCase("rsqrt[\(s)]", inputs: Inputs.tensors([shape], domain: .positive)) { $0[0].rsqrt() })
            cases.append(GradCheckCase("abs[\(s)]", inputs: Inputs.tensors([shape], domain: .awayFromZero)) { $0[0].abs() })
            cases.append(GradCheckCase("squared[\(s)]", inputs: Inputs.tensors([shape])) { $0[0].squared() })
        }
        cases.append(GradCheckCase("clamp[3x4,-1...1]", inputs: Inputs.tensors([[3, 4]], domain: .awayFromZero).map { x in
            // keep values away from the clamp bounds too
            Tensor(shape: x.shape, scalars: x.scalars.map { Swift.abs(Swift.abs($0) - 1) < 0.05 ? $0 * 1.2 : $0 })
        }) { $0[0].clamped(to: -1...1) })
        return cases
    }
}
