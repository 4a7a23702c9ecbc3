import Testing
@testable import Backprop

#if canImport(Glibc)
import Glibc
#endif

@Suite("The allocator keeps freed tensor buffers for reuse")
struct MemoryPolicyTests {
    @Test func policyIsAppliedOnFirstUseOnGlibc() {
        _ = Tape<Float>()
        #if canImport(Glibc)
        // The sanitizers bring their own allocator, whose `mallopt` does nothing.
        guard !Sanitizers.addressSanitizerIsActive && !Sanitizers.threadSanitizerIsActive else { return }
        let optedOut = getenv("BACKPROP_RETAIN_FREED_MEMORY").map { String(cString: $0) == "0" } ?? false
        #expect(MemoryPolicy.retainsFreedMemory == !optedOut)
        #endif
    }

    @Test func buffersFreedAndReallocatedKeepTheirValues() {
        // A large buffer freed and a new one of the same size allocated: the new tensor holds
        // exactly what was written into it, never stale bytes of the freed one.
        var generator = SeededGenerator(seed: 7)
        for round in 0..<3 {
            let a = Tensor<Float>.randomNormal(shape: [512, 1024], using: &generator)
            let b = a * 0 + Float(round)
            #expect(b.scalars.allSatisfy { $0 == Float(round) })
        }
        MemoryPolicy.releaseFreedMemory()
        let c = Tensor<Float>(zeros: [512, 1024])
        #expect(c.scalars.allSatisfy { $0 == 0 })
    }
}
