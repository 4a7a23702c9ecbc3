/// im2col and its adjoint col2im over a range of images and channels.
///
/// A chunk of `b` images has one column matrix of `C·kH·kW` rows and `b·Ho·Wo` columns: row
/// `(c·kH + i)·kW + j`, column `image·Ho·Wo + oh·Wo + ow` holds
/// `x[image, c, oh·sH − pH + i·dH, ow·sW − pW + j·dW]`, zero where that falls in the padding. The
/// rows of group `g` are the consecutive block starting at `g·C/groups·kH·kW`.
enum Im2Col {
    /// The outputs `ow` whose tap `iw = ow·step + offset` lies inside `0..<size`.
    @inline(__always)
    static func validRange(outputs: Int, size: Int, step: Int, offset: Int) -> Range<Int> {
        // ow ≥ ⌈−offset / step⌉ and ow ≤ ⌊(size − 1 − offset) / step⌋, with floor division of
        // negative numerators written out.
        let lowNumerator = -offset
        let low = lowNumerator <= 0 ? 0 : (lowNumerator + step - 1) / step
        let highNumerator = size - 1 - offset
        guard highNumerator >= 0 else { return 0..<0 }
        let high = Swift.min(outputs, highNumerator / step + 1)
        return low < high ? low..<high : 0..<0
    }

    /// With stride 1 along the width and output rows as wide as input rows (a "same" padding), the
    /// valid output rows of one kernel tap read one contiguous stretch of the input plane, shifted by
    /// `columnOffset`: output element `t` of the block (from `destination`) is input element `source + t`,
    /// except in the padding columns, where the stretch wraps into the neighbouring row. The stretch is
    /// clipped to the plane, so it never reads outside it.
    @inline(__always)
    static func planeBlock(_ g: ConvolutionGeometry, rows: Range<Int>, rowOffset: Int, columnOffset: Int)
        -> (destination: Int, source: Int, count: Int)? {
        guard g.stride.width == 1 && g.outputWidth == g.width && !rows.isEmpty else { return nil }
        var destination = rows.lowerBound * g.width
        var source = (rows.lowerBound * g.stride.height + rowOffset) * g.width + columnOffset
        var end = destination + rows.count * g.width
        // Rows further apart than one (a stride or dilation along the height) are not contiguous.
        guard g.stride.height == 1 || rows.count == 1 else { return nil }
        if source < 0 { destination -= source; source = 0 }
        end = Swift.min(end, destination + g.height * g.width - source)
        return destination < end ? (destination, source, end - destination) : nil
    }

    /// `destination[k] = source[2k]` for `k < count`, eight at a time by taking the even lanes of
    /// sixteen: a stride-2 convolution's rows, which the scalar loop copied at about one element
    /// per cycle (a quarter of a [32, 32, 32, 32] stride-2 step). Reads nothing outside `source[0...2(count − 1)]`.
    static func copyEvenElements(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, count: Int) {
        var k = 0
        // The sixteen lanes at 2k reach 2k + 15 ≤ 2(count − 1) while k + 8 < count.
        while k + 8 < count {
            let lanes = UnsafeRawPointer(source + 2 * k).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(destination + k).storeBytes(of: lanes.evenHalf, as: SIMD8<Float>.self)
            k += 8
        }
        // The last eight from the odd lanes of the sixteen at 2(count − 8) − 1, overlapping the
        // ones already written (same values), reading up to 2(count − 1) exactly.
        if count > 8 {
            let last = count - 8
            let lanes = UnsafeRawPointer(source + 2 * last - 1).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(destination + last).storeBytes(of: lanes.oddHalf, as: SIMD8<Float>.self)
            return
        }
        while k < count {
            destination[k] = source[2 * k]
            k += 1
        }
    }

    /// Writes the column-matrix rows of `channels` for `images` (see `Im2Col`).
    ///
    /// - Parameters:
    ///   - input: The whole input `[N, C, H, W]`.
    ///   - columns: The chunk's column matrix (row 0, first image of `images`).
    ///   - rowStride: Elements between rows: `images.count · Ho·Wo`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func pack<Scalar: TensorScalar>(_ input: UnsafePointer<Scalar>, _ g: ConvolutionGeometry,
                                           images: Range<Int>, channels: Range<Int>,
                                           into columns: UnsafeMutablePointer<Scalar>, rowStride: Int) {
        let (h, w, ho, wo) = (g.height, g.width, g.outputHeight, g.outputWidth)
        let (sh, sw) = (g.stride.height, g.stride.width)
        for c in channels {
            for i in 0..<g.kernelHeight {
                let rowOffset = i * g.dilation.height - g.padding.height
                let rows = validRange(outputs: ho, size: h, step: sh, offset: rowOffset)
                for j in 0..<g.kernelWidth {
                    let columnOffset = j * g.dilation.width - g.padding.width
                    let valid = validRange(outputs: wo, size: w, step: sw, offset: columnOffset)
                    let row = columns + ((c * g.kernelHeight + i) * g.kernelWidth + j) * rowStride
                    for (slot, n) in images.enumerated() {
                        let plane = input + (n * g.inputChannels + c) * h * w
                        let destination = row + slot * ho * wo
                        if rows.lowerBound > 0 { destination.update(repeating: 0, count: rows.lowerBound * wo) }
                        if let block = planeBlock(g, rows: rows, rowOffset: rowOffset, columnOffset: columnOffset) {
                            // Output rows as wide as input rows: one copy of the whole block, then
                            // zeros over the padding columns it wrapped into.
                            (destination + block.destination).update(from: plane + block.source, count: block.count)
                            for oh in rows {
                                let line = destination + oh * wo
                                if valid.lowerBound > 0 { line.update(repeating: 0, count: valid.lowerBound) }
                                if valid.upperBound < wo { (line + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound) }
                            }
                        } else {
                            for oh in rows {
                                let line = destination + oh * wo
                                let source = plane + (oh * sh + rowOffset) * w + columnOffset
                                if valid.lowerBound > 0 { line.update(repeating: 0, count: valid.lowerBound) }
                                if sw == 1 {
                                    (line + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                                } else if sw == 2 && Scalar.self == Float.self {
                                    copyEvenElements(UnsafeRawPointer(source + 2 * valid.lowerBound).assumingMemoryBound(to: Float.self),
                                                     UnsafeMutableRawPointer(line + valid.lowerBound).assumingMemoryBound(to: Float.self),
                                                     count: valid.count)
                                } else {
                                    for ow in valid { line[ow] = source[ow * sw] }
                                }
                                if valid.upperBound < wo { (line + valid.upperBound).update(repeating: 0, count: wo - valid.upperBound) }
                            }
                        }
                        if rows.upperBound < ho {
                            (destination + rows.upperBound * wo).update(repeating: 0, count: (ho - rows.upperBound) * wo)
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `pack`: sets the `channels` of `images` in `input` to the sum of the
    /// column-matrix entries copied from each element (entries from the padding are dropped, and
    /// may be overwritten with zeros in `columns`).
    ///
    /// Each element sums its entries in a fixed order (kernel row, kernel column, output row).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func unpack<Scalar: TensorScalar>(_ columns: UnsafeMutablePointer<Scalar>, rowStride: Int, _ g: ConvolutionGeometry,
                                             images: Range<Int>, channels: Range<Int>,
                                             into input: UnsafeMutablePointer<Scalar>) {
        let (h, w, ho, wo) = (g.height, g.width, g.outputHeight, g.outputWidth)
        let (sh, sw) = (g.stride.height, g.stride.width)
        for c in channels {
            for (slot, n) in images.enumerated() {
                let plane = input + (n * g.inputChannels + c) * h * w
                plane.update(repeating: 0, count: h * w)
                for i in 0..<g.kernelHeight {
                    let rowOffset = i * g.dilation.height - g.padding.height
                    let rows = validRange(outputs: ho, size: h, step: sh, offset: rowOffset)
                    for j in 0..<g.kernelWidth {
                        let columnOffset = j * g.dilation.width - g.padding.width
                        let valid = validRange(outputs: wo, size: w, step: sw, offset: columnOffset)
                        let source = columns + ((c * g.kernelHeight + i) * g.kernelWidth + j) * rowStride + slot * ho * wo
                        if let block = planeBlock(g, rows: rows, rowOffset: rowOffset, columnOffset: columnOffset) {
                            // Output rows as wide as input rows: zero the entries from the padding
                            // columns (the buffer is scratch), then one add over the whole block.
                            for oh in rows {
                                let line = source + oh * wo
                                for ow in 0..<valid.lowerBound { line[ow] = 0 }
                                for ow in valid.upperBound..<wo { line[ow] = 0 }
                            }
                            let from = source + block.destination, to = plane + block.source
                            for t in 0..<block.count { to[t] += from[t] }
                            continue
                        }
                        for oh in rows {
                            let line = source + oh * wo
                            let destination = plane + (oh * sh + rowOffset) * w + columnOffset
                            if sw == 1 {
                                for ow in valid { destination[ow] += line[ow] }
                            } else {
                                for ow in valid { destination[ow * sw] += line[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}
