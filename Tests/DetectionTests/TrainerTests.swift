import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
import Models
@testable import NN
import Torch

struct TrainerTests {
    /// 32 px PNGs: "real" = smooth gradients, "fake" = the same with a checkerboard (an easy, planted signal).
    static func makeSet(_ n: Int = 24) throws -> URL {
        // A fixed folder name under a unique parent: sample ids are "<folder>:<path>", and the split hashes them, so a
        // random folder name gave every run another validation set (the cause of this suite's occasional AUC flake).
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("train-\(UUID().uuidString)/planted")
        var rng = SplitMix64(seed: 1)
        for (label, gen) in [("real", "cam"), ("fake", "checker")] {
            let d = root.appendingPathComponent("\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<n {
                var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
                let base = rng.uniform(40, 200)
                for y in 0..<32 {
                    for x in 0..<32 {
                        let checker = label == "fake" && (x + y) % 2 == 0 ? 40.0 : 0
                        for c in 0..<3 { px[(y * 32 + x) * 3 + c] = UInt8(min(255, base + Double(x + c * 10) + checker)) }
                    }
                }
                try Data(ImageEncoder.png(Image(width: 32, height: 32, pixels: px))).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        return root
    }

    static func config(_ data: String) -> TrainConfig {
        var c = TrainConfig(model: "cifake_cnn", data: data)
        c.convLayers = 2; c.filters = 8; c.dense = [16]
        c.epochs = 3; c.batchSize = 8; c.learningRate = 3e-3; c.patience = 10
        c.augmentation = .standard
        c.augmentation.jpegProbability = 0   // keep the checkerboard intact
        c.augmentation.blurProbability = 0
        c.augmentation.resizeProbability = 0
        c.augmentation.cropProbability = 0
        return c
    }

    /// An interrupted and resumed run ends with exactly the weights of an uninterrupted one.
    @Test func resumeReproducesUninterruptedRun() throws {
        let data = try Self.makeSet()
        defer { try? FileManager.default.removeItem(at: data) }
        let a = data.appendingPathComponent("run-a").path, b = data.appendingPathComponent("run-b").path
        let full = Trainer(config: Self.config(data.path), outputDirectory: a)
        let history = try full.run()
        #expect(history.count == 3)
        let interrupted = Trainer(config: Self.config(data.path), outputDirectory: b)
        interrupted.stopAfterSteps = 5            // mid-epoch 2 (about 4 batches per epoch)
        _ = try interrupted.run()
        let resumed = Trainer(config: Self.config(data.path), outputDirectory: b)
        let h2 = try resumed.run(resume: true)
        #expect(h2.count == 3)
        let wa = try Safetensors.load(path: a + "/checkpoint.safetensors").tensors
        let wb = try Safetensors.load(path: b + "/checkpoint.safetensors").tensors
        for (k, v) in wa where k.hasPrefix("model.") {
            #expect(wb[k]!.bytes() == v.bytes(), "\(k) differs after resume")
        }
        #expect(abs(h2.last!.validationLoss - history.last!.validationLoss) < 1e-9)
        #expect(FileManager.default.fileExists(atPath: a + "/best.safetensors"))
        #expect(FileManager.default.fileExists(atPath: a + "/curves.svg"))
        let log = try String(contentsOfFile: a + "/train.jsonl", encoding: .utf8)
        #expect(log.split(separator: "\n").count == 3)
    }

    /// The trainer learns the planted signal, and the best model loads as a detector.
    @Test func learnsPlantedSignal() throws {
        let data = try Self.makeSet(32)
        defer { try? FileManager.default.removeItem(at: data) }
        var c = Self.config(data.path)
        c.epochs = 20
        c.learningRate = 2e-3  // 5e-3 sometimes killed every ReLU (AUC stuck at 0.5) under parallel-test thread timing
        let out = data.appendingPathComponent("run").path
        let t = Trainer(config: c, outputDirectory: out)
        let h = try t.run()
        #expect((h.compactMap(\.validationAUC).max() ?? 0) >= 0.95, "validation AUC \(h.compactMap(\.validationAUC))")
        #expect(h.last!.validationLoss < h.first!.validationLoss)
        let d = try Detector(path: out + "/best.safetensors")
        #expect(d.entry.name == "cifake_cnn")
    }

    @Test func augmentationsAreSeededAndKeepSize() throws {
        let im = Image(width: 40, height: 30, fill: (100, 150, 200))
        var a = Augmentation.standard
        a.cropProbability = 1; a.rotationProbability = 1; a.jpegProbability = 1; a.flipProbability = 1
        var r1 = SplitMix64(seed: 9), r2 = SplitMix64(seed: 9)
        let x = a.apply(im, rng: &r1), y = a.apply(im, rng: &r2)
        #expect(x == y)
        let t = Image(width: 16, height: 16, fill: (0, 0, 0)).tensor()
        let blurred = gaussianBlur(t + 1, sigma: 1.5)
        #expect(blurred.shape == [3, 16, 16])
        #expect(abs(blurred.mean().item() - 1) < 1e-5)   // a normalised kernel keeps flat images flat
    }
}

struct TrainerInputSizeTests {
    /// A CIFAKE CNN trained at another input size keeps it in the model file and scores images with it.
    @Test func nonDefaultInputSizeRoundTrips() throws {
        let data = try TrainerTests.makeSet(8)
        defer { try? FileManager.default.removeItem(at: data) }
        var c = TrainerTests.config(data.path)
        c.epochs = 1
        c.inputSize = 48
        let out = data.appendingPathComponent("run48").path
        _ = try Trainer(config: c, outputDirectory: out).run()
        let d = try Detector(path: out + "/best.safetensors")
        #expect(d.preprocessing.inputSize == 48)
        let s = d.score(Image(width: 100, height: 60, fill: (50, 60, 70)))
        #expect(s.probability >= 0 && s.probability <= 1)
    }
}

struct BatchLoaderTests {
    /// The batches (augmented, in order) are the same with one worker and with several, and a file that
    /// cannot be decoded is skipped and counted without stopping the others.
    @Test func workersDoNotChangeBatchesAndBadFilesAreSkipped() throws {
        let root = try TrainerTests.makeSet(10)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("not an image".utf8).write(to: root.appendingPathComponent("fake/checker/broken.png"))
        let set = try Dataset.load(root.path)
        #expect(set.samples.count == 21)
        let batches = stride(from: 0, to: set.samples.count, by: 4).map { Array($0..<min($0 + 4, set.samples.count)) }
        var pre = Preprocessing(inputSize: 32, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], policy: .resizeCenterCrop)
        pre.cropFraction = 1
        var aug = Augmentation.standard
        aug.colorJitterProbability = 0.5
        func run(_ workers: Int) -> (xs: [Tensor], skipped: Int) {
            let loader = BatchLoader(samples: set.samples, batches: batches, startAt: 0, preprocessing: pre,
                                     augmentation: aug, seed: 42, workers: workers, depth: 2)
            var xs: [Tensor] = []
            while let b = loader.next() { xs.append(b.x) }
            return (xs, loader.skipped)
        }
        let one = run(1), three = run(3)
        #expect(one.skipped == 1 && three.skipped == 1)
        #expect(one.xs.map { $0.shape[0] }.reduce(0, +) == 20)
        #expect(one.xs.count == three.xs.count)
        for (a, b) in zip(one.xs, three.xs) { #expect(a.shape == b.shape && (a - b).abs().max().item() == 0) }
    }
}
