import ArgumentParser
import Detection
import Forensics
import Foundation
import Imaging

struct ProvenanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provenance",
        abstract: "What a file's metadata says about its origin: C2PA, EXIF, XMP/IPTC, generator parameters, JPEG tables, ICC.",
        discussion: "Prints a short block per file: what was found and what it means. --json prints one JSON object per file instead (the full report: evidence items with source, direction, strength, explanation; the watermark checks). With --model, also the model's calibrated P(AI) and the fused verdict. C2PA manifests are validated (signature, certificate chain, assertion hashes, the binding to the file's bytes): valid, untrusted-signer, binding-not-checked or invalid; AIDETECT_C2PA_TRUST names a PEM file of trust anchors. Exit code 2 if a file could not be read.")
    @Argument(help: "Files.") var paths: [String]
    @Option(help: "Also score with this model (names as for scan --model) and fuse.") var model: String?
    @Flag(help: "One JSON object per file (the full report) instead of the readable summary.") var json = false
    @OptionGroup var image: ImageOptions

    func run() throws {
        let detector: Detector?
        do { detector = try model.map(Detector.load) } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = false
        for path in paths {
            do {
                var report = try ProvenanceReport.analyze(path: path, maxBytes: image.maxBytes)
                // The pixels too, for the invisible watermark (metadata is reported even when they do not decode).
                let pixels: Imaging.Image?
                do { pixels = try image.decoder.decode(path: path).image } catch {
                    pixels = nil
                    report.problems.append("pixels not decoded, so no watermark check: \(error.localizedDescription)")
                }
                if let pixels { report.checkWatermark(pixels) }
                var fused: FusedVerdict?
                if let detector, let pixels { fused = FusedVerdict(modelProbability: detector.score(pixels).probability, provenance: report) }
                if !json {
                    print(report.summary(file: path))
                    if let fused, let p = fused.modelProbability {
                        print("  with the model: P(AI) \(String(format: "%.3f", p)); verdict \(fused.verdict) (from \(fused.basis))")
                    }
                    print("")
                    continue
                }
                var out: [String: Any] = ["file": path]
                out["provenance"] = try JSONSerialization.jsonObject(with: enc.encode(report))
                if let fused { out["fused"] = try JSONSerialization.jsonObject(with: enc.encode(fused)) }
                print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } catch {
                failed = true
                if json {
                    print(String(decoding: try JSONSerialization.data(withJSONObject: ["file": path, "error": error.localizedDescription], options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
                } else {
                    print("\(path): error: \(error.localizedDescription)\n")
                }
            }
        }
        if failed { throw ExitCode(2) }
    }
}
