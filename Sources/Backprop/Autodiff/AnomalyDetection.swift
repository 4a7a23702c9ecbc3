#if os(Linux) && canImport(Runtime)
import Runtime
#endif

/// An opt-in mode in which every operation checks its output, and every backward rule the gradients
/// it returns, for NaN and infinity, and stops at the first one with a report naming:
///
/// - the operation and the direction (`in the forward pass`, or `backward of …`);
/// - its position on the tape (the record index; `not recorded` for an operation on constants);
/// - the shapes of its inputs;
/// - where the bad value appeared: the element (flat and per-axis index), its value, and for a
///   backward rule which input's gradient it was;
/// - where it was called: the first stack frame outside the Backprop library (the user's line that
///   called the op or the layer), the library function that line called, and the call site of the
///   enclosing `withAnomalyDetection` scope.
///
/// ```swift
/// withAnomalyDetection {
///     let loss = crossEntropy(model(x), targets)
///     loss.backward()
/// }
/// // anomaly detected: log (tape record 17) in the forward pass produced -inf at flat index 3 …
/// //   input shapes: [4, 3]
/// //   operation called at: MyApp/Train.swift:42 (through Sequential.callAsFunction(_:))
/// //   detection scope opened at: MyApp/Train.swift:40
/// ```
///
/// ## How call sites are found, and why this way
/// Swift gives a function its caller's `#fileID`/`#line` only through default arguments. Adding
/// `file:line:` parameters to every op would clutter the public API, and operators (`+`, `*`) cannot
/// take them at all. Instead:
///
/// - `withAnomalyDetection(file:line:_:)` takes the scope's call site with `#fileID`/`#line` (scopes
///   can nest; each operation records the innermost), which is exact in every build.
/// - While detection is on, each recorded operation also captures a return-address backtrace
///   (Swift's `Runtime.Backtrace`, a few microseconds of stack walking, no symbol lookup). Only when
///   a report is printed is it symbolicated, and the first frame whose source file lies outside
///   this library is named as the call site. That needs debug information (present in `swift build`
///   and `swift test` debug builds; absent in stripped release builds, where the report falls back to
///   the scope's call site). The backtrace API is used on Linux, the platform this package targets;
///   elsewhere reports give the scope's call site only.
///
/// When detection is off none of this runs: each operation pays one task-local flag test and
/// records nothing extra.
public enum AnomalyDetection {
    @TaskLocal static var enabled = false
    @TaskLocal static var location: SourceLocation?

    /// Whether detection is on for the current task or thread.
    public static var isEnabled: Bool { enabled }

    /// What an operation records while detection is on, to describe it if it goes wrong later.
    struct Context {
        /// The call site of the innermost `withAnomalyDetection` scope.
        var scope: SourceLocation?
        /// The shapes of the operation's inputs, in order.
        var inputShapes: [[Int]]
        #if os(Linux) && canImport(Runtime)
        /// The stack at the time the operation ran (unsymbolicated until needed).
        var backtrace: Backtrace?
        #endif
    }

    #if os(Linux) && canImport(Runtime)
    /// The process's loaded images, read once. `Backtrace.capture` without an image map reads every
    /// mapping in `/proc/self/maps` on each call, and crashes when another thread unmaps one of them
    /// in between (a freed tensor's pages): about one concurrent test run in fifteen did. Reading the
    /// map once makes that window a single moment per process; images loaded later are only left
    /// unnamed in a report.
    private static let imageMap = PThreadLocked<ImageMap?>(nil)

    /// The cached image map (read on first use).
    private static var images: ImageMap {
        imageMap.withLock { map in
            if let map { return map }
            let captured = ImageMap.capture()
            map = captured
            return captured
        }
    }
    #endif

    /// The context for an operation being recorded now; call only when `isEnabled`.
    static func captureContext(inputShapes: [[Int]]) -> Context {
        #if os(Linux) && canImport(Runtime)
        Context(scope: location, inputShapes: inputShapes, backtrace: try? Backtrace.capture(limit: 48, images: images))
        #else
        Context(scope: location, inputShapes: inputShapes)
        #endif
    }

    /// The directory holding this library's sources (`…/Sources/Backprop/`), to tell library frames
    /// from the user's.
    static let librarySourceDirectory: String = {
        let path = #filePath
        let marker = "/Autodiff/"
        guard let range = path.range(of: marker, options: .backwards) else { return path }
        return String(path[..<range.lowerBound]) + "/"
    }()

    static func firstNonFinite<Scalar: TensorScalar>(_ t: Tensor<Scalar>) -> Int? {
        t.scalars.firstIndex { !$0.isFinite }
    }

    /// The per-axis index of a flat row-major index.
    static func multiIndex(_ flat: Int, shape: [Int]) -> [Int] {
        var rest = flat
        var index = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            index[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return index
    }

    /// The lines naming inputs and call sites.
    static func describe(_ context: Context?) -> String {
        guard let context else { return "" }
        var lines = "\n  input shapes: " + context.inputShapes.map { "\($0)" }.joined(separator: ", ")
        #if os(Linux) && canImport(Runtime)
        if let site = userCallSite(context.backtrace) {
            lines += "\n  operation called at: \(site)"
        }
        #endif
        if let scope = context.scope {
            lines += "\n  detection scope opened at: \(scope)"
        }
        return lines
    }

    #if os(Linux) && canImport(Runtime)
    /// The first frame outside this library that has a source location, with the library function
    /// it called (the outermost library frame: `Variable.log()`, or `Sequential.callAsFunction(_:)`
    /// when the op ran inside a library layer the user called).
    static func userCallSite(_ backtrace: Backtrace?) -> String? {
        guard let symbolicated = backtrace?.symbolicated(with: images) else { return nil }
        var lastLibraryFunction: String?
        for frame in symbolicated.frames {
            // Thunks and witnesses report `<compiler-generated>:0`; they belong to neither side.
            guard let symbol = frame.symbol, let source = symbol.sourceLocation,
                  source.line > 0, !source.path.hasPrefix("<") else { continue }
            if source.path.hasPrefix(librarySourceDirectory) {
                lastLibraryFunction = symbol.name
                continue
            }
            let file = source.path.split(separator: "/").suffix(2).joined(separator: "/")
            let through = lastLibraryFunction.map { " (through \($0))" } ?? ""
            return "\(file):\(source.line)\(through)"
        }
        return nil
    }
    #endif

    static func position(_ node: Int) -> String {
        node >= 0 ? "tape record \(node)" : "not recorded: no input needs a gradient"
    }

    static func checkForward<Scalar: TensorScalar>(_ op: String, value: Tensor<Scalar>, node: Int, context: Context?) {
        guard let bad = firstNonFinite(value) else { return }
        fatalError("""
            anomaly detected: \(op) (\(position(node))) in the forward pass produced \(value.scalars[bad]) \
            at flat index \(bad) of its output of shape \(value.shape) (element \(multiIndex(bad, shape: value.shape)))\
            \(describe(context))
            """)
    }

    static func checkBackward<Scalar: TensorScalar>(_ op: String, gradient: Tensor<Scalar>, input: Int, node: Int, context: Context?) {
        guard let bad = firstNonFinite(gradient) else { return }
        fatalError("""
            anomaly detected: backward of \(op) (\(position(node))) produced \(gradient.scalars[bad]) \
            at flat index \(bad) of the gradient for input \(input), of shape \(gradient.shape) \
            (element \(multiIndex(bad, shape: gradient.shape)))\
            \(describe(context))
            """)
    }
}

/// Runs `body` with anomaly detection on: the first NaN or infinity produced by any operation or
/// backward rule stops the program with a report naming the operation, the direction, its tape
/// record, its input shapes, the bad element and the call sites (see `AnomalyDetection`).
///
/// Gradients are checked during `backward()` calls made inside `body`; call `backward()` inside the
/// scope to check the backward pass too.
///
/// - Parameters:
///   - file: The scope's call site, recorded with every operation inside it (defaults to the caller's).
///   - line: The line of the call site.
///   - body: The code to check.
/// - Returns: What `body` returns.
public func withAnomalyDetection<Result>(file: String = #fileID, line: Int = #line, _ body: () throws -> Result) rethrows -> Result {
    try AnomalyDetection.$enabled.withValue(true) {
        try AnomalyDetection.$location.withValue(SourceLocation(file: file, line: line)) { try body() }
    }
}
