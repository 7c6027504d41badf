import Detection
import Explain
import Foundation
import Imaging
import Models
import NN
import Testing
import TestSupport
import Torch

/// `aidetect localise map` and `localise fit-threshold`: per image a mask PNG at the image's size, an overlay and a
/// JSON line with the regions; an error line (exit 2) for a file that cannot be read; an image-level model refused.
struct LocaliseMapCLITests {
    @Test func maskOverlayAndRegionsPerFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("map-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // An untrained U-Net whose output bias is pushed up marks (nearly) everything: what the CLI does with a map
        // is under test here, not the model (the server tests train a real toy localiser).
        let model = dir.appendingPathComponent("unet.safetensors").path
        let unet = Generator(seed: 1).withInitialization { try! ModelRegistry.entry("unet_small").make(ModelOptions(classes: 1)) }
        var state = unet.stateDict()
        let bias = try #require(state["head.bias"], "unet_small's output layer is `head`")
        state["head.bias"] = bias + Tensor([Float(8)])
        try unet.loadStateDict(state)
        try saveDetector(unet, architecture: "unet_small", path: model, description: "marks everything, for the CLI test")
        let image = TestSupport.repositoryRoot.appendingPathComponent("samples/real-IMG_0003.jpg").path
        let out = dir.appendingPathComponent("out").path
        let r = try runCLI(["localise", "--model", model, "--output", out, image, dir.appendingPathComponent("missing.jpg").path])
        #expect(r.status == 2, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 2)
        let loc = try #require(lines.first?["localisation"] as? [String: Any])
        #expect(loc["fitted"] as? Bool == false && loc["contains_ai_region"] as? Bool == true, "\(loc)")
        let regions = try #require(loc["regions"] as? [[String: Any]])
        #expect(!regions.isEmpty && regions.allSatisfy { ($0["x"] as? Int ?? -1) >= 0 && ($0["x"] as! Int) + ($0["width"] as! Int) <= 1024 })
        let mask = try ImageDecoder().decode(path: try #require(lines.first?["mask"] as? String)).image
        let overlay = try ImageDecoder().decode(path: try #require(lines.first?["overlay"] as? String)).image
        #expect(mask.width == 1024 && mask.height == 683 && overlay.width == 1024)
        #expect((loc["masked_fraction"] as? Double ?? 0) > 0.5)
        #expect((lines.last?["error"] as? String)?.isEmpty == false && lines.last?["file"] as? String == dir.appendingPathComponent("missing.jpg").path)
        // An image-level model file is not a localiser.
        let lenet = dir.appendingPathComponent("lenet.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", lenet]).status == 0)
        let wrong = try runCLI(["localise", "map", "--model", lenet, image])
        #expect(wrong.status != 0 && (wrong.stderr + wrong.stdout).contains("not a localiser"), "\(wrong.stderr)")
    }
}
