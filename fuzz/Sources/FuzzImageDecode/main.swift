import Foundation
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

// SwiftPM links executables with main = <target>_main (this file's top-level code), so libFuzzer's own main is not
// used: its driver is called instead, with the same command line (-runs=N, -max_total_time=S, corpus folders).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzImageDecode))
