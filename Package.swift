// swift-tools-version:6.1
import PackageDescription

// The engine: the LibTorch inside the pinned PyPI torch wheel, unpacked by scripts/fetch_libtorch.sh into .cache/libtorch
// (or wherever AIDETECT_LIBTORCH points). The binaries find its libraries through the run path recorded here; the CUDA
// libraries are not linked (the shim loads them at run time where `scripts/fetch_libtorch.sh cuda` installed them).
let libtorch = Context.environment["AIDETECT_LIBTORCH"] ?? (Context.packageDirectory + "/.cache/libtorch")
let torchCxx: [CXXSetting] = [.unsafeFlags([
    "-O2", "-Wno-deprecated-declarations", "-DUSE_C10D_GLOO", "-isystem", libtorch + "/torch/include",
    "-isystem", libtorch + "/torch/include/torch/csrc/api/include",
])]
let torchLink: [LinkerSetting] = [
    .unsafeFlags(["-L" + libtorch + "/torch/lib", "-Xlinker", "-rpath", "-Xlinker", libtorch + "/torch/lib"]),
    .linkedLibrary("torch_cpu"), .linkedLibrary("c10"), .linkedLibrary("dl"),
]

let package = Package(
    name: "aidetect",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "aidetect", targets: ["aidetect"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "Detection", targets: ["Detection"]),
        .library(name: "Synthesis", targets: ["Synthesis"]),
        .library(name: "Explain", targets: ["Explain"]),
        .library(name: "Forensics", targets: ["Forensics"]),
        .library(name: "Robustness", targets: ["Robustness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // Graceful drain of the server (Hummingbird runs on it already): shut down on our signal, after draining.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        // The scan journal: SQLite through GRDB (over Debian's libsqlite3), content hashes with swift-crypto's SHA-256.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        // C2PA validation: the signer's X.509 chain (swift-certificates), COSE signatures (swift-crypto, RSA-PSS from its extras).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.0.0"),
        // multipart/form-data uploads (the page's form, /api/v1/batch).
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.0"),
    ],
    targets: [
        // C++ shim over LibTorch with a pure-C header (ctorch_ prefix). No C++ exception crosses it.
        .target(
            name: "CTorch",
            cxxSettings: torchCxx,
            linkerSettings: torchLink
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .target(name: "NN", dependencies: ["Torch"]),
        .target(name: "Models", dependencies: ["NN"]),
        // C wrappers over Debian's image codecs (libjpeg-turbo, libpng, libwebp, libtiff, giflib, libheif, libavif).
        .target(
            name: "CImageCodecs",
            cSettings: [.unsafeFlags(["-O2", "-Wno-unused-function"])],
            linkerSettings: [
                .linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("webp"),
                .linkedLibrary("webpdemux"), .linkedLibrary("tiff"), .linkedLibrary("gif"),
                .linkedLibrary("heif"), .linkedLibrary("avif"), .linkedLibrary("lcms2"), .linkedLibrary("z"),
            ]
        ),
        .target(name: "Imaging", dependencies: ["CImageCodecs"]),
        // Provenance: EXIF/XMP/IPTC, PNG text (A1111, ComfyUI), JPEG tables, ICC, C2PA (JUMBF + CBOR); no LibTorch.
        .target(name: "Forensics", dependencies: ["Imaging", .product(name: "Crypto", package: "swift-crypto"),
                                                  .product(name: "_CryptoExtras", package: "swift-crypto"),
                                                  .product(name: "X509", package: "swift-certificates"),
                                                  .product(name: "SwiftASN1", package: "swift-asn1")]),
        .target(name: "ImagingTorch", dependencies: ["Imaging", "Torch"]),
        .target(name: "TestSupport", dependencies: ["Torch"]),
        .target(
            name: "Detection",
            dependencies: ["Models", "Imaging", "ImagingTorch"],
            resources: [.copy("Resources/default-model.safetensors")]
        ),
        // Generators trained here to make fakes (DCGAN, WGAN-GP, SNGAN, DDPM), the Frechet score, set writing.
        .target(name: "Synthesis", dependencies: ["Models", "Imaging", "ImagingTorch", "Detection"]),
        // Explanations: Grad-CAM, guided backprop, saliency, activation maps, attention rollout, FCN pixel maps.
        .target(name: "Explain", dependencies: ["Models", "Imaging", "ImagingTorch", "Detection"]),
        // Degradations and robustness curves; adversarial attacks, transfer and defences.
        .target(name: "Robustness", dependencies: ["Models", "Imaging", "ImagingTorch", "Detection", "Studies"]),
        // The studies' drivers (cross-generator, few-shot, topology search, baselines).
        .target(name: "Studies", dependencies: ["Models", "Imaging", "Detection", "Synthesis"]),
        // Resumable, shardable scans: an SQLite journal of every file's outcome, reports merged from journals.
        .target(
            name: "Journal",
            dependencies: ["Detection", "Imaging", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The web page and REST API (Hummingbird 2).
        .target(
            name: "Server",
            dependencies: ["Detection", "Explain", "Forensics", "Imaging", "Journal", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "MultipartKit", package: "multipart-kit"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            resources: [.copy("Resources/openapi.json")]
        ),
        .target(
            name: "AIDetectCLI",
            dependencies: [
                "Models", "Imaging", "ImagingTorch", "Detection", "Synthesis", "Studies", "Explain", "Robustness", "Forensics", "Server", "Journal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "aidetect", dependencies: ["AIDetectCLI"]),
        .executableTarget(name: "aidetect-bench", dependencies: ["Models", "Detection", "Server"], path: "bench/Sources/aidetect-bench"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "ImagingTorch", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["AIDetectCLI", "Detection", "Explain", "Models", "Journal", "TestSupport"]),
        .testTarget(name: "DetectionTests", dependencies: ["Detection", "Imaging", "TestSupport"]),
        .testTarget(name: "SynthesisTests", dependencies: ["Synthesis", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Detection", "Explain", "Imaging", "Journal", "Models", "TestSupport",
                                                      .product(name: "HummingbirdTesting", package: "hummingbird")]),
        .testTarget(name: "ForensicsTests", dependencies: ["Forensics", "Imaging", "Detection", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RobustnessTests", dependencies: ["Robustness", "TestSupport"]),
        .testTarget(name: "ExplainTests", dependencies: ["Explain", "TestSupport"]),
        .testTarget(name: "StudiesTests", dependencies: ["Studies", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Detection", "Models", "Imaging", "TestSupport"]),
    ],
    cxxLanguageStandard: .cxx20
)
