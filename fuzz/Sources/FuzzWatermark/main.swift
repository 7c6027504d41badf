import Foundation
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

// SwiftPM links executables with main = <target>_main (this file's top-level code), so libFuzzer's own main is not
// used: its driver is called instead, with the same command line (-runs=N, -max_total_time=S, corpus folders).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzWatermark))
