import FuzzSupport
import Forensics

/// libFuzzer entry: the provenance report never traps, whatever the bytes.
func fuzzProvenance(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let report = ProvenanceReport.analyze(Array(UnsafeBufferPointer(start: data, count: size)))
    _ = report.summary(file: "fuzz")
    return 0
}

runFuzzer(fuzzProvenance)
