@testable import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Testing
import TestSupport
import Torch

@testable import Robustness

/// 32 px PNGs: reals are smooth gradients, fakes carry a fine checkerboard.
func makeToySet(_ n: Int = 40) throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("robust-\(UUID().uuidString)")
    var rng = SplitMix64(seed: 4)
    for (label, gen) in [("real", "photo"), ("fake", "checker")] {
        let d = root.appendingPathComponent("\(label)/\(gen)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for i in 0..<n {
            let base = rng.uniform(40, 160)
            var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
            for y in 0..<32 { for x in 0..<32 { for c in 0..<3 {
                let v = base + Double(x + y + 5 * c) + (label == "fake" && (x + y) % 2 == 0 ? 40 : 0)
                px[(y * 32 + x) * 3 + c] = UInt8(min(255, max(0, v)))
            } } }
            try Data(ImageEncoder.png(Image(width: 32, height: 32, pixels: px))).write(to: d.appendingPathComponent("\(i).png"))
        }
    }
    return root
}

func toyPixelModel(seed: UInt64 = 1) throws -> PixelModel {
    let m = Generator(seed: seed).withInitialization { try? ModelRegistry.create("cifake_cnn", options: ModelOptions(classes: 1, convLayers: 2, filters: 8, dense: [16])) }
    let model = try #require(m)
    model.eval()
    return PixelModel(model: model, preprocessing: try ModelRegistry.entry("cifake_cnn").preprocessing)
}

@Suite struct AttackTests {
    /// Pixels that include the range's edges, so that clipping matters.
    func pixels() -> Tensor {
        let g = Generator(seed: 9)
        return (g.rand([6, 3, 32, 32]) * 1.4 - 0.2).clamped(min: 0, max: 1)
    }

    @Test(arguments: [0.01, 0.02, 0.05]) func fgsmAndPGDRespectTheBudgetAndRange(epsilon: Double) throws {
        let model = try toyPixelModel()
        let x = pixels()
        for attack in [Attack.fgsm(epsilon: epsilon), .pgd(epsilon: epsilon, steps: 5, stepSize: epsilon / 3, randomStart: true),
                       .pgd(epsilon: epsilon, steps: 3, stepSize: epsilon, randomStart: false)] {
            let adv = attack.perturb(x, model: model, generator: Generator(seed: 2))
            let linf = (adv.to(.float64) - x.to(.float64)).abs().max().item()
            #expect(linf <= epsilon + 1e-6, "\(attack): L-inf \(linf) > \(epsilon)")
            #expect(linf > epsilon / 2, "\(attack) barely moved (\(linf))")
            #expect(adv.min().item() >= 0 && adv.max().item() <= 1, "\(attack) left [0, 1]")
            // The attack lowers the logit (towards "real") on average.
            let before = withNoGrad { model.logits(x) }.mean().item(), after = withNoGrad { model.logits(adv) }.mean().item()
            #expect(after < before, "\(attack): logit \(before) -> \(after)")
        }
    }

    @Test func carliniWagnerStaysInRangeAndOnlyKeepsSuccesses() throws {
        let model = try toyPixelModel()
        let x = pixels()
        let adv = Attack.carliniWagner(c: 10, steps: 30, learningRate: 0.05, kappa: 0).perturb(x, model: model)
        #expect(adv.min().item() >= 0 && adv.max().item() <= 1)
        let z = withNoGrad { model.logits(adv) }.toArray(Float.self)
        let moved = (adv - x).abs().max(axes: [1, 2, 3]).toArray(Float.self)
        // Every changed image is judged real; unchanged ones are the failures (kept as they were).
        for (zi, mi) in zip(z, moved) where mi > 0 { #expect(zi < 0) }
    }

    @Test func parsingAttacksAndDefences() {
        #expect(Attack("fgsm:0.02") == .fgsm(epsilon: 0.02))
        #expect(Attack("pgd:0.04") == .pgd(epsilon: 0.04, steps: 10, stepSize: 0.01, randomStart: true))
        #expect(Attack("cw") == .carliniWagner(c: 1, steps: 100, learningRate: 0.01, kappa: 0))
        #expect(Attack("fgsm") == nil && Attack("pgd:x") == nil && Attack("magic:1") == nil)
        #expect(Defence("blur:1.5") == .blur(sigma: 1.5) && Defence("jpeg:75") == .jpeg(quality: 75) && Defence("none") == Defence.none)
        #expect(Defence("jpeg:0") == nil && Defence("blur") == nil)
    }

    /// BPDA through JPEG: the adaptive gradient exists and the defended forward pass really re-encodes.
    @Test func defencesTransformAndAdaptiveGradientsFlow() throws {
        var model = try toyPixelModel()
        let x = pixels()
        model.defence = .jpeg(quality: 30)
        #expect((model.defence.apply(x) - x).abs().max().item() > 0.01)
        model.attackKnowsDefence = true
        let adv = Attack.fgsm(epsilon: 0.03).perturb(x, model: model)
        #expect((adv - x).abs().max().item() > 0.02)
        model.defence = .blur(sigma: 1)
        let blurred = Attack.pgd(epsilon: 0.03, steps: 2, stepSize: 0.02, randomStart: false).perturb(x, model: model)
        #expect((blurred - x).abs().max().item() <= 0.03 + 1e-6)
    }

    /// The study end to end on a toy set with two (untrained) models: rows per attack, target and defence,
    /// rates in [0, 1] (or NaN when a model detected nothing), the report files.
    @Test func attackStudyOnToySet() throws {
        let root = try makeToySet(20)
        defer { try? FileManager.default.removeItem(at: root) }
        var paths: [String] = []
        for seed in [1, 2] as [UInt64] {
            let m = try #require(Generator(seed: seed).withInitialization { try? ModelRegistry.create("cifake_cnn", options: ModelOptions(classes: 1, convLayers: 1, filters: 4, dense: [8])) })
            // A bias that calls everything fake, so that there is something to flip.
            let path = root.appendingPathComponent("m\(seed).safetensors").path
            withNoGrad { m.namedParameters().last?.1.fill_(5) }
            try saveDetector(m, architecture: "cifake_cnn", path: path, description: "toy",
                             extra: ["aidetect.options": "{\"convLayers\":1,\"filters\":4,\"dense\":[8]}"])
            paths.append(path)
        }
        var c = AttackStudy.Config(models: paths, data: root.path)
        c.count = 4
        c.attacks = [.fgsm(epsilon: 0.05), .carliniWagner(c: 1, steps: 3, learningRate: 0.01, kappa: 0)]
        c.defences = [.none, .blur(sigma: 1)]
        let out = root.appendingPathComponent("out").path
        let r = try AttackStudy(config: c, directory: out).run()
        // Per attack and source: no-knowledge rows for 2 targets x 2 defences, adaptive rows for 2 targets x 1 defence.
        #expect(r.rows.count == 2 * 2 * (2 * 2 + 2 * 1))
        #expect(r.rows.allSatisfy { $0.confusionRate.isNaN || (0...1).contains($0.confusionRate) })
        #expect(r.rows.filter { $0.attack == "fgsm:0.05" }.allSatisfy { $0.meanLinf <= 0.05 + 1e-6 })
        #expect(r.clean.count == 4 && r.crossSample.count == 2)
        for f in ["attack.json", "attack.md", "attack.html"] { #expect(FileManager.default.fileExists(atPath: "\(out)/\(f)")) }
        // The transfer table has one row and one column per model.
        let md = AttackStudy.markdown(r)
        let header = md.split(separator: "\n").first { $0.hasPrefix("| | ") }
        #expect(header?.split(separator: "|").count == 3, "\(header ?? "no transfer table")")
    }
}

@Suite struct DegradationTests {
    func image() -> Image {
        var rng = SplitMix64(seed: 1)
        var px = [UInt8](repeating: 0, count: 40 * 30 * 3)
        for i in px.indices { px[i] = UInt8(20 + rng.next() % 200) }
        return Image(width: 40, height: 30, pixels: px)
    }

    @Test func eachDegradationAtItsLevels() {
        let im = image()
        var rng = SplitMix64(seed: 2)
        for k in DegradationKind.allCases {
            // The mildest default level is the identity.
            let same = Degradation(k, k.defaultLevels[0]).apply(im, rng: &rng) == im
            #expect(same, "\(k) at its first level changes the image")
        }
        let blurred = Degradation(.blur, 2).apply(im, rng: &rng)
        #expect(blurred.width == 40 && blurred.height == 30 && blurred != im)
        #expect(Degradation(.jpeg, 10).apply(im, rng: &rng) != im)
        let patch = Degradation(.patch, 0.5).apply(im, rng: &rng)
        let visible = stride(from: 0, to: patch.pixels.count, by: 3).filter { patch.pixels[$0] != 0 || patch.pixels[$0 + 1] != 0 || patch.pixels[$0 + 2] != 0 }.count
        #expect(visible == 15 * 15, "a 0.5 patch of a 30 px side keeps 15 x 15 pixels, kept \(visible)")
        let down = Degradation(.downsize, 0.25).apply(im, rng: &rng)
        #expect(down.width == 40 && down.height == 30 && down != im)
        let resized = Degradation(.resize, 0.5).apply(im, rng: &rng)
        #expect(resized.width == 20 && resized.height == 15)
        let crop = Degradation(.crop, 0.5).apply(im, rng: &rng)
        #expect(crop.width == 15 && crop.height == 15)
        let noisy = Degradation(.noise, 10).apply(im, rng: &rng)
        let diffs = zip(noisy.pixels, im.pixels).map { Double(Int($0) - Int($1)) }
        let sd = (diffs.map { $0 * $0 }.reduce(0, +) / Double(diffs.count)).squareRoot()
        #expect(abs(sd - 10) < 1, "noise sd \(sd)")
    }

    /// Configurations saved before the new augmentation fields existed still decode (with the fields off).
    @Test func oldAugmentationJSONDecodes() throws {
        let old = #"{"flipProbability":0.5,"cropProbability":0.5,"cropScale":[0.6,1],"rotationProbability":0.2,"rotationDegrees":10,"blurProbability":0.2,"blurSigma":[0.1,2],"jpegProbability":0.3,"jpegQuality":[60,100],"resizeProbability":0.2,"resizeScale":[0.5,1.5],"colorJitterProbability":0.2,"colorJitter":0.2}"#
        let a = try JSONDecoder().decode(Augmentation.self, from: Data(old.utf8))
        #expect(a == Augmentation.standard)
        let b = try JSONDecoder().decode(Augmentation.self, from: JSONEncoder().encode(DegradationKind.patch.augmentation()))
        #expect(b.maskProbability == 0.5)
    }

    /// The study on a toy set: plain and augmented curves per degradation, one value per seed at each level.
    @Test func robustnessStudyOnToySet() throws {
        let root = try makeToySet(30)
        defer { try? FileManager.default.removeItem(at: root) }
        var c = RobustnessStudy.Config(data: root.path)
        c.convLayers = 1; c.filters = 8; c.dense = [16]; c.epochs = 2; c.batchSize = 16; c.learningRate = 3e-3
        c.degradations = [.blur, .patch]
        c.levels = [.blur: [0, 2], .patch: [1, 0.25]]
        c.seeds = [0, 1]
        let out = root.appendingPathComponent("out").path
        let r = try RobustnessStudy(config: c, directory: out).run()
        #expect(r.curves.map { "\($0.degradation.rawValue)/\($0.training)" } == ["blur/plain", "blur/augmented", "patch/plain", "patch/augmented"])
        #expect(r.curves.allSatisfy { $0.points.count == 2 && $0.points.allSatisfy { $0.accuracy.values.count == 2 } })
        #expect(r.curves.allSatisfy { $0.points.allSatisfy { $0.accuracy.values.allSatisfy { (0...1).contains($0) } } })
        let html = try String(contentsOfFile: out + "/robustness.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("trained with patch"))
        // A rerun reuses the cached runs and scores.
        let again = try RobustnessStudy(config: c, directory: out).run()
        #expect(again.curves[0].points[1].accuracy.values == r.curves[0].points[1].accuracy.values)
        // An existing model file is scored without training: one curve per degradation.
        var given = c
        given.detector = out + "/runs/seed-0/plain/best.safetensors"
        given.seeds = [0]
        let g = try RobustnessStudy(config: given, directory: root.appendingPathComponent("given").path).run()
        #expect(g.curves.count == 2 && g.curves.allSatisfy { $0.points.allSatisfy { $0.accuracy.values.count == 1 } })
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("given/runs").path))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("given/robustness.json").path))
        // It is judged on the seeded test split of the whole set (what a model trained on it never saw), not on a
        // capped, balanced re-deal whose test images could be its training images.
        var capped = given
        capped.capPerGenerator = 5
        let scored = try RobustnessStudy(config: capped, directory: root.appendingPathComponent("given2").path).testSamples(seed: 0)
        let whole = try Dataset.load(root.path).standardSplit(seed: 0)
        #expect(scored.map(\.id) == whole.test.samples.map(\.id))
        #expect(Set(scored.map(\.id)).isDisjoint(with: whole.train.samples.map(\.id)))
    }
}

@Suite struct AdversarialTrainingTests {
    /// Adversarial batches: the first half moves by at most eps in pixel units and stays in the valid range; the
    /// rest is untouched; a short run with them trains to a loadable model.
    @Test func adversarialBatchesRespectTheBudget() throws {
        let root = try makeToySet(12)
        defer { try? FileManager.default.removeItem(at: root) }
        var c = TrainConfig(model: "cifake_cnn", data: root.path)
        c.convLayers = 1; c.filters = 4; c.dense = [8]; c.epochs = 1; c.batchSize = 8
        c.adversarialEpsilons = [0.03]; c.adversarialSteps = 3; c.adversarialFraction = 0.5
        let t = Trainer(config: c, outputDirectory: root.appendingPathComponent("run").path)
        try t.run(resume: false)
        _ = try Detector(path: t.bestModelPath)

        let pre = try ModelRegistry.entry("cifake_cnn").preprocessing
        let model = try #require(Generator(seed: 3).withInitialization { try? ModelRegistry.create("cifake_cnn", options: ModelOptions(classes: 1, convLayers: 1, filters: 4, dense: [8])) })
        let mean = Tensor(pre.mean, shape: [1, 3, 1, 1]), std = Tensor(pre.std, shape: [1, 3, 1, 1])
        let pixels = (Generator(seed: 4).rand([8, 3, 32, 32]) * 1.2 - 0.1).clamped(min: 0, max: 1)
        let x = (pixels - mean) / std
        let adv = t.adversarial(x, targets: Tensor([Float](repeating: 1, count: 8)), model: model, preprocessing: pre, posWeight: Tensor([Float(1)]), step: 0)
        let advPixels = adv * std + mean
        let moved = (advPixels - pixels).abs()
        #expect(moved.max().item() <= 0.03 + 1e-5)
        #expect(moved.slice(axis: 0, start: 0, end: 4).max().item() > 0.01)
        #expect(moved.slice(axis: 0, start: 4, end: 8).max().item() == 0)
        #expect(advPixels.min().item() >= -1e-5 && advPixels.max().item() <= 1 + 1e-5)
    }
}

@Suite struct ManifestTests {
    /// Manifests of a set loaded by a relative path hold absolute paths (they load from any folder); training on a
    /// set whose files are all gone fails with a clear error instead of producing an untrained model.
    @Test func manifestsAreAbsoluteAndUnreadableTrainingDataFails() throws {
        let root = try makeToySet(6)
        defer { try? FileManager.default.removeItem(at: root) }
        // The same set by a path relative to the working directory (no chdir: tests run in parallel).
        let cwd = FileManager.default.currentDirectoryPath
        let up = cwd.split(separator: "/").map { _ in ".." }.joined(separator: "/")
        let relative = up + root.path
        try FileManager.default.createDirectory(atPath: root.path + "/sub", withIntermediateDirectories: true)
        try Dataset.load(relative).writeManifest(to: root.path + "/sub/data.csv")
        let text = try String(contentsOfFile: root.path + "/sub/data.csv", encoding: .utf8)
        #expect(text.split(separator: "\n").dropFirst().allSatisfy { $0.hasPrefix("/") })
        #expect(try Dataset.load(root.path + "/sub/data.csv").samples.count == 12)
        try FileManager.default.removeItem(atPath: root.path + "/real")
        try FileManager.default.removeItem(atPath: root.path + "/fake")
        var c = TrainConfig(model: "cifake_cnn", data: root.path + "/sub/data.csv")
        c.convLayers = 1; c.filters = 4; c.dense = [8]; c.epochs = 1; c.batchSize = 4
        #expect(throws: DatasetError.self) { try Trainer(config: c, outputDirectory: root.path + "/run").run(resume: false) }
    }
}
