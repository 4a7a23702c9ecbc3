extension Module {
    /// The number of values in all parameters (trainable or frozen), as
    /// `sum(p.numel() for p in model.parameters())`.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// The number of values in the parameters that receive gradients (`requiresGradient`).
    public var trainableParameterCount: Int {
        parameters.filter(\.requiresGradient).reduce(0) { $0 + $1.value.count }
    }

    /// A table of the module tree, as `torchinfo.summary` or Keras's `summary()` print it: every
    /// submodule (indented by depth) with its type, its own parameters' shapes and count, and each
    /// subtree's total; then the total, trainable and frozen counts.
    ///
    /// ```
    /// module           type       parameters             own  total
    /// ---------------  ---------  ---------------------  ---  -----
    /// (model)          Classifier                          0    387
    ///   hidden         Linear     weight [64, 2], bias…  192    192
    /// …
    /// total 387 parameters (387 trainable, 0 frozen)
    /// ```
    public func summary() -> String {
        var rows: [[String]] = []
        for (name, module) in namedModules {
            let depth = name.isEmpty ? 0 : name.split(separator: ".").count
            let label = name.isEmpty ? "(model)" : String(name.split(separator: ".").last!)
            let own = module.namedChildren.compactMap { child -> (String, Parameter<Scalar>)? in
                (child.value as? Parameter<Scalar>).map { (child.name, $0) }
            }
            let ownCount = own.reduce(0) { $0 + $1.1.value.count }
            let shapes = own.map { "\($0.0) \($0.1.shape)\($0.1.requiresGradient ? "" : " (frozen)")" }.joined(separator: ", ")
            rows.append([String(repeating: "  ", count: depth) + label, Self.typeName(of: module), shapes,
                         String(ownCount), String(module.parameterCount)])
        }
        let total = parameterCount, trainable = trainableParameterCount
        return summaryTable(["module", "type", "parameters", "own", "total"], rows)
            + "\ntotal \(total) parameters (\(trainable) trainable, \(total - trainable) frozen)"
    }

    /// The type's name without its generic arguments (`Linear`, not `Linear<Float>`).
    static func typeName(of module: any Module<Scalar>) -> String {
        let full = String(describing: type(of: module))
        return full.firstIndex(of: "<").map { String(full[..<$0]) } ?? full
    }
}

/// Rows as an aligned text table under a header and a rule, numbers right-aligned.
func summaryTable(_ header: [String], _ rows: [[String]]) -> String {
    let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { c, cell in
            let pad = String(repeating: " ", count: widths[c] - cell.count)
            return c >= header.count - 2 ? pad + cell : cell + pad
        }.joined(separator: "  ")
    }
    return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
        .joined(separator: "\n")
}
