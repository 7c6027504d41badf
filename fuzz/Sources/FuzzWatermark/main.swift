import FuzzSupport
import Forensics
import Imaging

/// libFuzzer entry: the watermark decoder on any image. The first two bytes give the size (8-135 px a side), the
/// rest the pixels (repeated to fill).
func fuzzWatermark(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 3 else { return 0 }
    let b = UnsafeBufferPointer(start: data, count: size)
    let w = 8 + Int(b[0]) % 128, h = 8 + Int(b[1]) % 128
    let body = Array(b[2...])
    let pixels = (0..<(w * h * 3)).map { body[$0 % body.count] }
    _ = InvisibleWatermark.detect(Image(width: w, height: h, pixels: pixels))
    return 0
}

runFuzzer(fuzzWatermark)
