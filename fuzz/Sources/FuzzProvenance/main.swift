import Foundation
import Forensics

/// libFuzzer entry: the provenance report never traps, whatever the bytes.
func fuzzProvenance(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let report = ProvenanceReport.analyze(Array(UnsafeBufferPointer(start: data, count: size)))
    _ = report.summary(file: "fuzz")
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
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzProvenance))
