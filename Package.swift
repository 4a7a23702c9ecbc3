// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Backprop",
    products: [
        .library(name: "Backprop", targets: ["Backprop"]),
        .executable(name: "gradcheck", targets: ["gradcheck"]),
    ],
    targets: [
        .target(name: "Backprop"),
        .target(name: "GradCheckCatalog", dependencies: ["Backprop"]),
        .executableTarget(name: "gradcheck", dependencies: ["Backprop", "GradCheckCatalog"]),
        .executableTarget(name: "soak", dependencies: ["Backprop"]),
        .testTarget(name: "BackpropTests", dependencies: ["Backprop", "GradCheckCatalog"], exclude: ["Fixtures"]),
        .target(name: "ExampleSupport", path: "Examples/Support"),
        .executableTarget(name: "quickstart", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/Quickstart"),
        .executableTarget(name: "depth-stability", dependencies: ["Backprop", "ExampleSupport"], path: "Examples/DepthStability"),
    ],
    swiftLanguageModes: [.v6]
)
