/// The column matrices of a forward pass, kept for the weight gradient: one buffer per chunk of
/// images (each a few megabytes, so the allocator reuses freed ones instead of mapping fresh pages).
final class ConvolutionColumns<Scalar: TensorScalar>: @unchecked Sendable {
    let buffers: [UnsafeMutablePointer<Scalar>]

    init(_ plan: ConvolutionPlan) {
        buffers = (0..<plan.chunkCount).map { chunk in
            .allocate(capacity: plan.geometry.columnRows * plan.images(ofChunk: chunk).count * plan.geometry.outputArea)
        }
    }

    deinit { for buffer in buffers { buffer.deallocate() } }

    /// Bytes held, for the memory bound.
    static func byteCount(_ g: ConvolutionGeometry) -> Double {
        Double(g.columnRows) * Double(g.batch) * Double(g.outputArea) * Double(MemoryLayout<Scalar>.stride)
    }
}

/// The three products of a convolution on buffers: `y = W ⋆ x + b`, `∂x` from `∂y` and `W`, and `∂W`
/// from `x` and `∂y` (see `conv2d`).
enum ConvolutionKernels {
    /// `Y_g = W_g·col_g (+ b)` per chunk and group; keeps the column matrices in `keep` when given.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func forward<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ w: Tensor<Scalar>, bias b: Tensor<Scalar>?,
                                              _ g: ConvolutionGeometry, keep: ConvolutionColumns<Scalar>?) -> Tensor<Scalar> {
        let plan = ConvolutionPlan(g)
        let (og, kg, area) = (g.outputChannelsPerGroup, g.patchSize, g.outputArea)
        return Tensor<Scalar>(shape: g.outputShape) { out in
            let output = UncheckedSendable(out.baseAddress!)
            x.scalars.withUnsafeBufferPointer { xs in
                w.scalars.withUnsafeBufferPointer { ws in
                    let (xp, wp) = (xs.baseAddress!, ws.baseAddress!)
                    let biasValues = b?.scalars
                    ConvolutionPlan.run(units: plan.chunkCount) { chunk, parallel in
                        let images = plan.images(ofChunk: chunk)
                        let width = images.count * area
                        let y = output.value
                        let scratchCount = (g.isPointwise || keep != nil ? 0 : g.columnRows * width)
                            + (images.count > 1 ? og * width : 0)
                        let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(1, scratchCount))
                        defer { scratch.deallocate() }
                        var columns = UnsafePointer(xp + images.lowerBound * g.inputChannels * area)
                        var product = scratch
                        if !g.isPointwise {
                            let buffer = keep?.buffers[chunk] ?? scratch
                            plan.pack(xp, chunk: chunk, into: buffer, parallel: parallel)
                            columns = UnsafePointer(buffer)
                            if keep == nil { product = scratch + g.columnRows * width }
                        }
                        for group in 0..<g.groups {
                            let firstRow = images.lowerBound * g.outputChannels + group * og
                            let target = images.count == 1 ? y + firstRow * area : product
                            GEMM.multiply(wp + group * og * kg, transposeA: false, columns + group * kg * width, transposeB: false,
                                          m: og, n: width, k: kg, into: target, accumulate: false, parallel: parallel)
                            for (slot, n) in images.enumerated() {
                                for o in 0..<og {
                                    let row = y + ((n * g.outputChannels) + group * og + o) * area
                                    if images.count > 1 { row.update(from: product + o * width + slot * area, count: area) }
                                    if let biasValues {
                                        let value = biasValues[group * og + o]
                                        for p in 0..<area { row[p] += value }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dx = col2im(W_gᵀ·dY_g) per chunk and group (for a 1×1 stride-1 kernel, dx = W_gᵀ·dY_g).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func inputGradient<Scalar: TensorScalar>(_ dy: Tensor<Scalar>, _ w: Tensor<Scalar>,
                                                    _ g: ConvolutionGeometry) -> Tensor<Scalar> {
        let plan = ConvolutionPlan(g)
        let (og, kg, area) = (g.outputChannelsPerGroup, g.patchSize, g.outputArea)
        return Tensor<Scalar>(shape: [g.batch, g.inputChannels, g.height, g.width]) { out in
            let dx = UncheckedSendable(out.baseAddress!)
            dy.scalars.withUnsafeBufferPointer { dys in
                w.scalars.withUnsafeBufferPointer { ws in
                    let (dyp, wp) = (dys.baseAddress!, ws.baseAddress!)
                    ConvolutionPlan.run(units: plan.chunkCount) { chunk, parallel in
                        let images = plan.images(ofChunk: chunk)
                        let width = images.count * area
                        let gatherCount = images.count > 1 ? g.outputChannels * width : 0
                        let scratch = UnsafeMutablePointer<Scalar>.allocate(
                            capacity: Swift.max(1, gatherCount + (g.isPointwise ? 0 : g.columnRows * width)))
                        defer { scratch.deallocate() }
                        let dyChunk = plan.gatherOutput(dyp, chunk: chunk, scratch: scratch)
                        let columns = scratch + gatherCount
                        for group in 0..<g.groups {
                            // dcol_g = W_gᵀ [patch, O/groups] · dY_g [O/groups, b·Ho·Wo]
                            let target = g.isPointwise
                                ? dx.value + (images.lowerBound * g.inputChannels + group * g.inputChannelsPerGroup) * area
                                : columns + group * kg * width
                            GEMM.multiply(wp + group * og * kg, transposeA: true, dyChunk + group * og * width, transposeB: false,
                                          m: kg, n: width, k: og, into: target, accumulate: false, parallel: parallel)
                        }
                        if !g.isPointwise { plan.unpack(columns, chunk: chunk, into: dx.value, parallel: parallel) }
                    }
                }
            }
        }
    }

    /// dW_g = Σₙ dY_g·col_gᵀ: each partial sums its chunks in order, then the partials are added in
    /// order. Uses the forward's column matrices when given, else packs them again.
    ///
    /// Each chunk computes the transpose, dW_gᵀ (+)= col_g·dY_gᵀ, so that the product packs the
    /// small dY (O/groups rows) as its right operand instead of the column matrix (C/groups·kH·kW
    /// rows) read across; the partials are added in order, then transposed back once.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func weightGradient<Scalar: TensorScalar>(_ x: Tensor<Scalar>, _ dy: Tensor<Scalar>, _ g: ConvolutionGeometry,
                                                     columns kept: ConvolutionColumns<Scalar>?) -> Tensor<Scalar> {
        let plan = ConvolutionPlan(g)
        let (og, kg, area) = (g.outputChannelsPerGroup, g.patchSize, g.outputArea)
        let weightCount = g.outputChannels * kg
        let shape = [g.outputChannels, g.inputChannelsPerGroup, g.kernelHeight, g.kernelWidth]
        guard plan.chunkCount > 0 else { return Tensor(zeros: shape) }
        // Partial r holds, per group, dW_gᵀ [patch, O/groups].
        let partials = UnsafeMutablePointer<Scalar>.allocate(capacity: plan.partialCount * weightCount)
        defer { partials.deallocate() }
        x.scalars.withUnsafeBufferPointer { xs in
            dy.scalars.withUnsafeBufferPointer { dys in
                let (xp, dyp) = (xs.baseAddress!, dys.baseAddress!)
                ConvolutionPlan.run(units: plan.partialCount) { partial, parallel in
                    let target = partials + partial * weightCount
                    var scratch: UnsafeMutablePointer<Scalar>?
                    defer { scratch?.deallocate() }
                    for chunk in plan.chunks(ofPartial: partial) {
                        let images = plan.images(ofChunk: chunk)
                        let width = images.count * area
                        let gatherCount = images.count > 1 ? g.outputChannels * width : 0
                        let packCount = g.isPointwise || kept != nil ? 0 : g.columnRows * width
                        if scratch == nil {
                            scratch = .allocate(capacity: Swift.max(1, gatherCount + packCount))
                        }
                        let dyChunk = plan.gatherOutput(dyp, chunk: chunk, scratch: scratch!)
                        var columns = UnsafePointer(xp + images.lowerBound * g.inputChannels * area)
                        if let kept, !g.isPointwise {
                            columns = UnsafePointer(kept.buffers[chunk])
                        } else if !g.isPointwise {
                            plan.pack(xp, chunk: chunk, into: scratch! + gatherCount, parallel: parallel)
                            columns = UnsafePointer(scratch! + gatherCount)
                        }
                        let first = chunk == plan.chunks(ofPartial: partial).lowerBound
                        for group in 0..<g.groups {
                            // dW_gᵀ (+)= col_g [patch, b·Ho·Wo] · dY_gᵀ [b·Ho·Wo, O/groups]
                            GEMM.multiply(columns + group * kg * width, transposeA: false, dyChunk + group * og * width, transposeB: true,
                                          m: kg, n: og, k: width, into: target + group * kg * og, accumulate: !first,
                                          parallel: parallel)
                        }
                    }
                }
            }
        }
        // Partials are added in order into the first, element by element (contiguous), then
        // transposed back into [O, C/groups·kH·kW] group by group.
        if plan.partialCount > 1 {
            Parallelism.forEach(count: weightCount, grain: 1 << 14) { range in
                for e in range {
                    var sum = partials[e]
                    for partial in 1..<plan.partialCount { sum += partials[partial * weightCount + e] }
                    partials[e] = sum
                }
            }
        }
        // The transpose runs in 32 × 32 blocks: read down a column of [patch, O/groups] one element
        // per row, it touched a new cache line per element (a third of a [1, 256, 7, 7] step).
        let block = 32
        return Tensor<Scalar>(shape: shape) { out in
            let dw = out.baseAddress!
            Parallelism.forEach(count: g.outputChannels, grain: block) { outputs in
                for p0 in stride(from: 0, to: kg, by: block) {
                    let patches = p0..<Swift.min(p0 + block, kg)
                    for o in outputs {
                        let (group, column) = (o / og, o % og)
                        let source = partials + group * kg * og + column
                        let row = dw + o * kg
                        for p in patches { row[p] = source[p * og] }
                    }
                }
            }
        }
    }
}
