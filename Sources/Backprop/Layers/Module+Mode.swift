/// Where every module's training mode lives, in one place, as MLX Swift keeps it in its `Module`
/// base class: a table keyed by the module's identity, so a module type needs no stored property for
/// a mode it may ignore, and `train()`/`eval()` reach every module the same way.
///
/// Each entry keeps a weak reference to its module: an entry whose module is gone (its identifier
/// reused by a new object) is ignored, and such entries are dropped as the table grows.
enum ModuleModes {
    private struct Entry {
        weak var module: AnyObject?
        var isTraining: Bool
    }

    private struct Table {
        var entries: [ObjectIdentifier: Entry] = [:]
        var capacityBeforePurge = 1024
    }

    /// Modules may be used from several threads (each with its own tape).
    private static let table = PThreadLocked(Table())

    /// The module's mode: true (training) until `set` says otherwise.
    static func isTraining(_ module: AnyObject) -> Bool {
        table.withLock { table in
            guard let entry = table.entries[ObjectIdentifier(module)], entry.module === module else { return true }
            return entry.isTraining
        }
    }

    /// Records the module's mode.
    static func set(_ module: AnyObject, isTraining: Bool) {
        table.withLock { table in
            table.entries[ObjectIdentifier(module)] = Entry(module: module, isTraining: isTraining)
            if table.entries.count > table.capacityBeforePurge {
                table.entries = table.entries.filter { $0.value.module != nil }
                table.capacityBeforePurge = Swift.max(1024, 2 * table.entries.count)
            }
        }
    }
}

extension Module {
    /// Whether the module is in training mode (true, the initial mode) or evaluation mode (dropout off,
    /// running statistics in BatchNorm). Set it for a whole tree with `train()` and `eval()`.
    ///
    /// The mode lives in one place for every module (no stored property needed): a custom module
    /// reads `isTraining` when its forward pass depends on it and declares nothing otherwise.
    public var isTraining: Bool {
        get { ModuleModes.isTraining(self) }
        set { ModuleModes.set(self, isTraining: newValue) }
    }
}
