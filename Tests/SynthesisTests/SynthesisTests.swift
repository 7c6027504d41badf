import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
@testable import Models
import NN
@testable import Synthesis
import Torch

/// A folder of `n` 32 px real PNGs (smooth gradients) under real/toy/.
func makeRealSet(_ n: Int) throws -> URL {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(UUID().uuidString)")
    let d = root.appendingPathComponent("real/toy")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    var rng = SplitMix64(seed: 3)
    for i in 0..<n {
        let base = rng.uniform(30, 180)
        var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
        for y in 0..<32 { for x in 0..<32 { for c in 0..<3 { px[(y * 32 + x) * 3 + c] = UInt8(base + Double(x + y + 10 * c)) } } }
        try Data(ImageEncoder.png(Image(width: 32, height: 32, pixels: px))).write(to: d.appendingPathComponent("\(i).png"))
    }
    return root
}

struct GeneratorShapeTests {
    @Test(arguments: [32, 64]) func ganShapes(size: Int) {
        Generator(seed: 1).withInitialization {
            for family in [GeneratorFamily.dcgan, .wgan_gp, .sngan] {
                let m = GenerativeModel.make(family, imageSize: size, width: 8, latent: 16)
                let x = m.generator(Tensor.randn([4, 16]))
                #expect(x.shape == [4, 3, size, size])
                #expect(x.abs().max().item() <= 1)   // tanh output
                #expect(m.discriminator!(x).shape == [4, 1])
            }
        }
    }

    @Test func unetShapes() {
        Generator(seed: 2).withInitialization {
            for size in [32, 64] {
                let m = GenerativeModel.make(.ddpm, imageSize: size, width: 8)
                let unet = m.generator as! DiffusionUNet
                let x = Tensor.randn([2, 3, size, size])
                #expect(unet.predict(x, t: [0, 999]).shape == [2, 3, size, size])
            }
        }
    }

    /// After enough power iterations the normalised weight's largest singular value is 1 (checked with an
    /// independent eigendecomposition of W^T W).
    @Test func spectralNormHasUnitSpectralNorm() {
        let conv = Generator(seed: 3).withInitialization { SpectralNormConv2d(inputChannels: 4, outputChannels: 6, kernelSize: 3) }
        conv.train()
        withNoGrad { for _ in 0..<30 { _ = conv.normalizedWeight() } }
        let w = withNoGrad { conv.normalizedWeight() }.reshaped([6, -1]).to(.float64)
        let top = w.transposed(0, 1).matmul(w).symmetricEigen().values.max().item().squareRoot()
        #expect(abs(top - 1) < 1e-3)
        #expect(conv.stateDict().keys.sorted() == ["bias", "weight_orig", "weight_u", "weight_v"])
    }
}

struct DiffusionScheduleTests {
    /// Linear schedule with 4 steps from 0.1 to 0.4: betas 0.1, 0.2, 0.3, 0.4; alpha bars by hand.
    @Test func linearScheduleByHand() {
        let s = DiffusionSchedule(.linear, steps: 4, betaStart: 0.1, betaEnd: 0.4)
        for (a, b) in zip(s.betas, [0.1, 0.2, 0.3, 0.4]) { #expect(abs(a - b) < 1e-12) }
        for (a, b) in zip(s.alphaBars, [0.9, 0.72, 0.504, 0.3024]) { #expect(abs(a - b) < 1e-12) }
        #expect(s.samplingTimesteps(4) == [3, 2, 1, 0])
        #expect(s.samplingTimesteps(2) == [3, 0])
    }

    @Test func cosineScheduleIsMonotoneAndEndsNearZero() {
        let s = DiffusionSchedule(.cosine, steps: 1000)
        #expect(zip(s.alphaBars, s.alphaBars.dropFirst()).allSatisfy { $0 > $1 })
        #expect(s.alphaBars.first! > 0.9999 && s.alphaBars.last! < 1e-3)
        #expect(s.betas.allSatisfy { $0 > 0 && $0 <= 0.999 })
    }

    /// q(x_t | x_0) and one DDIM step against numbers worked out by hand.
    @Test func noisingAndDDIMStepByHand() {
        let s = DiffusionSchedule(.linear, steps: 4, betaStart: 0.1, betaEnd: 0.4)
        let x0 = Tensor([Float](repeating: 0.5, count: 3), shape: [1, 3, 1, 1])
        let eps = Tensor([Float](repeating: 1.0, count: 3), shape: [1, 3, 1, 1])
        // t = 1: abar = 0.72 -> sqrt(0.72) * 0.5 + sqrt(0.28) * 1
        let xt = s.noised(x0, noise: eps, t: [1])
        let expected = 0.72.squareRoot() * 0.5 + 0.28.squareRoot()
        #expect(abs(xt.max().item() - expected) < 1e-6)
        // DDIM from t = 1 to t = 0 with the true noise recovers x0, then re-noises to abar = 0.9:
        // sqrt(0.9) * 0.5 + sqrt(0.1) * 1
        let prev = s.ddimStep(xt, eps: eps, t: 1, previous: 0)
        #expect(abs(prev.max().item() - (0.9.squareRoot() * 0.5 + 0.1.squareRoot())) < 1e-5)
        // and to the clean image at previous = -1
        #expect(abs(s.ddimStep(xt, eps: eps, t: 1, previous: -1).max().item() - 0.5) < 1e-5)
        // ancestral step at t = 0 returns the mean (x - beta/sqrt(1-abar) eps)/sqrt(1-beta)
        let x1 = Tensor([Float](repeating: 0.8, count: 3), shape: [1, 3, 1, 1])
        let mean = (0.8 - 0.1 / 0.1.squareRoot() * 1.0) / 0.9.squareRoot()
        #expect(abs(s.ddpmStep(x1, eps: eps, t: 0, noise: eps).max().item() - mean) < 1e-5)
    }

    @Test func timestepEmbeddingIsSinusoidal() {
        let e = timestepEmbedding([0, 5], dim: 8).toArray(Float.self)
        #expect(Array(e[0..<4]) == [0, 0, 0, 0] && Array(e[4..<8]) == [1, 1, 1, 1])
        #expect(abs(Double(e[8]) - sin(5.0)) < 1e-6 && abs(Double(e[12]) - cos(5.0)) < 1e-6)
    }
}

struct SynthTrainingTests {
    /// A few discriminator steps against a fixed generator lower the discriminator's loss; a few DDPM
    /// steps lower the denoising loss.
    @Test func lossesDecrease() throws {
        Generator(seed: 4).withInitialization {
            let m = GenerativeModel.make(.dcgan, width: 8, latent: 16)
            let g = m.generator, d = m.discriminator!
            g.eval()
            let real = Tensor.rand([16, 3, 32, 32]) * 0.2 + 0.5
            let fake = withNoGrad { g(Generator(seed: 5).randn([16, 16])) }
            let opt = Adam(parameters: d.parameters(), learningRate: 2e-3, beta1: 0.5)
            func loss() -> Tensor {
                let lr = d(real), lf = d(fake)
                return binaryCrossEntropyWithLogits(lr, targets: lr.onesLike()) + binaryCrossEntropyWithLogits(lf, targets: lf.zerosLike())
            }
            let first = loss().item()
            for _ in 0..<10 { opt.zeroGrad(); loss().backward(); opt.step() }
            #expect(loss().item() < first * 0.5)

            let unet = GenerativeModel.make(.ddpm, width: 8).generator as! DiffusionUNet
            let s = DiffusionSchedule(.linear, steps: 100)
            let x0 = Tensor.rand([8, 3, 32, 32]) * 0 + 0.3
            let noise = Generator(seed: 6).randn([8, 3, 32, 32]), t = [10, 20, 30, 40, 50, 60, 70, 80]
            let uopt = Adam(parameters: unet.parameters(), learningRate: 2e-3)
            func dl() -> Tensor { mseLoss(unet.predict(s.noised(x0, noise: noise, t: t), t: t), noise) }
            let d0 = dl().item()
            for _ in 0..<15 { uopt.zeroGrad(); dl().backward(); uopt.step() }
            #expect(dl().item() < d0 * 0.8)
        }
    }

    /// An interrupted and resumed run ends with the weights of an uninterrupted one (every family), and the
    /// WGAN-GP gradient penalty runs through double backward.
    @Test(arguments: GeneratorFamily.allCases) func resumeMatchesUninterrupted(family: GeneratorFamily) throws {
        let root = try makeRealSet(40)
        defer { try? FileManager.default.removeItem(at: root) }
        var c = SynthConfig(family: family, data: root.path)
        c.width = 8; c.latent = 16; c.batchSize = 4; c.steps = 4; c.heldOutReal = 8; c.sampleEvery = 2
        c.diffusionSteps = 50
        let reals = try RealImages.load(c)
        #expect(reals.train.shape == [32, 3, 32, 32] && reals.heldOut.shape == [8, 3, 32, 32])
        #expect(Set(reals.trainIds).isDisjoint(with: reals.heldOutIds))
        let a = root.appendingPathComponent("a").path, b = root.appendingPathComponent("b").path
        let full = try SynthTrainer(config: c, directory: a).run(reals: reals)
        let part = SynthTrainer(config: c, directory: b)
        part.stopAfterSteps = 2
        _ = try part.run(reals: reals)
        let resumed = try SynthTrainer(config: c, directory: b).run(reals: reals)
        for (k, v) in full.generator.stateDict() {
            let w = resumed.generator.stateDict()[k]!
            #expect((v.to(.float64) - w.to(.float64)).abs().max().item() == 0, "\(family) \(k)")
        }
        #expect(FileManager.default.fileExists(atPath: a + "/samples/step-000002.png"))
        let lines = try String(contentsOfFile: a + "/train.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let (loadedConfig, final, step) = try SynthTrainer.load(directory: a)
        #expect(loadedConfig == c && step == 4)
        // A snapshot per sample grid; the last one holds the same sampling weights as the final checkpoint.
        let snaps = SynthTrainer.snapshots(directory: a)
        #expect(snaps.map { ($0 as NSString).lastPathComponent } == ["step-000002.safetensors", "step-000004.safetensors"])
        let (_, last, lastStep) = try SynthTrainer.load(checkpoint: snaps[1])
        let (_, _, firstStep) = try SynthTrainer.load(checkpoint: snaps[0])
        #expect(lastStep == 4 && firstStep == 2)
        for (k, v) in final.generator.stateDict() {
            #expect((v.to(.float64) - last.generator.stateDict()[k]!.to(.float64)).abs().max().item() == 0, "\(family) snapshot \(k)")
        }
    }

    /// The set writer makes `count` PNG fakes per generator and as many reals, with a manifest the
    /// Dataset reader accepts.
    @Test func setWriterWritesBalancedManifest() throws {
        let root = try makeRealSet(30)
        defer { try? FileManager.default.removeItem(at: root) }
        var c = SynthConfig(family: .dcgan, data: root.path)
        c.width = 8; c.latent = 16; c.batchSize = 4; c.steps = 1; c.heldOutReal = 4
        let run = root.appendingPathComponent("runs/dcgan").path
        _ = try SynthTrainer(config: c, directory: run).run(reals: try RealImages.load(c))
        var w = SynthSetWriter(output: root.appendingPathComponent("set").path, count: 6, jpegQuality: 75)
        w.batchSize = 4
        let r = try w.write(runs: [("dcgan", run)], reals: root.path)
        #expect(r.fakes == 6 && r.reals == 6)
        let set = try Dataset.load(root.appendingPathComponent("set/manifest.csv").path)
        #expect(set.counts() == ["fake/dcgan": 6, "real/toy": 6])
        let png = try Data(contentsOf: root.appendingPathComponent("set/fake/dcgan/000005.png"))
        #expect(ImageFormat.detect(Array(png.prefix(16))) == .supported(.png))
    }
}

/// SDEdit img2img from a DDPM run: the variant stays close to its real at low strength and drifts as strength grows;
/// the set writer pairs every real with one variant per strength in one split group.
struct Img2ImgTests {
    @Test func strengthControlsDistanceAndPairsShareAGroup() throws {
        let root = try makeRealSet(24)
        defer { try? FileManager.default.removeItem(at: root) }
        var c = SynthConfig(family: .ddpm, data: root.path)
        c.width = 8; c.batchSize = 4; c.steps = 2; c.heldOutReal = 4; c.diffusionSteps = 100
        let run = root.appendingPathComponent("runs/ddpm").path
        _ = try SynthTrainer(config: c, directory: run).run(reals: try RealImages.load(c))
        let (config, model, _) = try SynthTrainer.load(directory: run)
        let sampler = Sampler(model: model, schedule: DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps))
        let x0 = (Generator(seed: 1).rand([2, 3, 32, 32]) * 2 - 1)
        let near = withNoGrad { sampler.img2img(x0, strength: 0.05, seed: 3, ddimSteps: 20) }
        let far = withNoGrad { sampler.img2img(x0, strength: 0.9, seed: 3, ddimSteps: 20) }
        #expect(near.shape == [2, 3, 32, 32])
        let dNear = (near - x0).abs().mean().item(), dFar = (far - x0).abs().mean().item()
        #expect(dNear < dFar, "strength 0.05 moved \(dNear), 0.9 moved \(dFar)")
        // Fully convolutional: a 32 px run edits 64 px images.
        #expect(withNoGrad { sampler.img2img(Tensor.zeros([1, 3, 64, 64]), strength: 0.3, seed: 1, ddimSteps: 10) }.shape == [1, 3, 64, 64])

        var w = Img2ImgSetWriter(output: root.appendingPathComponent("pairs").path, strengths: [0.3, 0.6])
        w.count = 10; w.batchSize = 4; w.ddimSteps = 10
        let r = try w.write(run: run, reals: try Dataset.load(root.path))
        #expect(r.pairs == 10 && r.fakes == 20)
        let set = try Dataset.load(root.appendingPathComponent("pairs/manifest.csv").path)
        #expect(set.counts() == ["real/toy": 10, "fake/ddpm-img2img-s0.30": 10, "fake/ddpm-img2img-s0.60": 10])
        let byGroup = Dictionary(grouping: set.samples) { $0.splitKey }
        #expect(byGroup.count <= 10 && byGroup.values.allSatisfy { g in g.contains { $0.label == .real } && g.count >= 3 })
        // Resumable: a second run keeps the files and writes the same manifest.
        let before = try String(contentsOfFile: root.appendingPathComponent("pairs/manifest.csv").path, encoding: .utf8)
        _ = try w.write(run: run, reals: try Dataset.load(root.path))
        #expect(try String(contentsOfFile: root.appendingPathComponent("pairs/manifest.csv").path, encoding: .utf8) == before)
    }
}

struct FrechetTests {
    /// 1-D check: FD = (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2 for the sample statistics; identical sets give 0.
    @Test func distanceMatchesClosedForm() {
        let a = Tensor([1.0, 2.0, 3.0, 4.0], shape: [4, 1]), b = Tensor([2.0, 4.0, 6.0, 8.0], shape: [4, 1]) + 1
        let va = 5.0 / 3.0, vb = 20.0 / 3.0   // sample variances
        let expected = pow(2.5 - 6.0, 2) + va + vb - 2 * (va * vb).squareRoot()
        #expect(abs(FrechetScorer.distance(a, b) - expected) < 1e-9)
        let x = Generator(seed: 7).randn([200, 5])
        #expect(abs(FrechetScorer.distance(x, x)) < 1e-6)
        #expect(abs(FrechetScorer.distance(x, x + 2) - 20) < 1e-6)   // a shift of 2 in 5 dimensions
    }
}
