#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Open MPI's C API, loaded at run time with `dlopen` (as MLX's distributed module does), so that
/// nothing in the package needs `mpi.h` or `libmpi` to build.
///
/// Open MPI's handles are addresses of global objects exported by `libmpi.so`: `MPI_COMM_WORLD` is
/// `&ompi_mpi_comm_world`, `MPI_FLOAT` is `&ompi_mpi_float`, `MPI_SUM` is `&ompi_mpi_op_sum`, and so
/// on (`OMPI_PREDEFINED_GLOBAL` in its `mpi.h`); `MPI_IN_PLACE` is `(void *) 1`. Tested with Open MPI
/// 4.1 (Debian 12); Open MPI 3 to 5 share this ABI and the `libmpi.so.40` name. MPICH and its
/// derivatives encode handles as integers and are not supported: loading one is reported as an error
/// rather than guessed at.
///
/// The library is opened with `RTLD_GLOBAL` because Open MPI's own plug-ins (`mca_*.so`) resolve
/// symbols of `libmpi` when it loads them.
final class MPILibrary: @unchecked Sendable {
    typealias Handle = UnsafeMutableRawPointer
    typealias Request = UnsafeMutableRawPointer?

    let path: String
    private let library: UnsafeMutableRawPointer

    // Predefined handles.
    let commWorld: Handle
    let float: Handle
    let double: Handle
    let sum: Handle
    let errorsReturn: Handle
    /// `MPI_IN_PLACE`.
    let inPlace = UnsafeMutableRawPointer(bitPattern: 1)!

    // Functions (C signatures from the MPI standard, handles as raw pointers).
    typealias InitThreadFunction = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutablePointer<Int32>) -> Int32
    typealias InitializedFunction = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    typealias FinalizedFunction = @convention(c) (UnsafeMutablePointer<Int32>) -> Int32
    typealias FinalizeFunction = @convention(c) () -> Int32
    typealias AbortFunction = @convention(c) (Handle, Int32) -> Int32
    typealias CommRankFunction = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    typealias CommSizeFunction = @convention(c) (Handle, UnsafeMutablePointer<Int32>) -> Int32
    typealias CommSetErrhandlerFunction = @convention(c) (Handle, Handle) -> Int32
    typealias ErrorStringFunction = @convention(c) (Int32, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    typealias LibraryVersionFunction = @convention(c) (UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    typealias IallreduceFunction = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, Handle, Handle, Handle, UnsafeMutablePointer<Request>) -> Int32
    typealias IbcastFunction = @convention(c) (UnsafeMutableRawPointer?, Int32, Handle, Int32, Handle, UnsafeMutablePointer<Request>) -> Int32
    typealias IallgatherFunction = @convention(c) (UnsafeRawPointer?, Int32, Handle, UnsafeMutableRawPointer?, Int32, Handle, Handle, UnsafeMutablePointer<Request>) -> Int32
    typealias IbarrierFunction = @convention(c) (Handle, UnsafeMutablePointer<Request>) -> Int32
    typealias TestFunction = @convention(c) (UnsafeMutablePointer<Request>, UnsafeMutablePointer<Int32>, UnsafeMutableRawPointer?) -> Int32
    let initThread: InitThreadFunction
    let initialized: InitializedFunction
    let finalized: FinalizedFunction
    let finalize: FinalizeFunction
    let abort: AbortFunction
    let commRank: CommRankFunction
    let commSize: CommSizeFunction
    let commSetErrhandler: CommSetErrhandlerFunction
    let errorString: ErrorStringFunction
    let libraryVersion: LibraryVersionFunction
    /// `MPI_Iallreduce(sendbuf, recvbuf, count, datatype, op, comm, request)`.
    let iallreduce: IallreduceFunction
    /// `MPI_Ibcast(buffer, count, datatype, root, comm, request)`.
    let ibcast: IbcastFunction
    /// `MPI_Iallgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm, request)`.
    let iallgather: IallgatherFunction
    /// `MPI_Ibarrier(comm, request)`.
    let ibarrier: IbarrierFunction
    /// `MPI_Test(request, flag, status)`.
    let test: TestFunction

    /// `MPI_THREAD_SERIALIZED`: any thread may call MPI, one at a time.
    static let threadSerialized: Int32 = 2
    /// `MPI_SUCCESS`.
    static let success: Int32 = 0
    /// Room for an `MPI_Status` (24 bytes in Open MPI); `MPI_STATUS_IGNORE` would be a null pointer,
    /// but a real buffer keeps the call independent of that convention.
    static let statusSize = 64

    /// The library names tried in order when `BACKPROP_MPI_LIBRARY` is not set.
    static let candidateNames = ["libmpi.so.40", "libmpi.so"]

    /// Opens Open MPI and resolves every symbol the process group uses.
    ///
    /// - Throws: `DistributedError.libraryUnavailable` when no library can be opened or a symbol is missing.
    init() throws(DistributedError) {
        var names = Self.candidateNames
        if let override = getenv("BACKPROP_MPI_LIBRARY") { names = [String(cString: override)] }
        var opened: UnsafeMutableRawPointer?
        var openedName = ""
        var reasons: [String] = []
        for name in names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL) {
                opened = handle
                openedName = name
                break
            }
            reasons.append(dlerror().map { String(cString: $0) } ?? "\(name): not found")
        }
        guard let library = opened else {
            throw .libraryUnavailable(reason: "could not load Open MPI (tried \(names.joined(separator: ", "))): "
                + reasons.joined(separator: "; ")
                + ". Install it with `apt-get install -y libopenmpi-dev openmpi-bin`, or set BACKPROP_MPI_LIBRARY to the path of libmpi.so")
        }
        self.library = library
        path = openedName

        func symbol(_ name: String) throws(DistributedError) -> UnsafeMutableRawPointer {
            guard let address = dlsym(library, name) else {
                let isMPICH = dlsym(library, "MPIR_Err_return_comm") != nil
                throw .libraryUnavailable(reason: "\(openedName) has no symbol \(name)"
                    + (isMPICH ? " (it looks like MPICH, whose integer handles are not supported; install Open MPI)" : " (is it Open MPI 3 or later?)"))
            }
            return address
        }
        func function<F>(_ name: String, as type: F.Type) throws(DistributedError) -> F {
            unsafeBitCast(try symbol(name), to: type)
        }
        commWorld = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        sum = try symbol("ompi_mpi_op_sum")
        errorsReturn = try symbol("ompi_mpi_errors_return")
        initThread = try function("MPI_Init_thread", as: InitThreadFunction.self)
        initialized = try function("MPI_Initialized", as: InitializedFunction.self)
        finalized = try function("MPI_Finalized", as: FinalizedFunction.self)
        finalize = try function("MPI_Finalize", as: FinalizeFunction.self)
        abort = try function("MPI_Abort", as: AbortFunction.self)
        commRank = try function("MPI_Comm_rank", as: CommRankFunction.self)
        commSize = try function("MPI_Comm_size", as: CommSizeFunction.self)
        commSetErrhandler = try function("MPI_Comm_set_errhandler", as: CommSetErrhandlerFunction.self)
        errorString = try function("MPI_Error_string", as: ErrorStringFunction.self)
        libraryVersion = try function("MPI_Get_library_version", as: LibraryVersionFunction.self)
        iallreduce = try function("MPI_Iallreduce", as: IallreduceFunction.self)
        ibcast = try function("MPI_Ibcast", as: IbcastFunction.self)
        iallgather = try function("MPI_Iallgather", as: IallgatherFunction.self)
        ibarrier = try function("MPI_Ibarrier", as: IbarrierFunction.self)
        test = try function("MPI_Test", as: TestFunction.self)
    }

    /// MPI's text for an error code.
    func message(for code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        var length: Int32 = 0
        guard errorString(code, &buffer, &length) == Self.success else { return "MPI error code \(code)" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `MPI_Get_library_version`, first line.
    var versionDescription: String {
        var buffer = [CChar](repeating: 0, count: 8192)
        var length: Int32 = 0
        guard libraryVersion(&buffer, &length) == Self.success else { return "unknown MPI library" }
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(text.split(separator: ",").first ?? Substring(text))
    }
}
