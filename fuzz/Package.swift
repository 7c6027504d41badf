// swift-tools-version:6.1
// libFuzzer targets over the parsers that read untrusted files (issue 15). Built with the fuzzer and AddressSanitizer:
//   swift build -c release --package-path fuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// `make fuzz` builds them and runs each one time-boxed on its seed corpus (scripts/fuzz.sh).
import PackageDescription

let package = Package(
    name: "aidetect-fuzz",
    dependencies: [.package(name: "aidetect", path: "..")],
    targets: [
        // The libFuzzer driver call every target's main makes.
        .target(name: "FuzzSupport"),
        // Every Forensics parser (JPEG/PNG/WebP/TIFF/BMFF containers, EXIF, XMP, PNG text, CBOR, JUMBF, C2PA and its
        // validation: COSE, X.509 through swift-asn1) through the whole provenance report.
        .executableTarget(name: "FuzzProvenance", dependencies: ["FuzzSupport", .product(name: "Forensics", package: "aidetect")]),
        // Image decoding through ImageDecoder: format sniffing, every codec's glue in cimg.c, limits, orientation, ICC.
        .executableTarget(name: "FuzzImageDecode", dependencies: ["FuzzSupport", .product(name: "Imaging", package: "aidetect")]),
        // The invisible-watermark decoder on arbitrary pixels (size and pixels from the input).
        .executableTarget(name: "FuzzWatermark", dependencies: ["FuzzSupport", .product(name: "Forensics", package: "aidetect"),
                                                                .product(name: "Imaging", package: "aidetect")]),
        // The model-file readers (safetensors, PyTorch zip and legacy pickle checkpoints, ONNX); links LibTorch.
        .executableTarget(name: "FuzzModelFiles", dependencies: ["FuzzSupport", .product(name: "Models", package: "aidetect"),
                                                                 .product(name: "Torch", package: "aidetect")]),
    ]
)
