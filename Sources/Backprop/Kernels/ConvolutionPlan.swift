/// The geometry of one 2-D convolution: every size `conv2d`'s kernels need.
struct ConvolutionGeometry {
    var batch, inputChannels, height, width: Int
    var outputChannels, kernelHeight, kernelWidth: Int
    var stride, padding, dilation: WindowSize
    var groups: Int
    var outputHeight, outputWidth: Int

    var inputChannelsPerGroup: Int { inputChannels / groups }
    var outputChannelsPerGroup: Int { outputChannels / groups }
    /// Rows of one group's column matrix: `C/groups · kH · kW`.
    var patchSize: Int { inputChannelsPerGroup * kernelHeight * kernelWidth }
    /// Rows of the column matrix of all groups: `C · kH · kW`.
    var columnRows: Int { inputChannels * kernelHeight * kernelWidth }
    /// Columns of one image's column matrix: one per output position.
    var outputArea: Int { outputHeight * outputWidth }
    var inputArea: Int { height * width }
    var outputShape: [Int] { [batch, outputChannels, outputHeight, outputWidth] }
    /// A 1×1 kernel with stride 1 and no padding: each image's `[C, H·W]` plane is its own column
    /// matrix, so the convolution is a product on the input as it lies, with no im2col.
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && stride == WindowSize(1) && padding == WindowSize(0)
    }
}

/// How a convolution's work is shared out: the images are cut into fixed chunks of consecutive
/// images, each with one column matrix and one product per group.
///
/// Chunk sizes depend on the geometry alone, never on the worker count, and the weight gradient sums
/// the chunks' products into a fixed number of partial sums, combined in a fixed order; so every
/// result is bit-for-bit the same on any number of workers. Whether chunks run side by side (each
/// product on one worker) or one after another (the products and the packing parallel inside) is the
/// only thing the worker count decides, and the products compute each element in the same order
/// either way.
struct ConvolutionPlan {
    let geometry: ConvolutionGeometry
    /// Images per chunk (the last chunk may hold fewer).
    let imagesPerChunk: Int
    let chunkCount: Int
    /// Partial sums of the weight gradient; partial `r` adds chunks `chunks(ofPartial: r)` in order.
    let partialCount: Int

    /// Products narrower than this many columns waste most of a register tile's width, so small
    /// images are batched into one product until it is this wide.
    static let targetColumns = 256
    /// At most this many partial weight gradients (each `O · C/groups · kH · kW` scalars).
    static let maximumPartials = 8

    init(_ g: ConvolutionGeometry) {
        geometry = g
        // A 1×1 stride-1 convolution multiplies the input in place, one image at a time.
        let batched = g.isPointwise ? 1 : (Self.targetColumns + g.outputArea - 1) / Swift.max(1, g.outputArea)
        imagesPerChunk = Swift.max(1, Swift.min(g.batch, batched))
        chunkCount = g.batch == 0 ? 0 : (g.batch + imagesPerChunk - 1) / imagesPerChunk
        partialCount = Swift.min(chunkCount, Self.maximumPartials)
    }

    func images(ofChunk chunk: Int) -> Range<Int> {
        chunk * imagesPerChunk..<Swift.min(geometry.batch, (chunk + 1) * imagesPerChunk)
    }

    func chunks(ofPartial partial: Int) -> Range<Int> {
        partial * chunkCount / partialCount..<(partial + 1) * chunkCount / partialCount
    }

    /// Whether `units` independent pieces keep every worker busy to the end (else they run one
    /// after another, each parallel inside).
    static func sharesOut(_ units: Int) -> Bool {
        let workers = Parallelism.workerCount
        return workers > 1 && (units >= 2 * workers || (units >= workers && units % workers == 0))
    }

    /// Runs `body(unit, parallelInside)` for `0..<units`: side by side when that keeps the workers
    /// busy, else in order with `parallelInside` set.
    static func run(units: Int, _ body: (Int, Bool) -> Void) {
        if sharesOut(units) {
            Parallelism.forEach(chunks: units) { body($0, false) }
        } else {
            for unit in 0..<units { body(unit, true) }
        }
    }

    /// Runs `body` on all the input channels: on fixed channel ranges in parallel when asked (a
    /// chunk that runs alone), else on all at once.
    func forEachChannelRange(parallel: Bool, _ body: (Range<Int>) -> Void) {
        let channels = geometry.inputChannels
        if parallel {
            Parallelism.forEach(count: channels, grain: Swift.max(1, channels / 16), body)
        } else {
            body(0..<channels)
        }
    }

    /// im2col of a chunk, over channel ranges in parallel when asked.
    func pack<Scalar: TensorScalar>(_ x: UnsafePointer<Scalar>, chunk: Int, into columns: UnsafeMutablePointer<Scalar>,
                                    parallel: Bool) {
        let images = images(ofChunk: chunk)
        forEachChannelRange(parallel: parallel) { channels in
            Im2Col.pack(x, geometry, images: images, channels: channels, into: columns, rowStride: images.count * geometry.outputArea)
        }
    }

    /// col2im of a chunk into its images of `dx` (overwriting them; the padding entries of `columns`
    /// may be zeroed), over channel ranges in parallel when asked.
    func unpack<Scalar: TensorScalar>(_ columns: UnsafeMutablePointer<Scalar>, chunk: Int, into dx: UnsafeMutablePointer<Scalar>,
                                      parallel: Bool) {
        let images = images(ofChunk: chunk)
        forEachChannelRange(parallel: parallel) { channels in
            Im2Col.unpack(columns, rowStride: images.count * geometry.outputArea, geometry, images: images, channels: channels, into: dx)
        }
    }

    /// The chunk's rows of `dy` `[N, O, Ho, Wo]` as one `[O, b·Ho·Wo]` matrix: the tensor itself
    /// for a single image, else a copy in `scratch`.
    func gatherOutput<Scalar: TensorScalar>(_ dy: UnsafePointer<Scalar>, chunk: Int,
                                            scratch: UnsafeMutablePointer<Scalar>) -> UnsafePointer<Scalar> {
        let g = geometry, images = images(ofChunk: chunk)
        let area = g.outputArea
        if images.count == 1 { return dy + images.lowerBound * g.outputChannels * area }
        let width = images.count * area
        for o in 0..<g.outputChannels {
            for (slot, n) in images.enumerated() {
                (scratch + o * width + slot * area).update(from: dy + (n * g.outputChannels + o) * area, count: area)
            }
        }
        return UnsafePointer(scratch)
    }
}
