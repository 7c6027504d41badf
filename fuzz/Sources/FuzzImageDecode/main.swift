import FuzzSupport
import Imaging

/// libFuzzer entry: decoding never traps; a decoded image has the size it claims.
func fuzzImageDecode(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let limits = ImageLimits(maxBytes: 1 << 20, maxPixels: 4_000_000)
    if let d = try? ImageDecoder(limits: limits).decode(data: Array(UnsafeBufferPointer(start: data, count: size)), name: "fuzz") {
        precondition(d.image.pixels.count == d.image.width * d.image.height * 3, "decoded size disagrees with its pixels")
    }
    return 0
}

runFuzzer(fuzzImageDecode)
