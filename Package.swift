// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    products: [
        .library(name: "Backprop", targets: ["Backprop"]),
        .library(name: "BackpropDistributed", targets: ["BackpropDistributed"]),
        .library(name: "BackpropBERT", targets: ["BackpropBERT"]),
        .executable(name: "gradcheck", targets: ["gradcheck"]),
        .executable(name: "benchmark", targets: ["benchmark"]),
    ],
    targets: [
        .target(name: "BackpropKernelsC"),
        .target(name: "Backprop", dependencies: ["BackpropKernelsC"]),
        .target(name: "GradCheckCatalog", dependencies: ["Backprop"]),
        // Data-parallel training on Open MPI, loaded at run time: builds and tests without MPI installed.
        .target(name: "BackpropDistributed", dependencies: ["Backprop"]),
        .executableTarget(name: "distributed-benchmark", dependencies: ["Backprop", "BackpropDistributed", "ExampleSupport"]),
        .testTarget(name: "BackpropDistributedTests", dependencies: ["Backprop", "BackpropDistributed"]),
        .target(name: "BackpropBERT", dependencies: ["Backprop"]),
        .executableTarget(name: "gradcheck", dependencies: ["Backprop", "GradCheckCatalog"]),
        // The machine limits of `benchmark --roofline` (FMA peak, triad bandwidth), dispatched at run time.
        .target(name: "BenchmarkRoofline", path: "Sources/benchmark/RooflineC"),
        .executableTarget(name: "benchmark", dependencies: ["Backprop", "BackpropBERT", "BenchmarkRoofline"],
                          exclude: ["RESULTS.md", "RooflineC"]),
        .executableTarget(name: "soak", dependencies: ["Backprop"]),
        .testTarget(name: "BackpropTests", dependencies: ["Backprop", "GradCheckCatalog", "ExampleSupport", "BackpropBERT"], exclude: ["Fixtures"]),
        .target(name: "ExampleSupport", dependencies: ["Backprop"], path: "Examples/Support"),
        .executableTarget(name: "quickstart", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/Quickstart"),
        .executableTarget(name: "depth-stability", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/DepthStability", exclude: ["gradients-depth64.svg"]),
        .executableTarget(name: "small-batch-vision", dependencies: ["Backprop", "BackpropDistributed", "ExampleSupport"], path: "Examples/SmallBatchVision", exclude: ["digits.csv"]),
        .executableTarget(name: "char-transformer", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/CharTransformer", exclude: ["genesis.txt"]),
        .executableTarget(name: "pinn", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/PINN"),
        .executableTarget(name: "wgan-gp", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/WGANGP"),
        .executableTarget(name: "sentence-embeddings", dependencies: ["Backprop", "BackpropBERT", "ExampleSupport"], path: "Examples/SentenceEmbeddings", exclude: ["pairs.tsv"]),
    ],
    swiftLanguageModes: [.v6]
)
