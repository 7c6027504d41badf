import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// Everything a generator training run depends on; stored in every checkpoint.
public struct SynthConfig: Sendable, Codable, Equatable {
    public var family: GeneratorFamily
    /// Real images: folder, tar, tar.gz or CSV laid out <real|fake>/<generator>/... (only reals are used).
    public var data: String
    /// Only these real generators (e.g. ["cifar10"]); all reals when empty.
    public var realGenerators: [String] = []
    public var imageSize = 32
    /// Base width (DCGAN ngf/ndf, U-Net channels); nil = the family's default (64 GAN, 32 DDPM).
    public var width: Int?
    public var latent = 128
    public var batchSize = 64
    /// Generator (or denoiser) updates.
    public var steps = 5000
    public var learningRate: Double?
    /// Discriminator/critic updates per generator update (WGAN-GP default 5, others 1).
    public var criticSteps: Int?
    public var gradientPenalty = 10.0
    public var diffusionSchedule = DiffusionSchedule.Kind.linear
    public var diffusionSteps = 1000
    /// Exponential moving average of the denoiser's weights (used for sampling).
    public var emaDecay = 0.999
    public var seed: UInt64 = 0
    /// Use at most this many real images for training (after the held-out ones).
    public var maxReal: Int?
    /// Reals kept out of training for the Frechet score.
    public var heldOutReal = 1000
    public var checkpointSeconds = 180.0
    /// Save an 8x8 sample grid every this many steps.
    public var sampleEvery = 500

    public init(family: GeneratorFamily, data: String) {
        self.family = family
        self.data = data
    }
    /// The fields a resumed run must share with its checkpoint (steps, checkpoint and sample intervals may change,
    /// so a finished run can be trained further).
    var resumable: SynthConfig {
        var c = self
        c.steps = 0; c.checkpointSeconds = 0; c.sampleEvery = 0
        return c
    }
    public var resolvedLearningRate: Double { learningRate ?? (family == .ddpm ? 2e-4 : family == .wgan_gp ? 1e-4 : 2e-4) }
    public var resolvedCriticSteps: Int { criticSteps ?? (family == .wgan_gp ? 5 : 1) }
    /// Adam betas: (0.5, 0.999) for DCGAN/SNGAN, (0.5, 0.9) for WGAN-GP, (0.9, 0.999) for DDPM.
    var betas: (Double, Double) { family == .ddpm ? (0.9, 0.999) : family == .wgan_gp ? (0.5, 0.9) : (0.5, 0.999) }
}

/// One line of a generator's training log (JSON Lines).
public struct SynthRecord: Sendable, Codable {
    public var step: Int
    public var discriminatorLoss: Double?
    public var generatorLoss: Double
    public var imagesPerSecond: Double
    public var seconds: Double
}

/// Real images held in memory as one uint8 tensor [N, 3, S, S] (50k CIFAR images: 150 MB), split into
/// training and held-out parts by a seeded hash of the sample id.
public struct RealImages {
    public let train: Tensor
    public let heldOut: Tensor
    public let trainIds: [String]
    public let heldOutIds: [String]

    public static func load(_ config: SynthConfig, log: (String) -> Void = { _ in }) throws -> RealImages {
        var set = try Dataset.load(config.data).filtered { $0.label == .real }
        if !config.realGenerators.isEmpty { set = set.only(generators: Set(config.realGenerators)) }
        guard !set.samples.isEmpty else { throw DatasetError.badLayout(path: config.data, reason: "no real images (real/<generator>/...)") }
        let ordered = set.samples.map { ($0, stableHash($0.id, config.seed)) }.sorted { $0.1 < $1.1 }.map(\.0)
        let held = Array(ordered.prefix(min(config.heldOutReal, ordered.count / 5)))
        var rest = Array(ordered.dropFirst(held.count))
        if let m = config.maxReal { rest = Array(rest.prefix(m)) }
        log("decoding \(rest.count) training and \(held.count) held-out real images at \(config.imageSize) px")
        let (t, ti) = try decode(rest, size: config.imageSize)
        let (h, hi) = try decode(held, size: config.imageSize)
        return RealImages(train: t, heldOut: h, trainIds: ti, heldOutIds: hi)
    }

    /// Decodes, resizes (shorter side, area filter) and centre-crops to `size`; undecodable files are skipped.
    static func decode(_ samples: [Sample], size: Int) throws -> (Tensor, [String]) {
        let reader = SampleReader()
        var bytes = [UInt8](), ids: [String] = []
        bytes.reserveCapacity(samples.count * size * size * 3)
        for s in samples {
            guard let read = try? reader.image(s) else { continue }
            let im = fitted(read, size: size)
            bytes += im.pixels
            ids.append(s.id)
        }
        guard !ids.isEmpty else { throw DatasetError.badLayout(path: samples.first?.id ?? "?", reason: "no decodable real image") }
        let t = bytes.withUnsafeBytes { Tensor(bytes: $0, shape: [ids.count, size, size, 3], dtype: .uint8) }
        return (t.permuted([0, 3, 1, 2]).contiguous(), ids)
    }

    /// `im` as a `size` x `size` square: the shorter side resized (area filter), the centre cropped.
    static func fitted(_ im: Image, size: Int) -> Image {
        im.width == size && im.height == size ? im : im.resized(shorterSide: size, filter: .area).centerCropped(width: size, height: size)
    }

    /// Rows as float images in [-1, 1].
    public static func batch(_ images: Tensor, _ rows: [Int]) -> Tensor {
        images.indexSelect(axis: 0, Tensor(rows.map { Int64($0) })).to(.float32) / 127.5 - 1
    }
}

/// Trains one generator family on real images: seeded, resumable (the run continues from its last
/// checkpoint to the same weights), with a JSONL log and sample grids.
public final class SynthTrainer {
    public let config: SynthConfig
    public let directory: String
    public var log: (String) -> Void = { _ in }
    /// Stop after this many steps in this process (tests simulate an interruption with it).
    public var stopAfterSteps: Int?

    public var checkpointPath: String { directory + "/checkpoint.safetensors" }
    public var logPath: String { directory + "/train.jsonl" }

    public init(config: SynthConfig, directory: String) {
        self.config = config
        self.directory = directory
    }

    struct State: Codable { var step = 0; var seconds = 0.0 }
    static let encoder: JSONEncoder = { let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]; return e }()

    /// Runs (or resumes) training with the real images `reals`; returns the trained networks.
    public func run(reals: RealImages, resume: Bool = true) throws -> GenerativeModel {
        try FileManager.default.createDirectory(atPath: directory + "/samples", withIntermediateDirectories: true)
        let model = Generator(seed: config.seed).withInitialization {
            GenerativeModel.make(config.family, imageSize: config.imageSize, width: config.width, latent: config.latent)
        }
        let g = model.generator, d = model.discriminator
        let (b1, b2) = config.betas
        let gOpt = Adam(parameters: g.parameters(), learningRate: config.resolvedLearningRate, beta1: b1, beta2: b2)
        let dOpt = d.map { Adam(parameters: $0.parameters(), learningRate: config.resolvedLearningRate, beta1: b1, beta2: b2) }
        let schedule = DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps)
        let ema: [String: Tensor]? = config.family == .ddpm ? g.stateDict().mapValues { $0.detached().cloned() } : nil
        var state = State()

        if resume, FileManager.default.fileExists(atPath: checkpointPath) {
            let (t, meta) = try Safetensors.load(path: checkpointPath)
            if let c = meta["synth.config"], let saved = try? JSONDecoder().decode(SynthConfig.self, from: Data(c.utf8)),
               saved.resumable != config.resumable {
                throw CheckpointError.malformed(path: checkpointPath, reason: "written by a different configuration; use another output folder")
            }
            func part(_ p: String) -> [String: Tensor] {
                t.reduce(into: [:]) { if $1.key.hasPrefix(p) { $0[String($1.key.dropFirst(p.count))] = $1.value } }
            }
            try g.loadStateDict(part("g."))
            try d?.loadStateDict(part("d."))
            try gOpt.loadStateDict(part("gopt."))
            try dOpt?.loadStateDict(part("dopt."))
            if let ema { for (k, v) in part("ema.") { ema[k]?.copy_(v) } }
            if let s = meta["synth.state"] { state = try JSONDecoder().decode(State.self, from: Data(s.utf8)) }
            log("resumed at step \(state.step)")
        }
        func save() throws {
            var t: [String: Tensor] = [:]
            for (k, v) in g.stateDict() { t["g." + k] = v }
            for (k, v) in d?.stateDict() ?? [:] { t["d." + k] = v }
            for (k, v) in gOpt.stateDict() { t["gopt." + k] = v }
            for (k, v) in dOpt?.stateDict() ?? [:] { t["dopt." + k] = v }
            for (k, v) in ema ?? [:] { t["ema." + k] = v }
            let meta = ["synth.config": String(decoding: try Self.encoder.encode(config), as: UTF8.self),
                        "synth.state": String(decoding: try Self.encoder.encode(state), as: UTF8.self)]
            try Safetensors.save(t, metadata: meta, path: checkpointPath)   // atomic: the old checkpoint or the new one, never none
        }

        let n = reals.train.size(0), bs = config.batchSize
        let fixedNoise = Generator(seed: 12345).randn([64, config.latent])
        var lastCheckpoint = Date(), windowStart = Date(), windowImages = 0, stepsThisRun = 0
        var dSum = 0.0, gSum = 0.0, window = 0
        g.train(); d?.train()
        while state.step < config.steps {
            if let s = stopAfterSteps, stepsThisRun >= s { break }
            let stepStart = Date()
            // Every random draw of a step comes from its own seeded generator: a resumed run repeats it exactly,
            // whatever else uses LibTorch's global generator.
            let random = Generator(seed: config.seed &* 1_000_003 &+ UInt64(state.step))
            var rng = SplitMix64(seed: config.seed &+ UInt64(state.step) &* 0x9E37_79B9)
            func rows() -> [Int] { (0..<bs).map { _ in Int(rng.next() % UInt64(n)) } }
            var dLoss: Double?
            let gLoss: Double
            switch config.family {
            case .ddpm:
                let x0 = RealImages.batch(reals.train, rows())
                let t = (0..<bs).map { _ in Int(rng.next() % UInt64(schedule.steps)) }
                let noise = random.randn(x0.shape)
                let loss = mseLoss((g as! DiffusionUNet).predict(schedule.noised(x0, noise: noise, t: t), t: t), noise)
                gOpt.zeroGrad()
                loss.backward()
                gOpt.step()
                gLoss = loss.item()
                if let ema {
                    // Warm-up (as in common DDPM code): early on the average follows the weights closely, otherwise
                    // a short run's average is still mostly the random initialisation (0.999^800 = 0.45).
                    let decay = min(config.emaDecay, Double(1 + state.step) / Double(10 + state.step))
                    withNoGrad {
                        for (k, v) in g.stateDict() { if let e = ema[k] { e.copy_(e * decay + v * (1 - decay)) } }
                    }
                }
                windowImages += bs
            case .dcgan, .wgan_gp, .sngan:
                let d = d!, dOpt = dOpt!
                var dl = 0.0
                for _ in 0..<config.resolvedCriticSteps {
                    let real = RealImages.batch(reals.train, rows())
                    let fake = withNoGrad { g(random.randn([bs, config.latent])) }
                    dOpt.zeroGrad()
                    let loss: Tensor
                    switch config.family {
                    case .dcgan:
                        let lr = d(real), lf = d(fake)
                        loss = binaryCrossEntropyWithLogits(lr, targets: lr.onesLike()) + binaryCrossEntropyWithLogits(lf, targets: lf.zerosLike())
                    case .sngan:
                        loss = (1 - d(real)).relu().mean() + (1 + d(fake)).relu().mean()
                    default:
                        let eps = random.rand([bs, 1, 1, 1])
                        let mixed = (real * eps + fake * (1 - eps)).detached().requiringGrad()
                        let grad = gradients(of: [d(mixed).sum()], withRespectTo: [mixed], createGraph: true)[0]
                        let penalty = (grad.reshaped([bs, -1]).norm(axes: [1]) - 1).square().mean()
                        loss = d(fake).mean() - d(real).mean() + penalty * config.gradientPenalty
                    }
                    loss.backward()
                    dOpt.step()
                    dl += loss.item()
                    windowImages += 2 * bs
                }
                dLoss = dl / Double(config.resolvedCriticSteps)
                gOpt.zeroGrad()
                let out = d(g(random.randn([bs, config.latent])))
                let loss = config.family == .dcgan ? binaryCrossEntropyWithLogits(out, targets: out.onesLike()) : -out.mean()
                loss.backward()
                gOpt.step()
                gLoss = loss.item()
                windowImages += bs
            }
            guard gLoss.isFinite, dLoss?.isFinite ?? true else {
                throw SynthError.diverged(step: state.step, detail: "loss is not finite (D \(dLoss ?? .nan), G \(gLoss))")
            }
            state.step += 1
            stepsThisRun += 1
            state.seconds += Date().timeIntervalSince(stepStart)
            dSum += dLoss ?? 0; gSum += gLoss; window += 1
            if state.step % 50 == 0 || state.step == config.steps {
                let elapsed = Date().timeIntervalSince(windowStart)
                let r = SynthRecord(step: state.step, discriminatorLoss: d == nil ? nil : dSum / Double(window),
                                    generatorLoss: gSum / Double(window), imagesPerSecond: Double(windowImages) / max(elapsed, 1e-9),
                                    seconds: state.seconds)
                appendLog(r)
                log(String(format: "step %d/%d  %@G %.4f  %.0f img/s  %.0f s", state.step, config.steps,
                           r.discriminatorLoss.map { String(format: "D %.4f  ", $0) } ?? "", r.generatorLoss, r.imagesPerSecond, state.seconds))
                windowStart = Date(); windowImages = 0; dSum = 0; gSum = 0; window = 0
            }
            if state.step % config.sampleEvery == 0 || state.step == config.steps {
                let sampler = Sampler(model: model, ema: ema, schedule: schedule)
                let grid = withNoGrad { sampler.images(noise: fixedNoise, seed: 12345, ddimSteps: 20) }
                try Data(ImageEncoder.png(Sampler.grid(grid, columns: 8))).write(to: URL(fileURLWithPath: String(format: "%@/samples/step-%06d.png", directory, state.step)))
                try saveSnapshot(generator: ema ?? g.stateDict(), step: state.step)
                g.train()
            }
            if Date().timeIntervalSince(lastCheckpoint) >= config.checkpointSeconds || state.step == config.steps {
                try save()
                lastCheckpoint = Date()
            }
        }
        if stopAfterSteps != nil { try save() }
        g.eval(); d?.eval()
        if let ema { try g.loadStateDict(ema) }
        return model
    }

    /// The sampling weights at `step` (generator, or the EMA for DDPM), so quality can be scored per checkpoint.
    func saveSnapshot(generator weights: [String: Tensor], step: Int) throws {
        try FileManager.default.createDirectory(atPath: directory + "/snapshots", withIntermediateDirectories: true)
        let meta = ["synth.config": String(decoding: try Self.encoder.encode(config), as: UTF8.self),
                    "synth.state": String(decoding: try Self.encoder.encode(State(step: step)), as: UTF8.self)]
        let path = String(format: "%@/snapshots/step-%06d.safetensors", directory, step)
        try Safetensors.save(weights.mapValues { $0.detached() }, metadata: meta, path: path)   // atomic
    }

    /// Snapshot files of a run, oldest first.
    public static func snapshots(directory: String) -> [String] {
        let dir = directory + "/snapshots"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".safetensors") }.sorted().map { dir + "/" + $0 }
    }

    func appendLog(_ r: SynthRecord) {
        guard let line = try? Self.encoder.encode(r) else { return }
        try? appendLine(line, to: logPath)
    }

    /// The trained generator of a finished (or interrupted) run: for DDPM the EMA weights.
    public static func load(directory: String) throws -> (SynthConfig, GenerativeModel, step: Int) {
        try load(checkpoint: directory + "/checkpoint.safetensors")
    }

    /// A run's checkpoint or one of its snapshots (which hold only the sampling weights, without prefix).
    public static func load(checkpoint path: String) throws -> (SynthConfig, GenerativeModel, step: Int) {
        let (t, meta) = try Safetensors.load(path: path)
        guard let c = meta["synth.config"], let config = try? JSONDecoder().decode(SynthConfig.self, from: Data(c.utf8)) else {
            throw CheckpointError.malformed(path: path, reason: "not an aidetect synth checkpoint")
        }
        let model = GenerativeModel.make(config.family, imageSize: config.imageSize, width: config.width, latent: config.latent)
        let snapshot = !t.keys.contains { $0.hasPrefix("g.") }
        let prefix = snapshot ? "" : config.family == .ddpm ? "ema." : "g."
        try model.generator.loadStateDict(t.reduce(into: [:]) { if $1.key.hasPrefix(prefix) { $0[String($1.key.dropFirst(prefix.count))] = $1.value } })
        model.generator.eval()
        let state = meta["synth.state"].flatMap { try? JSONDecoder().decode(State.self, from: Data($0.utf8)) }
        return (config, model, state?.step ?? 0)
    }
}

public enum SynthError: Error, LocalizedError {
    case diverged(step: Int, detail: String)
    public var errorDescription: String? {
        switch self {
        case .diverged(let s, let d): return "training diverged at step \(s): \(d)"
        }
    }
}

/// Draws images from a trained generator: GANs from latent noise, DDPM by DDIM sampling from Gaussian noise.
public struct Sampler {
    public let model: GenerativeModel
    let ema: [String: Tensor]?
    public let schedule: DiffusionSchedule

    public init(model: GenerativeModel, schedule: DiffusionSchedule) {
        self.model = model
        self.ema = nil
        self.schedule = schedule
    }
    init(model: GenerativeModel, ema: [String: Tensor]?, schedule: DiffusionSchedule) {
        self.model = model
        self.ema = ema
        self.schedule = schedule
    }

    /// Images in [-1, 1], [N, 3, S, S]. GANs use `noise` [N, latent]; DDPM uses N from it and `seed`.
    public func images(noise: Tensor, seed: UInt64, ddimSteps: Int = 50) -> Tensor {
        let g = model.generator
        g.eval()
        if model.family != .ddpm { return g(noise) }
        let unet = g as! DiffusionUNet
        var saved: [String: Tensor]?
        if let ema {
            saved = g.stateDict().mapValues { $0.detached().cloned() }
            _ = try? g.loadStateDict(ema)
        }
        defer { if let saved { _ = try? g.loadStateDict(saved) } }
        let n = noise.size(0), s = model.imageSize
        var x = Generator(seed: seed).randn([n, 3, s, s])
        let ts = schedule.samplingTimesteps(ddimSteps)
        for (i, t) in ts.enumerated() {
            let eps = unet.predict(x, t: Array(repeating: t, count: n))
            x = schedule.ddimStep(x, eps: eps, t: t, previous: i + 1 < ts.count ? ts[i + 1] : -1)
        }
        return x.clamped(min: -1, max: 1)
    }

    /// [N, 3, S, S] in [-1, 1] -> RGB images.
    public static func toImages(_ x: Tensor) -> [Image] {
        let u8 = ((x.clamped(min: -1, max: 1) + 1) * 127.5).rounded().to(.uint8).permuted([0, 2, 3, 1]).contiguous()
        let n = u8.size(0), h = u8.size(1), w = u8.size(2)
        let all = u8.toArray(UInt8.self)
        return (0..<n).map { i in Image(width: w, height: h, pixels: Array(all[(i * h * w * 3)..<((i + 1) * h * w * 3)])) }
    }

    /// Tiles [N, 3, S, S] images into one grid image with a 2 px gap.
    public static func grid(_ x: Tensor, columns: Int) -> Image {
        let ims = toImages(x)
        guard let first = ims.first else { return Image(width: 1, height: 1, pixels: [0, 0, 0]) }
        let s = first.width, gap = 2, rows = (ims.count + columns - 1) / columns
        let w = columns * (s + gap) + gap, h = rows * (s + gap) + gap
        var px = [UInt8](repeating: 255, count: w * h * 3)
        for (i, im) in ims.enumerated() {
            let ox = gap + (i % columns) * (s + gap), oy = gap + (i / columns) * (s + gap)
            for y in 0..<im.height {
                let src = y * im.width * 3, dst = ((oy + y) * w + ox) * 3
                px.replaceSubrange(dst..<(dst + im.width * 3), with: im.pixels[src..<(src + im.width * 3)])
            }
        }
        return Image(width: w, height: h, pixels: px)
    }
}
