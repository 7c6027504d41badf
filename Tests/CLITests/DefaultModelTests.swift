import Foundation
import Testing
import TestSupport

/// The default detector as `make run` meets it: the CLIP probe assembled from PyPI's encoder and the committed head.
/// Issue 12's acceptance: every image of `samples/` on the right side of 0.5.
@Suite struct DefaultModelSamplesTests {
    static let installed = TestSupport.repositoryRoot.appendingPathComponent("models/clip-probe.safetensors").path
    static let available = FileManager.default.fileExists(atPath: installed) || TestSupport.hasCached("pretrained/clip_encoder.int8.onnx")

    /// The installed default model, or one assembled here as the Makefile does (`make run`'s rule).
    static func model(in dir: URL) throws -> String {
        if FileManager.default.fileExists(atPath: installed) { return installed }
        let out = dir.appendingPathComponent("clip-probe.safetensors").path
        let onnx = try #require(TestSupport.cached("pretrained/clip_encoder.int8.onnx")).path
        let r = try runCLI(["import", onnx, "--architecture", TestSupport.defaultCLIPHead.architecture,
                            "--head", TestSupport.repositoryRoot.appendingPathComponent(TestSupport.defaultCLIPHead.head).path, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        return out
    }

    @Test(.enabled(if: available, "needs the default model: `make run` or `make clip-model` (or scripts/fetch_pretrained.sh for the encoder)"))
    func everySampleIsOnTheRightSide() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("default-samples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try Self.model(in: dir)
        // `default` as a user gets it (runCLI pins `bundled` otherwise).
        let r = try runCLI(["scan", "samples", "--json"], environment: ["AIDETECT_DEFAULT": "", "AIDETECT_CLIP_MODEL": model])
        var seen: [String: Double] = [:]
        for line in r.stdout.split(separator: "\n") {
            guard let row = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let path = row["path"] as? String, let p = row["probability"] as? Double else { continue }
            seen[(path as NSString).lastPathComponent] = p
        }
        #expect(r.stdout.contains("CLIP"), "the default is the CLIP model: \(r.stdout.prefix(400))")
        let images = try FileManager.default.contentsOfDirectory(atPath: TestSupport.repositoryRoot.appendingPathComponent("samples").path)
            .filter { ($0.hasPrefix("real-") || $0.hasPrefix("fake-")) }
        #expect(images.count == 6)
        for name in images {
            let p = try #require(seen[name], "\(name) was not scored: \(r.stdout)")
            if name.hasPrefix("real-") { #expect(p < 0.5, "\(name): P(AI) \(p)") } else { #expect(p > 0.5, "\(name): P(AI) \(p)") }
        }
    }
}
