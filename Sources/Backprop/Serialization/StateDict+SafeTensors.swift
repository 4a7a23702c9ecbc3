extension Module {
    /// The dtype each state-dict entry is written as: `Scalar`'s (`F32`/`F64`), except buffers with
    /// a `savedDType` and PyTorch's batch counters `num_batches_tracked`, which PyTorch registers as
    /// int64 and are therefore written as `I64` so the file loads with `strict=True` there.
    func savedDType(ofBuffer name: String, _ buffer: Buffer<Scalar>) -> SafeTensorsDType? {
        if let dtype = buffer.savedDType { return dtype }
        return name == "num_batches_tracked" || name.hasSuffix(".num_batches_tracked") ? .int64 : nil
    }

    /// The parameters and buffers as safetensors entries under their (mapped) names, with
    /// PyTorch's dtypes: `Scalar`'s for parameters and buffers, `I64` for `num_batches_tracked`.
    ///
    /// - Throws: `SafeTensorsError.inexactValue`/`.unrepresentableValue` when a counter is not a
    ///   whole number in range (it always is unless set by hand).
    public func stateDictEntries(keyMapping: StateDictKeyMapping = .identity) throws(SafeTensorsError) -> [String: SafeTensorsEntry] {
        var entries: [String: SafeTensorsEntry] = [:]
        for (name, parameter) in namedParameters {
            if let key = keyMapping(name) { entries[key] = SafeTensorsEntry(parameter.value) }
        }
        for (name, buffer) in namedBuffers {
            guard let key = keyMapping(name) else { continue }
            if let dtype = savedDType(ofBuffer: name, buffer) {
                entries[key] = try SafeTensorsEntry(buffer.value, dtype: dtype, name: key)
            } else {
                entries[key] = SafeTensorsEntry(buffer.value)
            }
        }
        return entries
    }

    /// Loads parameters and buffers from a safetensors file (or a sharded checkpoint read with
    /// `SafeTensorsFile(checkpointAt:)`), all or nothing.
    ///
    /// Names are mapped with `keyMapping`, then matched as in `loadStateDict(_:strict:keyMapping:)`;
    /// each matched entry is decoded into `Scalar` from whatever dtype it has (`I64` counters, `F16`
    /// weights, …; see `SafeTensorsEntry.tensor(as:name:rounding:)`). Entries that match nothing are
    /// never decoded. Every problem — missing, unexpected, mis-shaped, duplicate and unconvertible
    /// entries — is reported in one `StateDictError` before anything is assigned.
    ///
    /// ```swift
    /// let file = try SafeTensorsFile(checkpointAt: "all-MiniLM-L6-v2")   // a Hugging Face folder
    /// try encoder.loadStateDict(file, strict: false, keyMapping: .strippingPrefix("bert."))
    /// ```
    ///
    /// - Parameters:
    ///   - file: The tensors.
    ///   - strict: Require exactly the module's names.
    ///   - keyMapping: Applied to the file's names before matching.
    ///   - rounding: `.exact` (default) rejects values `Scalar` cannot hold exactly (an `F64` weight
    ///     into `Float`); `.toNearestOrEven` rounds them, as PyTorch's `load_state_dict` does.
    /// - Returns: The missing and unexpected names.
    /// - Throws: `StateDictError`; the module is unchanged when it throws.
    @discardableResult
    public func loadStateDict(_ file: SafeTensorsFile, strict: Bool = true, keyMapping: StateDictKeyMapping = .identity,
                              rounding: SafeTensorsRounding = .exact) throws(StateDictError) -> StateDictLoadResult {
        var plan = StateDictPlan(module: self, names: Array(file.tensors.keys), shapes: { file.tensors[$0]!.shape },
                                 strict: strict, keyMapping: keyMapping)
        var values: [Tensor<Scalar>] = []
        values.reserveCapacity(plan.assignments.count)
        for (source, _) in plan.assignments {
            do {
                values.append(try file.tensors[source]!.tensor(as: Scalar.self, name: source, rounding: rounding))
            } catch {
                plan.error.conversionErrors.append(error)
            }
        }
        if !plan.error.isEmpty { throw plan.error }
        for (assignment, value) in zip(plan.assignments, values) { assignment.assign(value) }
        return plan.result
    }
}

extension SafeTensorsFile {
    /// A module's state dict as a file: its parameters and buffers under their (mapped) names, with
    /// PyTorch's dtypes (`I64` for `num_batches_tracked`), loadable in PyTorch with
    /// `model.load_state_dict(load_file(path), strict=True)`.
    public init<M: Module>(stateOf module: M, keyMapping: StateDictKeyMapping = .identity,
                           metadata: [String: String] = [:]) throws(SafeTensorsError) {
        self.init(tensors: try module.stateDictEntries(keyMapping: keyMapping), metadata: metadata)
    }
}
