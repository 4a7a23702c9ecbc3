import Backprop

extension Catalog {
    /// Losses: the fused class-index losses are checked against `logSoftmax` and a constant target
    /// weighting `W` (so `L = −Σ W ⊙ logSoftmax(x)/kept`), binary cross-entropy against its softplus form.
    static var lossCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let pair = Inputs.tensors([[3, 4], [3, 4]], seed: 31)
        for reduction in LossReduction.allCases {
            cases.append(GradCheckCase("meanSquaredError[3x4,\(reduction)]", inputs: pair) { meanSquaredError($0[0], $0[1], reduction: reduction) })
            // predictions and targets apart, so |x − y| stays away from its kink at 0
            cases.append(GradCheckCase("l1Loss[3x4,\(reduction)]", inputs: [pair[0] + 5, pair[1]]) { l1Loss($0[0], $0[1], reduction: reduction) })
        }

        let configurations: [(shape: [Int], targets: [Int], smoothing: Double, ignore: Int)] = [
            ([4, 5], [1, 0, 4, 2], 0, -100),
            ([4, 5], [1, -100, 4, 2], 0, -100),
            ([4, 5], [3, 0, 3, 1], 0.2, 3),
            ([2, 3, 4], [0, 2, 1, 1, 2, 0, 0, 1], 0.1, -100),
            ([5], [2], 0.3, -100),
        ]
        for config in configurations {
            for reduction in LossReduction.allCases {
                let tag = "\(shapeName(config.shape)),y=\(config.targets.map(String.init).joined(separator: " ")),ε=\(config.smoothing),ignore=\(config.ignore),\(reduction)"
                let weights = targetWeights(shape: config.shape, targets: config.targets, smoothing: config.smoothing, ignoreIndex: config.ignore)
                let kept = Double(config.targets.filter { $0 != config.ignore }.count)
                let classAxis = config.shape.count == 1 ? 0 : 1
                @Sendable func weightedReference(_ logProbabilities: Variable<Double>) -> Variable<Double> {
                    let perSample = -(logProbabilities * weights.constantOn(logProbabilities)).sum(alongAxes: [classAxis])
                    switch reduction {
                    case .mean: return perSample.sum() * (1 / kept)
                    case .sum: return perSample.sum()
                    case .none: return perSample
                    }
                }
                cases.append(GradCheckCase("crossEntropy[\(tag)]", inputs: [Inputs.tensor(config.shape, seed: 32) * 2],
                                           reference: { weightedReference($0[0].logSoftmax(alongAxis: classAxis)) }) {
                    crossEntropy(logits: $0[0], targets: config.targets, labelSmoothing: config.smoothing, ignoreIndex: config.ignore, reduction: reduction)
                })
                if config.smoothing == 0 {
                    cases.append(GradCheckCase("negativeLogLikelihood[\(tag)]", inputs: [Inputs.tensor(config.shape, seed: 33)],
                                               reference: { weightedReference($0[0]) }) {
                        negativeLogLikelihood(logProbabilities: $0[0], targets: config.targets, ignoreIndex: config.ignore, reduction: reduction)
                    })
                }
            }
        }
        cases.append(GradCheckCase("crossEntropy[large=1e4,2x3]", inputs: [Tensor([[1e4, 0, -1e4], [-1e4, 1e4 + 1, 1e4]])]) {
            crossEntropy(logits: $0[0], targets: [0, 2], labelSmoothing: 0.1)
        })

        let probabilities = (Inputs.tensor([3, 4], seed: 35) + 2) / 4   // in [0, 1]
        let positiveWeight = Tensor<Double>([0.5, 1, 2, 3])
        for reduction in LossReduction.allCases {
            for weight in [nil, positiveWeight] {
                let tag = "3x4,\(reduction)\(weight == nil ? "" : ",posWeight")"
                cases.append(GradCheckCase("binaryCrossEntropy[\(tag)]", inputs: [Inputs.tensor([3, 4], seed: 34) * 2, probabilities],
                                           reference: { v in
                    let (x, y) = (v[0], v[1])
                    let logWeight = weight.map { (y * ($0 - 1).constantOn(y)) + 1 } ?? (y * 0 + 1)
                    let softplusNegative = (1 + (-x.abs()).exp()).log() + (-x).relu()
                    return ((1 - y) * x + logWeight * softplusNegative).reduced(reduction)
                }) { binaryCrossEntropy(logits: $0[0], targets: $0[1], positiveWeight: weight, reduction: reduction) })
            }
        }
        cases.append(GradCheckCase("binaryCrossEntropy[large=±1e4]", inputs: [Tensor([-1e4, -30, 30, 1e4]), Tensor([0.25, 1, 0, 0.5])]) {
            binaryCrossEntropy(logits: $0[0], targets: $0[1])
        })
        return cases
    }

    /// `W[n, c, …] = (1 − ε)·[c = yₙ] + ε/C` for kept samples and 0 for ignored ones.
    static func targetWeights(shape: [Int], targets: [Int], smoothing: Double, ignoreIndex: Int) -> Tensor<Double> {
        let classAxis = shape.count == 1 ? 0 : 1
        let classes = shape[classAxis]
        let inner = shape[(classAxis + 1)...].reduce(1, *)
        var w = Tensor<Double>(zeros: shape)
        var scalars = w.scalars
        for (sample, target) in targets.enumerated() where target != ignoreIndex {
            let (o, i) = (sample / inner, sample % inner)
            for c in 0..<classes {
                scalars[(o * classes + c) * inner + i] = smoothing / Double(classes) + (c == target ? 1 - smoothing : 0)
            }
        }
        w = Tensor(shape: shape, scalars: scalars)
        return w
    }
}

extension Variable<Double> {
    fileprivate func reduced(_ reduction: LossReduction) -> Variable<Double> {
        switch reduction {
        case .mean: return mean()
        case .sum: return sum()
        case .none: return self
        }
    }
}
