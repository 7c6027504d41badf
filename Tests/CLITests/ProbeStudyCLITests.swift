import Foundation
import Imaging
import Testing
import TestSupport
import Torch
@testable import Detection
@testable import Models

/// `train-probe` end to end on a small manifest with content and source columns (issue 12): content-balanced
/// training with augmented views, leave-one-source-out, per-content figures, the flip table, the attribution head
/// stored in the model file, and `scan` naming the family.
@Suite struct ProbeStudyCLITests {
    @Test func trainProbeReportsSourcesContentFlipsAndFamilies() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("probe-study-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // Five generators from five sources; colour and texture tell them apart, so every head can learn.
        let kinds: [(label: String, generator: String, content: String, repo: String, rgb: (Int, Int, Int))] = [
            ("real", "camera", "photo", "owner/photos", (200, 120, 60)), ("real", "museum", "art", "owner/paintings", (60, 200, 120)),
            ("fake", "stylegan-x", "photo", "owner/gan", (60, 60, 200)), ("fake", "sd-y", "art", "owner/open", (200, 200, 40)),
            ("fake", "midjourney", "photo", "owner/closed", (40, 200, 200)),
        ]
        var csv = "path,label,generator,content,source_repo\n"
        for k in kinds {
            let d = root.appendingPathComponent("data/\(k.label)/\(k.generator)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<10 {
                // Per-image noise (no two images are near-duplicates, so the split can cut every generator);
                // the generator's colour carries the label.
                var rng = SplitMix64(seed: UInt64(i * 31 + k.rgb.0 * 7 + k.rgb.2))
                var px = [UInt8](repeating: 0, count: 48 * 40 * 3)
                for j in 0..<(48 * 40) {
                    let n = Int(rng.uniform(-40, 40))
                    px[3 * j] = UInt8(clamping: k.rgb.0 + n)
                    px[3 * j + 1] = UInt8(clamping: k.rgb.1 - n / 2)
                    px[3 * j + 2] = UInt8(clamping: k.rgb.2 + Int(rng.uniform(-30, 30)))
                }
                let f = d.appendingPathComponent("\(i).png")
                try Data(ImageEncoder.png(Image(width: 48, height: 40, pixels: px))).write(to: f)
                csv += "\(f.path),\(k.label),\(k.generator),\(k.content),\(k.repo)\n"
            }
        }
        let manifest = root.appendingPathComponent("manifest.csv").path
        try csv.write(toFile: manifest, atomically: true, encoding: .utf8)
        // A backbone with fixed random weights, as a safetensors file.
        let weights = root.appendingPathComponent("backbone.safetensors").path
        let backbone = Generator(seed: 3).withInitialization { try! ModelRegistry.create("resnet18") }
        try Safetensors.save(backbone.stateDict(), path: weights)

        let model = root.appendingPathComponent("probe.safetensors").path, card = root.appendingPathComponent("card").path
        let r = try runCLI(["train-probe", "--data", manifest, "--backbone", "resnet18", "--weights", weights, "--augmented-views", "1",
                            "--balance-content", "--output", model, "--card", card, "--threads", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: card + "/model-card.json"))) as? [String: Any])
        let sizes = try #require(json["splitSizes"] as? [String: Int])
        #expect(json["trainingRows"] as? Int == 2 * (sizes["train"] ?? 0), "every training image and one augmented view of it")
        let loso = try #require(json["loso"] as? [[String: Any]])
        #expect(Set(loso.compactMap { $0["source"] as? String }).isSubset(of: Set(kinds.map(\.repo))) && !loso.isEmpty, "\(loso)")
        #expect(loso.allSatisfy { ($0["added"] as? Int ?? 0) > 0 }, "one-label sources get test images of the other label")
        let content = try #require(json["perContent"] as? [[String: Any]])
        #expect(Set(content.compactMap { $0["content"] as? String }) == ["photo", "art"])
        let flips = try #require(json["flipRates"] as? [String: Any])
        #expect(Set(flips.keys) == Set(EmbeddingView.perturbations.map(\.rawValue)))
        let attribution = try #require(json["attribution"] as? [String: Any])
        #expect(attribution["classes"] as? [String] == AttributionFamily.allCases.map(\.rawValue))
        let confusion = try #require(attribution["testConfusion"] as? [[Int]])
        #expect(confusion.flatMap { $0 }.reduce(0, +) == sizes["test"], "every test image has a known family here")
        let md = try String(contentsOfFile: card + "/MODEL_CARD.md", encoding: .utf8)
        for s in ["leave one source out", "By content type", "0.5x downsize", "attribution head", "ms per image", "--augmented-views 1 --balance-content"] {
            #expect(md.contains(s), "the card lacks \(s)")
        }
        // The model file carries the attribution head; scoring returns the family from the same forward pass, and the
        // verdict's probability is what the model gives without the head.
        let d = try Detector(path: model)
        #expect(d.attributionClasses == AttributionFamily.allCases.map(\.rawValue))
        let image = try ImageDecoder().decode(path: root.appendingPathComponent("data/fake/sd-y/0.png").path).image
        let a = d.assess(image)
        #expect(abs(a.probability - d.score(image).probability) < 1e-9)
        let family = try #require(a.family)
        #expect(family.count == 4 && abs(family.map(\.probability).reduce(0, +) - 1) < 1e-4 && family[0].probability >= family[1].probability)
        let (tensors, meta) = try Safetensors.load(path: model)
        var plainMeta = meta
        plainMeta.removeValue(forKey: "aidetect.attribution")
        let plain = root.appendingPathComponent("plain.safetensors").path
        try Safetensors.save(tensors.filter { !$0.key.hasPrefix("attribution.") }, metadata: plainMeta, path: plain)
        #expect(abs(try Detector(path: plain).score(image).probability - a.probability) < 1e-5, "the head on the embedding is the model's own output")
        let scan = try runCLI(["scan", root.appendingPathComponent("data/fake/sd-y/0.png").path, "--model", model, "--csv"])
        let row = try #require(scan.stdout.split(separator: "\n").dropFirst().first)
        #expect(row.contains(",\(family[0].family),"), "\(scan.stdout)")
        // extract-head keeps the attribution head, and import puts it back (what `make run` assembles).
        let head = root.appendingPathComponent("head.safetensors").path
        #expect(try runCLI(["extract-head", "--model", model, "--output", head]).status == 0)
        #expect(try Safetensors.load(path: head).tensors.keys.contains("attribution.weight"))
    }
}
