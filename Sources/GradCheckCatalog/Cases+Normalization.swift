import Backprop

/// Which affine parameters a normalization case differentiates.
enum AffineOption: CaseIterable {
    case affine, weightOnly, none

    var label: String {
        switch self {
        case .affine: "affine"
        case .weightOnly: "weight-only"
        case .none: "no-affine"
        }
    }
    var hasWeight: Bool { self != .none }
    var hasBias: Bool { self == .affine }
}

/// `eps=1e-3` for a non-default eps, nothing for the default.
private func epsLabel(_ eps: Double, default defaultEps: Double) -> String {
    eps == defaultEps ? "" : ",eps=\(eps)"
}

/// `[x, weight?, bias?]` test inputs; the weight and bias have `affineShape`.
private func normalizationInputs(_ shape: [Int], affineShape: [Int], affine: AffineOption, seed: UInt64,
                                 domain: Inputs.Domain = .any) -> [Tensor<Double>] {
    var inputs = [Inputs.tensor(shape, seed: seed, domain: domain)]
    if affine.hasWeight { inputs.append(Inputs.tensor(affineShape, seed: seed &+ 1)) }
    if affine.hasBias { inputs.append(Inputs.tensor(affineShape, seed: seed &+ 2)) }
    return inputs
}

/// Splits `[x, weight?, bias?]` variables.
private func split(_ v: [Variable<Double>], _ affine: AffineOption) -> (Variable<Double>, Variable<Double>?, Variable<Double>?) {
    (v[0], affine.hasWeight ? v[1] : nil, affine.hasBias ? v[2] : nil)
}

/// A case differentiating `[x, weight?, bias?]` of a fused layer against its reference decomposition.
private func affineCase(_ name: String, shape: [Int], affineShape: [Int], affine: AffineOption, seed: UInt64,
                        domain: Inputs.Domain = .any,
                        reference: @escaping @Sendable (Variable<Double>, Variable<Double>?, Variable<Double>?) -> Variable<Double>,
                        _ fused: @escaping @Sendable (Variable<Double>, Variable<Double>?, Variable<Double>?) -> Variable<Double>) -> GradCheckCase {
    GradCheckCase(name, inputs: normalizationInputs(shape, affineShape: affineShape, affine: affine, seed: seed, domain: domain),
                  reference: { v in let (x, w, b) = split(v, affine); return reference(x, w, b) }) { v in
        let (x, w, b) = split(v, affine)
        return fused(x, w, b)
    }
}

extension Catalog {
    /// Every normalization layer over its configuration matrix: the fused op against finite
    /// differences and against its reference decomposition into primitive ops.
    static var normalizationCases: [GradCheckCase] {
        layerNormCases + rmsNormCases + groupNormCases + instanceNormCases + batchNormCases + batchLayerNormCases
    }

    static var layerNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        // (input shape, normalized shape, eps): last 1, 2 and 3 axes; ranks 1–4; N = 1; width-1 axes.
        let configurations: [([Int], [Int], Double)] = [
            ([5], [5], 1e-5), ([3, 4], [4], 1e-5), ([2, 3, 4], [3, 4], 1e-5), ([2, 2, 3, 2], [2, 3, 2], 1e-5),
            ([2, 3, 4], [4], 1e-3), ([1, 4], [4], 1e-5), ([3, 1], [1], 1e-5), ([2, 1, 3], [1, 3], 0.1),
        ]
        var seed: UInt64 = 300
        for (shape, normalized, eps) in configurations {
            for affine in AffineOption.allCases {
                seed += 3
                let name = "layerNorm[shape=\(shapeName(shape)),normalized=\(shapeName(normalized)),\(affine.label)\(epsLabel(eps, default: 1e-5))]"
                cases.append(affineCase(name, shape: shape, affineShape: normalized, affine: affine, seed: seed,
                                        reference: { x, w, b in x.layerNormReference(normalizedShape: normalized, weight: w, bias: b, eps: eps) }) { x, w, b in
                    x.layerNorm(normalizedShape: normalized, weight: w, bias: b, eps: eps)
                })
            }
        }
        // The Annotated-Transformer variant (unbiased std, ε outside the root).
        for (shape, normalized) in [([3, 4], [4]), ([2, 2, 3], [2, 3])] as [([Int], [Int])] {
            for affine in [AffineOption.affine, .none] {
                seed += 3
                let name = "layerNorm[shape=\(shapeName(shape)),normalized=\(shapeName(normalized)),\(affine.label),annotated-transformer,eps=1e-06]"
                cases.append(affineCase(name, shape: shape, affineShape: normalized, affine: affine, seed: seed,
                                        reference: { x, w, b in x.layerNormReference(normalizedShape: normalized, weight: w, bias: b, eps: 1e-6, variant: .annotatedTransformer) }) { x, w, b in
                    x.layerNorm(normalizedShape: normalized, weight: w, bias: b, eps: 1e-6, variant: .annotatedTransformer)
                })
            }
        }
        return cases
    }

    static var rmsNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let configurations: [([Int], [Int], Double?)] = [
            ([5], [5], nil), ([3, 4], [4], nil), ([2, 3, 4], [3, 4], nil), ([2, 2, 3, 2], [2, 3, 2], nil),
            ([2, 3, 4], [4], 1e-6), ([1, 4], [4], 1e-2), ([3, 1], [1], nil), ([2, 1, 3], [1, 3], 1e-6),
        ]
        var seed: UInt64 = 400
        for (shape, normalized, eps) in configurations {
            for affine in [AffineOption.weightOnly, .none] {
                seed += 3
                let name = "rmsNorm[shape=\(shapeName(shape)),normalized=\(shapeName(normalized)),\(affine == .none ? "no-affine" : "affine")\(eps.map { ",eps=\($0)" } ?? "")]"
                cases.append(affineCase(name, shape: shape, affineShape: normalized, affine: affine, seed: seed, domain: .awayFromZero,
                                        reference: { x, w, b in x.rmsNormReference(normalizedShape: normalized, weight: w, eps: eps) }) { x, w, b in
                    x.rmsNorm(normalizedShape: normalized, weight: w, eps: eps)
                })
            }
        }
        return cases
    }

    static var groupNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        // (shape, groups, eps): G = 1, G = C and between; ranks 2–5; N = 1.
        let configurations: [([Int], Int, Double)] = [
            ([2, 4, 3], 1, 1e-5), ([2, 4, 3], 2, 1e-5), ([2, 4, 3], 4, 1e-5), ([2, 6], 3, 1e-5), ([2, 6], 1, 1e-5),
            ([1, 4, 2, 2], 2, 1e-5), ([2, 2, 2, 2], 2, 1e-3), ([1, 2, 2, 1, 2], 1, 1e-5), ([2, 3, 1], 3, 0.1),
        ]
        var seed: UInt64 = 500
        for (shape, groups, eps) in configurations {
            for affine in AffineOption.allCases {
                seed += 3
                let name = "groupNorm[shape=\(shapeName(shape)),groups=\(groups),\(affine.label)\(epsLabel(eps, default: 1e-5))]"
                cases.append(affineCase(name, shape: shape, affineShape: [shape[1]], affine: affine, seed: seed,
                                        reference: { x, w, b in x.groupNormReference(numGroups: groups, weight: w, bias: b, eps: eps) }) { x, w, b in
                    x.groupNorm(numGroups: groups, weight: w, bias: b, eps: eps)
                })
            }
        }
        return cases
    }

    static var instanceNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        let configurations: [([Int], Double)] = [
            ([2, 3, 4], 1e-5), ([1, 2, 3], 1e-5), ([2, 2, 2, 3], 1e-5), ([1, 2, 2, 1, 2], 1e-5), ([2, 2, 3], 1e-3),
        ]
        var seed: UInt64 = 600
        for (shape, eps) in configurations {
            for affine in AffineOption.allCases {
                seed += 3
                let name = "instanceNorm[shape=\(shapeName(shape)),\(affine.label)\(epsLabel(eps, default: 1e-5)),train]"
                cases.append(affineCase(name, shape: shape, affineShape: [shape[1]], affine: affine, seed: seed,
                                        reference: { x, w, b in x.instanceNormReference(weight: w, bias: b, eps: eps) }) { x, w, b in
                    x.instanceNorm(weight: w, bias: b, eps: eps)
                })
            }
        }
        // Evaluation with running statistics (trackRunningStats), given as constants.
        for (shape, affine) in [([2, 2, 3], AffineOption.affine), ([1, 3, 2, 2], .none)] as [([Int], AffineOption)] {
            seed += 3
            let runningMean = Inputs.tensor([shape[1]], seed: seed &+ 5)
            let runningVariance = Inputs.tensor([shape[1]], seed: seed &+ 6, domain: .positive)
            let name = "instanceNorm[shape=\(shapeName(shape)),\(affine.label),eval,running-stats]"
            cases.append(affineCase(name, shape: shape, affineShape: [shape[1]], affine: affine, seed: seed,
                                    reference: { x, w, b in x.batchNormReference(runningMean: runningMean, runningVariance: runningVariance, weight: w, bias: b) }) { x, w, b in
                x.instanceNorm(runningMean: runningMean, runningVariance: runningVariance, weight: w, bias: b)
            })
        }
        // The module with running statistics updated over training steps, then evaluated.
        for momentum in [0.1, nil] as [Double?] {
            let shape = [2, 2, 3]
            let training = (0..<3).map { Inputs.tensor(shape, seed: 650 &+ UInt64($0)) }
            let name = "instanceNorm[shape=\(shapeName(shape)),module,track-running-stats,momentum=\(momentum.map { "\($0)" } ?? "nil"),3-steps,eval]"
            cases.append(GradCheckCase(name, inputs: [Inputs.tensor(shape, seed: 660)],
                                       reference: { v in
                                           let layer = trainedInstanceNorm(channels: 2, momentum: momentum, batches: training)
                                           return v[0].batchNormReference(runningMean: layer.runningMean!.value, runningVariance: layer.runningVar!.value)
                                       }) { v in
                trainedInstanceNorm(channels: 2, momentum: momentum, batches: training)(v[0])
            })
        }
        return cases
    }

    static var batchNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        // Ranks 2–5, N = 1 with spatial axes, several eps.
        let configurations: [([Int], Double)] = [
            ([4, 3], 1e-5), ([3, 2, 4], 1e-5), ([2, 2, 2, 3], 1e-5), ([2, 2, 1, 2, 2], 1e-5), ([1, 2, 5], 1e-5),
            ([5, 2], 1e-3), ([2, 3, 2], 0.1),
        ]
        var seed: UInt64 = 700
        for (shape, eps) in configurations {
            for affine in AffineOption.allCases {
                seed += 3
                let name = "batchNorm[shape=\(shapeName(shape)),\(affine.label)\(epsLabel(eps, default: 1e-5)),train]"
                cases.append(affineCase(name, shape: shape, affineShape: [shape[1]], affine: affine, seed: seed,
                                        reference: { x, w, b in x.batchNormReference(weight: w, bias: b, eps: eps) }) { x, w, b in
                    x.batchNorm(weight: w, bias: b, eps: eps)
                })
            }
        }
        // Evaluation with running statistics given as constants.
        for (shape, affine) in [([4, 3], AffineOption.affine), ([2, 2, 3], .weightOnly), ([1, 2, 2, 2], .none)] as [([Int], AffineOption)] {
            seed += 3
            let runningMean = Inputs.tensor([shape[1]], seed: seed &+ 5)
            let runningVariance = Inputs.tensor([shape[1]], seed: seed &+ 6, domain: .positive)
            let name = "batchNorm[shape=\(shapeName(shape)),\(affine.label),eval,running-stats]"
            cases.append(affineCase(name, shape: shape, affineShape: [shape[1]], affine: affine, seed: seed,
                                    reference: { x, w, b in x.batchNormReference(runningMean: runningMean, runningVariance: runningVariance, weight: w, bias: b) }) { x, w, b in
                x.batchNorm(runningMean: runningMean, runningVariance: runningVariance, weight: w, bias: b)
            })
        }
        // The module: running statistics updated over training steps (momentum 0.1 and nil), then
        // evaluated; and evaluation without running statistics (batch statistics).
        for momentum in [0.1, nil] as [Double?] {
            let shape = [3, 2, 2]
            let training = (0..<3).map { Inputs.tensor(shape, seed: 750 &+ UInt64($0)) }
            let name = "batchNorm[shape=\(shapeName(shape)),module,momentum=\(momentum.map { "\($0)" } ?? "nil"),3-steps,eval]"
            cases.append(GradCheckCase(name, inputs: [Inputs.tensor(shape, seed: 760)],
                                       reference: { v in
                                           let layer = trainedBatchNorm(channels: 2, momentum: momentum, batches: training)
                                           return v[0].batchNormReference(runningMean: layer.runningMean!.value, runningVariance: layer.runningVar!.value)
                                       }) { v in
                trainedBatchNorm(channels: 2, momentum: momentum, batches: training)(v[0])
            })
        }
        let shape = [3, 2, 2]
        cases.append(GradCheckCase("batchNorm[shape=\(shapeName(shape)),module,no-running-stats,eval]", inputs: [Inputs.tensor(shape, seed: 770)],
                                   reference: { v in v[0].batchNormReference() }) { v in
            let layer = BatchNorm<Double>(numFeatures: 2, affine: false, trackRunningStats: false)
            layer.eval()
            return layer(v[0])
        })
        return cases
    }

    static var batchLayerNormCases: [GradCheckCase] {
        var cases: [GradCheckCase] = []
        // (shape, fixed batch size): ranks 2–4; N = 1 (almost LayerNorm); width-1 feature axis.
        let configurations: [([Int], Int?)] = [
            ([3, 4], nil), ([2, 3, 4], nil), ([2, 2, 2, 3], nil), ([1, 5], nil), ([2, 2, 3], 25), ([3, 2, 1], nil),
        ]
        var seed: UInt64 = 800
        for (shape, batchSize) in configurations {
            for affine in [AffineOption.affine, .none] {
                seed += 3
                let name = "batchLayerNorm[shape=\(shapeName(shape)),\(affine.label)\(batchSize.map { ",batch-size=\($0)" } ?? ""),train]"
                let features = [shape[shape.count - 1]]
                cases.append(affineCase(name, shape: shape, affineShape: features, affine: affine, seed: seed,
                                        reference: { x, w, b in x.batchLayerNormReference(weight: w, bias: b, batchSize: batchSize) }) { x, w, b in
                    x.batchLayerNorm(weight: w, bias: b, batchSize: batchSize)
                })
            }
        }
        // Evaluation with population batch statistics and mini-batch feature statistics (the
        // authors' default), and with all four from the population.
        for allPopulation in [false, true] {
            seed += 3
            let shape = [2, 2, 3]
            let batchStatistics = (mean: Inputs.tensor([2, 3], seed: seed &+ 5), variance: Inputs.tensor([2, 3], seed: seed &+ 6, domain: .positive))
            let featureStatistics = (mean: Inputs.tensor([2, 2], seed: seed &+ 7), variance: Inputs.tensor([2, 2], seed: seed &+ 8, domain: .positive))
            let name = "batchLayerNorm[shape=\(shapeName(shape)),affine,eval,\(allPopulation ? "population-all" : "population-batch")]"
            cases.append(GradCheckCase(name, inputs: normalizationInputs(shape, affineShape: [3], affine: .affine, seed: seed),
                                       reference: { v in
                                           v[0].batchLayerNormReference(weight: v[1], bias: v[2], batchStatistics: batchStatistics,
                                                                        featureStatistics: allPopulation ? featureStatistics : nil)
                                       }) { v in
                v[0].batchLayerNorm(weight: v[1], bias: v[2], batchStatistics: batchStatistics,
                                    featureStatistics: allPopulation ? featureStatistics : nil)
            })
        }
        return cases
    }
}

/// A fresh `BatchNorm` (no affine) after training steps on `batches`, in evaluation mode.
private func trainedBatchNorm(channels: Int, momentum: Double?, batches: [Tensor<Double>]) -> BatchNorm<Double> {
    let layer = BatchNorm<Double>(numFeatures: channels, momentum: momentum, affine: false)
    withoutGradients { for batch in batches { _ = layer(Variable(batch)) } }
    layer.eval()
    return layer
}

/// A fresh `InstanceNorm` with running statistics after training steps on `batches`, in evaluation mode.
private func trainedInstanceNorm(channels: Int, momentum: Double?, batches: [Tensor<Double>]) -> InstanceNorm<Double> {
    let layer = InstanceNorm<Double>(numFeatures: channels, momentum: momentum, trackRunningStats: true)
    withoutGradients { for batch in batches { _ = layer(Variable(batch)) } }
    layer.eval()
    return layer
}
