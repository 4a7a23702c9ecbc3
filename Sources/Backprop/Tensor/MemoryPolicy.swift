import BackpropKernelsC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How Backprop asks the C allocator to treat freed tensor buffers.
///
/// A training step allocates the same large buffers every iteration (activations, gradients).
/// glibc returns blocks above its mmap threshold to the kernel on `free`, so the next step maps
/// them again and the kernel zeroes every page on first touch: for a 25 MB LayerNorm activation,
/// about 6,000 page faults per buffer per step, which cost more than the normalization itself.
/// So on first use (the first `Tape` or parallel kernel) Backprop asks glibc to serve blocks of any
/// size from its heap (not from fresh mappings; a 47 MB embedding gradient took 11,500 page faults,
/// 16 ms of a 240 ms MiniLM training step), to keep freed blocks for reuse and not to trim its
/// heap below 1 GiB of free space, much as
/// PyTorch's caching allocators keep GPU memory. The process then keeps its peak footprint until
/// `releaseFreedMemory()` is called.
///
/// Set the environment variable `BACKPROP_RETAIN_FREED_MEMORY=0` to leave the allocator's
/// settings alone. On C libraries other than glibc nothing is changed.
public enum MemoryPolicy {
    /// Whether the allocator was asked to retain freed memory (applied once, on first use).
    public static var retainsFreedMemory: Bool { applied }

    private static let applied: Bool = {
        if let text = getenv("BACKPROP_RETAIN_FREED_MEMORY"), String(cString: text) == "0" { return false }
        return bp_memory_retain_freed() != 0
    }()

    /// Applies the policy if it has not been applied yet.
    @inline(__always)
    static func activate() { _ = applied }

    /// Returns the allocator's free memory to the operating system (glibc's `malloc_trim(0)`),
    /// for example after training and before a long idle period.
    public static func releaseFreedMemory() {
        bp_memory_release_free()
    }
}
