import Explain
import Foundation
import Models
import Testing
import TestSupport

/// `aidetect localise boxes`: one JSON line per file with boxes in the image's own pixels, an error line (and exit
/// code 2) for a file that cannot be read, and a clear refusal of a model file that is not a box detector.
struct LocaliseBoxesCLITests {
    @Test func boxesPerFileAndErrorsPerFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("boxes-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("boxes.safetensors").path
        let detector = BoxDetector()
        detector.eval()
        try BoxLocalisation.Model(detector: detector, inputSize: 64, imageThreshold: 0.5, preprocessing: .imagenet)
            .save(path: model, description: "untrained, for the CLI test")
        let image = TestSupport.repositoryRoot.appendingPathComponent("samples/real-IMG_0003.jpg").path
        let r = try runCLI(["localise", "boxes", "--model", model, "--minimum-score", "0", image, dir.appendingPathComponent("missing.jpg").path])
        #expect(r.status == 2, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 2)
        let boxes = try #require(lines.first?["boxes"] as? [[String: Double]])
        // Minimum score 0 keeps every location (after suppression); every box lies inside the 1024 x 683 photo.
        #expect(!boxes.isEmpty && boxes.allSatisfy { $0["x1"]! >= 0 && $0["x2"]! <= 1024 && $0["y2"]! <= 683 && $0["x1"]! < $0["x2"]! })
        #expect(lines.first?["contains_ai_region"] is Bool)
        #expect((lines.last?["error"] as? String)?.isEmpty == false)
        // An image-level model file is not a box detector.
        let lenet = dir.appendingPathComponent("lenet.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", lenet]).status == 0)
        let wrong = try runCLI(["localise", "boxes", "--model", lenet, image])
        #expect(wrong.status != 0 && (wrong.stderr + wrong.stdout).contains("not a box detector"))
    }
}
