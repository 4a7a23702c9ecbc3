/// A rule that rewrites state-dict names, to load a checkpoint whose layout differs from the
/// module's (a `bert.` prefix, Hugging Face's `LayerNorm` where the module says `norm`).
///
/// A mapping turns a name into another name, or into `nil` to drop the entry. Mappings compose
/// with `followed(by:)`:
///
/// ```swift
/// let mapping = StateDictKeyMapping.strippingPrefix("bert.")
///     .followed(by: .renaming(["LayerNorm": "norm"]))
/// try model.loadStateDict(file, keyMapping: mapping)
/// ```
public struct StateDictKeyMapping: Sendable {
    private let transform: @Sendable (String) -> String?

    /// A mapping from a closure; returning `nil` drops the entry.
    public init(_ transform: @escaping @Sendable (String) -> String?) {
        self.transform = transform
    }

    /// Every name unchanged.
    public static var identity: StateDictKeyMapping { StateDictKeyMapping { $0 } }

    /// Removes `prefix` from the names that start with it (`"bert."` turns
    /// `"bert.encoder.layer.0…"` into `"encoder.layer.0…"`); other names are unchanged.
    public static func strippingPrefix(_ prefix: String) -> StateDictKeyMapping {
        StateDictKeyMapping { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : $0 }
    }

    /// Puts `prefix` in front of every name.
    public static func addingPrefix(_ prefix: String) -> StateDictKeyMapping {
        StateDictKeyMapping { prefix + $0 }
    }

    /// Replaces runs of dotted name components: with `["attention.self": "attention"]`,
    /// `"layer.0.attention.self.query.weight"` becomes `"layer.0.attention.query.weight"`. Whole
    /// components only (`"LayerNorm"` does not match inside `"MyLayerNorm"`); at each position the
    /// longest matching key wins, and replaced components are not matched again.
    public static func renaming(_ table: [String: String]) -> StateDictKeyMapping {
        let rules = table.map { (from: $0.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init),
                                 to: $0.value.split(separator: ".", omittingEmptySubsequences: true).map(String.init)) }
            .sorted { $0.from.count > $1.from.count }
        return StateDictKeyMapping { name in
            let components = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            var result: [String] = []
            var i = 0
            while i < components.count {
                if let rule = rules.first(where: { i + $0.from.count <= components.count && Array(components[i..<(i + $0.from.count)]) == $0.from }) {
                    result += rule.to
                    i += rule.from.count
                } else {
                    result.append(components[i])
                    i += 1
                }
            }
            return result.joined(separator: ".")
        }
    }

    /// Exact names looked up in `table`; names not in it are unchanged (or dropped with
    /// `droppingOthers`).
    public static func table(_ table: [String: String], droppingOthers: Bool = false) -> StateDictKeyMapping {
        StateDictKeyMapping { table[$0] ?? (droppingOthers ? nil : $0) }
    }

    /// This mapping, then `next` on its result.
    public func followed(by next: StateDictKeyMapping) -> StateDictKeyMapping {
        StateDictKeyMapping { name in transform(name).flatMap { next($0) } }
    }

    /// The mapped name, or `nil` when the entry is dropped.
    public func callAsFunction(_ name: String) -> String? { transform(name) }
}

/// The names `loadStateDict` did not assign, as PyTorch's `load_state_dict` returns them
/// (`missing_keys`, `unexpected_keys`), sorted.
public struct StateDictLoadResult: Sendable, Equatable {
    /// Module names the state dict had no entry for (left unchanged).
    public var missingKeys: [String]
    /// State-dict names (after mapping) that match nothing in the module (ignored).
    public var unexpectedKeys: [String]

    /// Creates a result.
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
    }
}

/// Why `loadStateDict` assigned nothing: every problem it found, all at once.
public struct StateDictError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A name whose tensor has a different shape than the module's parameter or buffer.
    public struct ShapeMismatch: Sendable, Equatable {
        /// The module's name for it.
        public var name: String
        /// The module's shape.
        public var expected: [Int]
        /// The state dict's shape.
        public var found: [Int]

        /// Creates a record.
        public init(name: String, expected: [Int], found: [Int]) {
            self.name = name
            self.expected = expected
            self.found = found
        }
    }

    /// Module names with no entry (an error only in strict loading).
    public var missingKeys: [String] = []
    /// Entries that match no module name (an error only in strict loading).
    public var unexpectedKeys: [String] = []
    /// Entries whose shape differs from the module's (an error in any mode, as in PyTorch).
    public var shapeMismatches: [ShapeMismatch] = []
    /// Module names that two or more entries map to (after the key mapping), each with its sources.
    public var duplicateKeys: [String: [String]] = [:]
    /// Entries that could not be converted to the module's scalar type (loading from a file).
    public var conversionErrors: [SafeTensorsError] = []

    /// Creates an error (empty lists mean no problem of that kind).
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = [], shapeMismatches: [ShapeMismatch] = [],
                duplicateKeys: [String: [String]] = [:], conversionErrors: [SafeTensorsError] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
        self.shapeMismatches = shapeMismatches
        self.duplicateKeys = duplicateKeys
        self.conversionErrors = conversionErrors
    }

    var isEmpty: Bool {
        missingKeys.isEmpty && unexpectedKeys.isEmpty && shapeMismatches.isEmpty && duplicateKeys.isEmpty && conversionErrors.isEmpty
    }

    /// Every problem, one clause each, naming the keys and shapes.
    public var description: String {
        func quoted(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ", ") }
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        var clauses: [String] = []
        if !missingKeys.isEmpty { clauses.append("\(count(missingKeys.count, "missing key")): \(quoted(missingKeys))") }
        if !unexpectedKeys.isEmpty { clauses.append("\(count(unexpectedKeys.count, "unexpected key")): \(quoted(unexpectedKeys))") }
        for mismatch in shapeMismatches {
            clauses.append("size mismatch for '\(mismatch.name)': shape \(mismatch.found) in the state dict, \(mismatch.expected) in the module")
        }
        for (name, sources) in duplicateKeys.sorted(by: { $0.key < $1.key }) {
            clauses.append("entries \(quoted(sources)) all map to '\(name)'")
        }
        for error in conversionErrors { clauses.append(error.description) }
        return "loadStateDict: nothing was loaded: " + clauses.joined(separator: "; ")
    }
}

extension Module {
    /// Parameters and buffers by dotted name (PyTorch's `state_dict()`), optionally renamed.
    ///
    /// - Parameter keyMapping: Applied to every name (names mapped to `nil` are left out); use it to
    ///   write a foreign layout, such as `.addingPrefix("bert.")`.
    public func stateDict(keyMapping: StateDictKeyMapping = .identity) -> [String: Tensor<Scalar>] {
        var result: [String: Tensor<Scalar>] = [:]
        for (name, parameter) in namedParameters { if let key = keyMapping(name) { result[key] = parameter.value } }
        for (name, buffer) in namedBuffers { if let key = keyMapping(name) { result[key] = buffer.value } }
        return result
    }

    /// Every parameter and buffer of the module by name, with its shape and a setter.
    var stateDestinations: [(name: String, shape: [Int], assign: (Tensor<Scalar>) -> Void)] {
        namedParameters.map { item in (item.name, item.parameter.shape, { item.parameter.value = $0 }) }
            + namedBuffers.map { item in (item.name, item.buffer.value.shape, { item.buffer.value = $0 }) }
    }

    /// Assigns parameters and buffers by name (PyTorch's `load_state_dict`), all or nothing.
    ///
    /// Every entry's name is first passed through `keyMapping`. Then everything is checked before
    /// anything is assigned: names the module lacks (`unexpectedKeys`), module names with no entry
    /// (`missingKeys`), shapes that differ, and two entries mapping to one name. Shape mismatches
    /// and duplicates are errors in any mode; missing and unexpected names are errors when `strict`
    /// and returned otherwise. The error lists *every* problem, so one attempt shows all of them.
    ///
    /// - Parameters:
    ///   - state: Tensors by name.
    ///   - strict: Require exactly the module's names (PyTorch's default, `strict=True`).
    ///   - keyMapping: Applied to the entries' names before matching.
    /// - Returns: The missing and unexpected names (both empty after a strict load).
    /// - Throws: `StateDictError`; the module is unchanged when it throws.
    @discardableResult
    public func loadStateDict(_ state: [String: Tensor<Scalar>], strict: Bool = true,
                              keyMapping: StateDictKeyMapping = .identity) throws(StateDictError) -> StateDictLoadResult {
        let plan = StateDictPlan(module: self, names: Array(state.keys), shapes: { state[$0]!.shape },
                                 strict: strict, keyMapping: keyMapping)
        if !plan.error.isEmpty { throw plan.error }
        for (source, destination) in plan.assignments { destination(state[source]!) }
        return plan.result
    }
}

/// The matching of a state dict's names against a module's, checked before anything is assigned.
struct StateDictPlan<Scalar: TensorScalar> {
    /// (source name, setter of the destination) for every entry to assign.
    var assignments: [(source: String, assign: (Tensor<Scalar>) -> Void)] = []
    /// The names left over.
    var result = StateDictLoadResult()
    /// Everything that prevents loading (empty when it may proceed); callers add conversion
    /// failures to it so one report lists everything.
    var error = StateDictError()

    /// Matches `names` (with `shapes`) against `module`'s parameters and buffers.
    init<M: Module>(module: M, names: [String], shapes: (String) -> [Int], strict: Bool,
                    keyMapping: StateDictKeyMapping) where M.Scalar == Scalar {
        var sources: [String: [String]] = [:]
        for name in names.sorted() {
            if let mapped = keyMapping(name) { sources[mapped, default: []].append(name) }
        }
        var matched = Set<String>()
        for destination in module.stateDestinations {
            guard let found = sources[destination.name] else {
                error.missingKeys.append(destination.name)
                continue
            }
            matched.insert(destination.name)
            if found.count > 1 {
                error.duplicateKeys[destination.name] = found
                continue
            }
            let shape = shapes(found[0])
            if shape != destination.shape {
                error.shapeMismatches.append(.init(name: destination.name, expected: destination.shape, found: shape))
                continue
            }
            assignments.append((found[0], destination.assign))
        }
        error.unexpectedKeys = sources.keys.filter { !matched.contains($0) }.sorted()
        error.missingKeys.sort()
        result = StateDictLoadResult(missingKeys: error.missingKeys, unexpectedKeys: error.unexpectedKeys)
        if !strict {
            error.missingKeys = []
            error.unexpectedKeys = []
        }
    }
}
