#if canImport(Glibc)
import Glibc
#endif

/// What the test process knows about the sanitizers it was built with.
///
/// Swift has no compile-time condition for `-sanitize=`, so the runtime is looked up instead: a
/// sanitized executable exports the sanitizer's interface functions.
enum Sanitizers {
    /// Whether AddressSanitizer is active (`swift test --sanitize=address`).
    ///
    /// Used to skip the resident-memory flatness test: ASan's quarantine keeps freed blocks resident
    /// (up to 256 MB by default) to catch use-after-free, so resident memory grows by design. The soak
    /// executable (`swift run -c release soak`) measures memory flatness without sanitizers.
    static let addressSanitizerIsActive = dlsym(nil, "__asan_init") != nil

    /// Whether ThreadSanitizer is active (`swift test --sanitize=thread`).
    static let threadSanitizerIsActive = dlsym(nil, "__tsan_init") != nil
}

/// LeakSanitizer suppressions, read by the sanitizer runtime at exit under
/// `swift test --sanitize=address` (an ordinary unused function otherwise).
///
/// The Swift 6.3 toolchain's own libraries leak a few objects per process: the XCTest runner's
/// suite objects (about 370 bytes) and a weak-reference side table in Foundation's `Process.run`
/// (64 bytes, from the test that runs Python). They are not this package's, but would make every
/// test process exit non-zero. Leaks whose allocation stack involves only Backprop or the tests are
/// still reported.
@_cdecl("__lsan_default_suppressions")
public func leakSanitizerDefaultSuppressions() -> UnsafePointer<CChar> {
    UnsafeRawPointer(leakSuppressions.utf8Start).assumingMemoryBound(to: CChar.self)
}

private let leakSuppressions: StaticString = "leak:libXCTest.so\nleak:libFoundation.so\n"
