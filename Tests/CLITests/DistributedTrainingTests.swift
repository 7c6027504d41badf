import Foundation
import Testing
import TestSupport
@testable import Detection
import Models
import Imaging
import Torch

/// Distributed training on c10d (Gloo over loopback): `aidetect launch --nproc 2 -- train ...` must take the same
/// steps as one process with the same global batch (issue 14).
struct DistributedTrainingTests {
    /// 32 px PNGs, 24 per class: "fake" carries a faint checkerboard.
    static func makeSet() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dist-\(UUID().uuidString)")
        var rng = SplitMix64(seed: 3)
        for (label, gen) in [("real", "cam"), ("fake", "checker")] {
            let d = root.appendingPathComponent("set/\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<24 {
                let base = rng.uniform(40, 200)
                var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
                for y in 0..<32 {
                    for x in 0..<32 {
                        let checker = label == "fake" && (x + y) % 2 == 0 ? 30.0 : 0
                        for c in 0..<3 { px[(y * 32 + x) * 3 + c] = UInt8(min(255, base + Double(x + c * 10) + checker)) }
                    }
                }
                try Data(ImageEncoder.png(Image(width: 32, height: 32, pixels: px))).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        return root
    }

    static func weights(_ dir: URL) throws -> [String: [Float]] {
        let t = try Safetensors.load(path: dir.appendingPathComponent("checkpoint.safetensors").path).tensors
        return t.filter { $0.key.hasPrefix("model.") }.mapValues { $0.toArray(Float.self) }
    }

    /// 20 steps (4 epochs of 5 batches of 8, the last batch 1 image: one rank's shard is empty) with augmentation:
    /// 2 processes end within 1e-5 of 1 process, and so does a 2-process run interrupted at step 7 and resumed.
    @Test(.timeLimit(.minutes(5))) func twoProcessesTrainLikeOne() throws {
        let root = try Self.makeSet()
        defer { try? FileManager.default.removeItem(at: root) }
        let common = ["--model", "lenet_baseline", "--data", root.appendingPathComponent("set").path, "--epochs", "4",
                      "--batch-size", "8", "--optimizer", "sgd", "--lr", "0.05", "--patience", "10"]
        let one = root.appendingPathComponent("one"), two = root.appendingPathComponent("two"), resumed = root.appendingPathComponent("resumed")
        let r1 = try runCLI(["train"] + common + ["--output", one.path], environment: ["AIDETECT_THREADS": "1"])
        #expect(r1.status == 0, "\(r1.stderr)")
        let r2 = try runCLI(["launch", "--nproc", "2", "--", "train"] + common + ["--output", two.path])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(r2.stdout.components(separatedBy: "epoch ").count - 1 == 4, "rank 0 alone reports the epochs: \(r2.stdout)")
        let r3 = try runCLI(["launch", "--nproc", "2", "--", "train"] + common + ["--output", resumed.path, "--stop-after-steps", "7"])
        #expect(r3.status == 0, "\(r3.stderr)")
        let atStep7 = try Self.weights(resumed)
        let r4 = try runCLI(["launch", "--nproc", "2", "--", "train"] + common + ["--output", resumed.path, "--resume"])
        #expect(r4.status == 0, "\(r4.stderr)")
        #expect(r4.stdout.contains("resumed at epoch 2"), "\(r4.stdout)")

        let reference = try Self.weights(one)
        #expect(!reference.isEmpty)
        for run in [two, resumed] {
            let w = try Self.weights(run)
            #expect(Set(w.keys) == Set(reference.keys))
            let worst = reference.map { k, v in zip(v, w[k] ?? []).map { abs($0 - $1) }.max() ?? .infinity }.max() ?? .infinity
            #expect(worst <= 1e-5, "\(run.lastPathComponent): largest parameter difference \(worst)")
        }
        // The parameters moved between step 7 and step 20 (the comparison is not between untouched weights).
        let moved = reference.map { k, v in zip(v, atStep7[k] ?? []).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
        #expect(moved > 1e-3, "training changed the parameters by at most \(moved)")
        let log = try String(contentsOf: two.appendingPathComponent("train.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 4, "rank 0 alone writes the log")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: resumed.path).filter { $0.hasPrefix(".resume") }
        #expect(leftovers.isEmpty, "the other ranks' copies of the checkpoint are removed: \(leftovers)")
    }

    /// A rank whose group never meets fails with an error naming the meeting point instead of hanging.
    @Test(.timeLimit(.minutes(2))) func missingPeersFailClearly() throws {
        let r = try runCLI(["train", "--model", "lenet_baseline", "--data", "/nonexistent", "--output", "/tmp/unused-\(UUID().uuidString)",
                            "--world-size", "2", "--rank", "1", "--master", "127.0.0.1:9", "--distributed-timeout", "3"])
        #expect(r.status != 0)
        #expect(r.stderr.lowercased().contains("127.0.0.1") || r.stderr.lowercased().contains("connect"), "\(r.stderr)")
        let bad = try runCLI(["train", "--model", "lenet_baseline", "--data", "x", "--output", "y", "--world-size", "2", "--rank", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--master"), "\(bad.stderr)")
    }

    /// `launch --nproc 2 -- train-probe`: the ranks share the embedding; rank 0's cache then holds every image's
    /// features as one process computes them, and rank 0 alone writes the model and its card.
    @Test(.timeLimit(.minutes(5))) func twoProcessesEmbedLikeOne() throws {
        let root = try Self.makeSet()
        defer { try? FileManager.default.removeItem(at: root) }
        let weights = root.appendingPathComponent("backbone.safetensors").path
        let backbone = Generator(seed: 5).withInitialization { try! ModelRegistry.create("resnet18") }
        try Safetensors.save(backbone.stateDict(), path: weights)
        let data = root.appendingPathComponent("set").path
        let model = root.appendingPathComponent("probe.safetensors").path, card = root.appendingPathComponent("card").path
        let r = try runCLI(["launch", "--nproc", "2", "--", "train-probe", "--data", data, "--backbone", "resnet18", "--weights", weights,
                            "--augmented-views", "1", "--output", model, "--card", card])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: model) && FileManager.default.fileExists(atPath: card + "/MODEL_CARD.md"))
        #expect(r.stderr.contains("[rank 1] embedding (plain)"), "rank 1 embedded its share: \(r.stderr)")

        // The cache rank 0 wrote, against the features one process computes for the same images.
        let location = URL(fileURLWithPath: data).standardizedFileURL.path
        let features = TestSupport.repositoryRoot.appendingPathComponent(".cache/features")
        let tag = "resnet18-set-\(String(stableHash(location, 0) % 0xFFFF_FFFF, radix: 16))"
        defer {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: features.path)) ?? [] where f.hasPrefix(tag) {
                try? FileManager.default.removeItem(at: features.appendingPathComponent(f))
            }
        }
        let (cached, meta) = try Safetensors.load(path: features.appendingPathComponent("\(tag)-plain.safetensors").path)
        let ids = try JSONDecoder().decode([String].self, from: Data(try #require(meta["ids"]).utf8))
        let samples = try Dataset.load(data).samples
        #expect(Set(ids) == Set(samples.map(\.id)), "every image embedded once")
        let entry = try ModelRegistry.entry("resnet18")
        let model1 = try #require(Generator(seed: 5).withInitialization { try! ModelRegistry.create("resnet18") } as? FeatureExtractor)
        let alone = try FrozenFeatures.embed(samples, backbone: model1, preprocessing: entry.preprocessing, cachePath: nil)
        let shared = try #require(cached["features"])
        let a = alone.rows(samples).toArray(Float.self)
        let b = EmbeddingTable(ids: ids, features: shared).rows(samples).toArray(Float.self)
        #expect(a.count == b.count && !a.isEmpty)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4, "largest feature difference \(worst)")
        #expect(FileManager.default.fileExists(atPath: features.appendingPathComponent("\(tag)-aug1.safetensors").path))
    }
}
