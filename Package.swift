// swift-tools-version: 6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "PeerWatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peerwatch", targets: ["peerwatch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3" ..< "5.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        // libpcap, as a system library: module map and shim header only.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // zlib's streaming inflate, as a system library: module map and shim header only.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // prctl and capset for giving up root (variadic or raw system calls Swift cannot call).
        .target(name: "CPrivileges"),
        // A prefetch hint for the flow table's hot path (Swift has none).
        .target(name: "CPrefetch"),
        // Everything from bytes to alerts; pure (no files, sockets, threads or clocks).
        .target(
            name: "PeerWatchCore",
            dependencies: ["CZlib", "CPrefetch", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // The I/O around the core: capture, pipeline, output, watch-list files, signals.
        .target(
            name: "PeerWatchRuntime",
            dependencies: [
                "PeerWatchCore",
                "CPcap",
                "CPrivileges",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "peerwatch",
            dependencies: [
                "PeerWatchRuntime",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Builds packets and capture files in code, for tests and tools.
        .target(
            name: "PeerWatchTestSupport",
            dependencies: ["PeerWatchCore", "CZlib"],
            swiftSettings: strict
        ),
        // tools/seedgen: writes the deterministic demo capture and watch list in seeds/.
        .executableTarget(
            name: "peerwatch-seedgen",
            dependencies: ["PeerWatchTestSupport"],
            path: "tools/seedgen",
            swiftSettings: strict
        ),
        // tools/benchmark: PeerWatch against a bare libpcap read loop on the same capture.
        .executableTarget(
            name: "peerwatch-benchmark",
            dependencies: ["PeerWatchRuntime", "PeerWatchTestSupport", "CPcap"],
            path: "tools/benchmark",
            swiftSettings: strict
        ),
        // tools/rewrap: a capture's packets re-wrapped in every carrier a tap delivers.
        .executableTarget(
            name: "peerwatch-rewrap",
            dependencies: ["PeerWatchRuntime", "PeerWatchTestSupport"],
            path: "tools/rewrap",
            swiftSettings: strict
        ),
        // tools/allocations: heap allocations on the packet path in steady state, counted by
        // ordo-one's malloc interposer (preloaded); AllocationTests runs it.
        .executableTarget(
            name: "peerwatch-allocations",
            dependencies: ["PeerWatchCore", "PeerWatchTestSupport", .product(name: "MallocInterposerSwift", package: "malloc-interposer")],
            path: "tools/allocations",
            swiftSettings: strict
        ),
        // tools/fuzz: every decoder and loader, by seeded mutation or libFuzzer (see tools/fuzz.sh).
        .executableTarget(
            name: "peerwatch-fuzz",
            dependencies: ["PeerWatchCore", "PeerWatchRuntime", "PeerWatchTestSupport"],
            path: "tools/fuzz",
            swiftSettings: strict
        ),
        .testTarget(
            name: "PeerWatchCoreTests",
            dependencies: ["PeerWatchCore", "PeerWatchTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PeerWatchRuntimeTests",
            dependencies: ["PeerWatchRuntime", "PeerWatchTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PeerWatchCommandTests",
            dependencies: ["peerwatch", "PeerWatchTestSupport"],
            swiftSettings: strict
        ),
    ]
)
