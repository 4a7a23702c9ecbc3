import Testing
@testable import Backprop

/// Running-statistic updates over several training steps, checked against recurrences evaluated here
/// from plainly computed batch moments.
@Suite("Normalization: running statistics")
struct RunningStatisticsTests {
    /// Per-channel mean and unbiased variance of `[N, C, L]`, by plain loops.
    static func channelMoments(_ x: Tensor<Double>) -> (mean: [Double], unbiased: [Double]) {
        let (n, c, l) = (x.shape[0], x.shape[1], x.shape[2])
        var mean = [Double](repeating: 0, count: c)
        var unbiased = [Double](repeating: 0, count: c)
        for ch in 0..<c {
            var values: [Double] = []
            for b in 0..<n { for k in 0..<l { values.append(x.scalars[(b * c + ch) * l + k]) } }
            let mu = values.reduce(0, +) / Double(values.count)
            mean[ch] = mu
            unbiased[ch] = values.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(values.count - 1)
        }
        return (mean, unbiased)
    }

    static func batches() -> [Tensor<Double>] {
        var generator = SeededGenerator(seed: 42)
        return (0..<4).map { _ in Tensor<Double>.randomNormal(shape: [3, 2, 4], mean: 1, standardDeviation: 2, using: &generator) }
    }

    @Test(arguments: [0.1, 0.5, nil] as [Double?])
    func batchNormOverSeveralSteps(momentum: Double?) {
        let layer = BatchNorm<Double>(numFeatures: 2, momentum: momentum)
        var expectedMean = [0.0, 0.0]
        var expectedVariance = [1.0, 1.0]
        for (step, batch) in Self.batches().enumerated() {
            _ = layer(Variable(batch))
            let (mean, unbiased) = Self.channelMoments(batch)
            let factor = momentum ?? 1 / Double(step + 1)
            for c in 0..<2 {
                expectedMean[c] = (1 - factor) * expectedMean[c] + factor * mean[c]
                expectedVariance[c] = (1 - factor) * expectedVariance[c] + factor * unbiased[c]
            }
            #expect(layer.numBatchesTracked!.value.scalar == Double(step + 1))
        }
        for c in 0..<2 {
            #expect(abs(layer.runningMean!.value.scalars[c] - expectedMean[c]) < 1e-13)
            #expect(abs(layer.runningVar!.value.scalars[c] - expectedVariance[c]) < 1e-13)
        }
        // Evaluation afterwards normalizes with exactly these statistics and changes nothing.
        layer.eval()
        let x = Tensor<Double>(shape: [1, 2, 1], scalars: [2, -3])
        let y = layer(Variable(x)).value.scalars
        for c in 0..<2 {
            let expected = (x.scalars[c] - expectedMean[c]) / (expectedVariance[c] + 1e-5).squareRoot()
            #expect(abs(y[c] - expected) < 1e-12)
        }
        #expect(layer.numBatchesTracked!.value.scalar == 4)
    }

    @Test func cumulativeAverageIsThePlainAverageOfBatchStatistics() {
        let layer = BatchNorm<Double>(numFeatures: 2, momentum: nil)
        let batches = Self.batches()
        for batch in batches { _ = layer(Variable(batch)) }
        let moments = batches.map(Self.channelMoments)
        for c in 0..<2 {
            let meanOfMeans = moments.map { $0.mean[c] }.reduce(0, +) / 4
            let meanOfVariances = moments.map { $0.unbiased[c] }.reduce(0, +) / 4
            #expect(abs(layer.runningMean!.value.scalars[c] - meanOfMeans) < 1e-13)
            #expect(abs(layer.runningVar!.value.scalars[c] - meanOfVariances) < 1e-13)
        }
    }

    @Test func momentumZeroAndOne() {
        let batch = Self.batches()[0]
        let (mean, unbiased) = Self.channelMoments(batch)
        let frozen = BatchNorm<Double>(numFeatures: 2, momentum: 0)
        _ = frozen(Variable(batch))
        #expect(frozen.runningMean!.value.scalars == [0, 0])
        #expect(frozen.runningVar!.value.scalars == [1, 1])
        #expect(frozen.numBatchesTracked!.value.scalar == 1)
        let replacing = BatchNorm<Double>(numFeatures: 2, momentum: 1)
        _ = replacing(Variable(batch))
        for c in 0..<2 {
            #expect(abs(replacing.runningMean!.value.scalars[c] - mean[c]) < 1e-14)
            #expect(abs(replacing.runningVar!.value.scalars[c] - unbiased[c]) < 1e-13)
        }
    }

    @Test func instanceNormAveragesPlaneStatisticsOverTheBatch() {
        let layer = InstanceNorm<Double>(numFeatures: 2, trackRunningStats: true)
        var expectedMean = [0.0, 0.0]
        var expectedVariance = [1.0, 1.0]
        for batch in Self.batches() {
            _ = layer(Variable(batch))
            for c in 0..<2 {
                var meanSum = 0.0, varianceSum = 0.0
                for n in 0..<3 {
                    let plane = (0..<4).map { batch.scalars[(n * 2 + c) * 4 + $0] }
                    let mu = plane.reduce(0, +) / 4
                    meanSum += mu
                    varianceSum += plane.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 3
                }
                expectedMean[c] = 0.9 * expectedMean[c] + 0.1 * meanSum / 3
                expectedVariance[c] = 0.9 * expectedVariance[c] + 0.1 * varianceSum / 3
            }
        }
        for c in 0..<2 {
            #expect(abs(layer.runningMean!.value.scalars[c] - expectedMean[c]) < 1e-13)
            #expect(abs(layer.runningVar!.value.scalars[c] - expectedVariance[c]) < 1e-13)
        }
        #expect(layer.numBatchesTracked!.value.scalar == 0, "PyTorch's InstanceNorm never counts batches")
        layer.eval()
        let y = layer(Variable(Tensor<Double>(shape: [1, 2, 1], scalars: [1, 1]))).value.scalars
        for c in 0..<2 {
            #expect(abs(y[c] - (1 - expectedMean[c]) / (expectedVariance[c] + 1e-5).squareRoot()) < 1e-12)
        }
    }

    @Test func instanceNormWithMomentumNilNeverUpdates() {
        let layer = InstanceNorm<Double>(numFeatures: 2, momentum: nil, trackRunningStats: true)
        for batch in Self.batches() { _ = layer(Variable(batch)) }
        #expect(layer.runningMean!.value.scalars == [0, 0])
        #expect(layer.runningVar!.value.scalars == [1, 1])
    }

    @Test func batchLayerNormPopulationStatisticsAreBatchAverages() {
        let layer = BatchLayerNorm<Double>(sampleShape: [2, 4])
        let batches = Self.batches()
        for batch in batches { _ = layer(Variable(batch)) }
        #expect(layer.numBatchesTracked.value.scalar == 4)
        // Population batch mean at (position 0, feature 0): the average over batches of the mean over N.
        // Population batch variance there: the average of the biased variances over N, times 3/2.
        var meanSum = 0.0
        var varianceSum = 0.0
        for batch in batches {
            let column: [Double] = (0..<3).map { (n: Int) -> Double in batch.scalars[n * 8] }
            let mu = column.reduce(0, +) / 3
            meanSum += mu
            varianceSum += column.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / 3
        }
        #expect(abs(layer.populationBatchMean.value.scalars[0] - meanSum / 4) < 1e-13)
        #expect(abs(layer.populationBatchVar.value.scalars[0] - varianceSum / 4 * 1.5) < 1e-13)
        // Evaluation with all four statistics from the population equals the closed form.
        layer.inference = (.population, .population, .population, .population)
        layer.eval()
        let x = Tensor<Double>(shape: [1, 2, 4], scalars: [0.5, 1, -1, 2, 0, 0, 3, 1])
        let y = layer(Variable(x)).value.scalars
        let m = 1.0
        let (cF, cB) = ((1 / m - 1e-4) / 2, (1 - (1 / m + 1e-4)) / 2)
        let featureMean = layer.populationFeatureMean.value.scalars[0]
        let featureVariance = layer.populationFeatureVar.value.scalars[0]
        let batchMean = layer.populationBatchMean.value.scalars[0]
        let batchVariance = layer.populationBatchVar.value.scalars[0]
        let expectedY = cF * (0.5 - featureMean) / (featureVariance + 1e-3).squareRoot()
            + cB * (0.5 - batchMean) / (batchVariance + 1e-3).squareRoot()
        #expect(abs(y[0] - expectedY) < 1e-12)
    }
}
