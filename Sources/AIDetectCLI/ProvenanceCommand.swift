import ArgumentParser
import Detection
import Forensics
import Foundation
import Imaging

struct ProvenanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provenance",
        abstract: "What a file's metadata says about its origin: C2PA, EXIF, XMP/IPTC, generator parameters, JPEG tables, ICC.",
        discussion: "Prints one JSON object per file (evidence items with source, direction, strength, explanation). With --model, also the model's calibrated P(AI) and the fused verdict. C2PA signatures are reported as present, never as valid: this build does not validate them.")
    @Argument(help: "Files.") var paths: [String]
    @Option(help: "Also score with this model ('default' = the bundled one) and fuse.") var model: String?
    @OptionGroup var image: ImageOptions

    func run() throws {
        let detector = try model.map(Detector.load)
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
                var out: [String: Any] = ["file": path]
                out["provenance"] = try JSONSerialization.jsonObject(with: enc.encode(report))
                if let detector, let pixels {
                    let p = detector.score(pixels).probability
                    out["fused"] = try JSONSerialization.jsonObject(with: enc.encode(FusedVerdict(modelProbability: p, provenance: report)))
                }
                print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            } catch {
                failed = true
                print(String(decoding: try JSONSerialization.data(withJSONObject: ["file": path, "error": error.localizedDescription], options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
            }
        }
        if failed { throw ExitCode(2) }
    }
}
