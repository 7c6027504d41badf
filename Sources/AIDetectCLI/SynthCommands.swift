import ArgumentParser
import Detection
import Foundation
import Imaging
import Models
import Synthesis
import Torch

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train generators (DCGAN, WGAN-GP, SNGAN, DDPM) on real images and write a labelled set of their fakes.",
        subcommands: [SynthTrain.self, SynthSample.self, SynthScore.self, SynthBuild.self, SynthImg2Img.self])
}

/// Options shared by `synth train` and `synth build`.
struct SynthTrainingOptions: ParsableArguments {
    @Option(help: "Real images: folder, tar, tar.gz or CSV laid out <real|fake>/<generator>/... (reals only are used).") var data: String
    @Option(help: "Only these real generators, comma-separated (e.g. cifar10).") var realGenerators: String?
    @Option(help: "Image side: 32 or 64.") var imageSize = 32
    @Option(help: "Base channel width (default 64 for GANs, 32 for DDPM).") var width: Int?
    @Option var batchSize = 64
    @Option(help: "Generator/denoiser updates.") var steps = 5000
    @Option(name: .customLong("lr"), help: "Learning rate (default per family).") var learningRate: Double?
    @Option(help: "Critic updates per generator update (default 5 for wgan_gp, else 1).") var criticSteps: Int?
    @Option(help: "DDPM beta schedule: linear or cosine.") var schedule = "linear"
    @Option(help: "Use at most this many real images for training.") var maxReal: Int?
    @Option var seed: UInt64 = 0
    @Option var checkpointMinutes = 3.0
    @Option(help: "Save a sample grid every N steps.") var sampleEvery = 500

    func validate() throws {
        guard [32, 64].contains(imageSize) else { throw ValidationError("--image-size must be 32 or 64") }
        guard steps > 0, batchSize > 1 else { throw ValidationError("--steps must be positive and --batch-size at least 2") }
        guard DiffusionSchedule.Kind(rawValue: schedule) != nil else { throw ValidationError("--schedule must be linear or cosine") }
    }
    func config(_ family: GeneratorFamily) -> SynthConfig {
        var c = SynthConfig(family: family, data: data)
        c.realGenerators = realGenerators?.split(separator: ",").map(String.init) ?? []
        c.imageSize = imageSize; c.width = width; c.batchSize = batchSize; c.steps = steps
        c.learningRate = learningRate; c.criticSteps = criticSteps; c.maxReal = maxReal; c.seed = seed
        c.diffusionSchedule = DiffusionSchedule.Kind(rawValue: schedule) ?? .linear
        c.checkpointSeconds = checkpointMinutes * 60; c.sampleEvery = sampleEvery
        return c
    }
}

func parseFamily(_ s: String) throws -> GeneratorFamily {
    guard let f = GeneratorFamily(rawValue: s) else {
        throw ValidationError("unknown generator '\(s)'; known: \(GeneratorFamily.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return f
}

struct SynthTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train one generator family (resumes from DIR/checkpoint.safetensors).",
        discussion: "Writes DIR/checkpoint.safetensors (every --checkpoint-minutes), DIR/train.jsonl and DIR/samples/step-N.png grids.")
    @Option(help: "dcgan, wgan_gp, sngan or ddpm.") var generator: String
    @Option(help: "Output folder.") var output: String
    @OptionGroup var training: SynthTrainingOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws { _ = try parseFamily(generator) }
    func run() throws {
        runtime.apply()
        let config = training.config(try parseFamily(generator))
        let reals = try RealImages.load(config, log: { logLine($0) })
        let t = SynthTrainer(config: config, directory: output)
        t.log = { logLine($0) }
        _ = try t.run(reals: reals)
        print("done: \(output)/checkpoint.safetensors")
    }
}

struct SynthSample: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sample", abstract: "Sample images from a trained generator as PNG files.")
    @Option(name: .customLong("run"), help: "Training folder of `synth train`.") var runDirectory: String
    @Option var count = 64
    @Option(help: "Output folder.") var output: String
    @Option(help: "DDIM steps for DDPM.") var ddimSteps = 50
    @Option var seed: UInt64 = 0
    @Flag(help: "One grid image instead of single files.") var grid = false
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        let (config, model, _) = try SynthTrainer.load(directory: runDirectory)
        let sampler = Sampler(model: model, schedule: DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps))
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let x = withNoGrad { sampler.images(noise: Generator(seed: seed).randn([count, max(config.latent, 1)]), seed: seed, ddimSteps: ddimSteps) }
        if grid {
            try Data(ImageEncoder.png(Sampler.grid(x, columns: Int(Double(count).squareRoot().rounded(.up))))).write(to: URL(fileURLWithPath: output + "/grid.png"))
        } else {
            for (i, im) in Sampler.toImages(x).enumerated() {
                try Data(ImageEncoder.png(im)).write(to: URL(fileURLWithPath: String(format: "%@/%06d.png", output, i)))
            }
        }
        print("wrote \(count) images to \(output)")
    }
}

struct SynthScore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Frechet distance (EfficientNet-Lite0 features) between a generator's samples and held-out reals.")
    @Option(name: .customLong("run"), help: "Training folder of `synth train`.") var runDirectory: String
    @Option var count = 1000
    @Option(help: "EfficientNet-Lite0 ImageNet weights (scripts/fetch_pretrained.sh).") var weights = ".cache/pretrained/efficientnet-lite0.pth"
    @Option var ddimSteps = 50
    @Flag(help: "Score every snapshot saved during training (one per sample grid), not only the final checkpoint.") var snapshots = false
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        let (config, _, _) = try SynthTrainer.load(directory: runDirectory)
        var c = config
        c.heldOutReal = count
        let reals = try RealImages.load(c)
        let scorer = try FrechetScorer(weights: weights)
        let real = scorer.features(RealImages.batch(reals.heldOut, Array(0..<reals.heldOut.size(0))))
        var paths = snapshots ? SynthTrainer.snapshots(directory: runDirectory) : []
        if paths.isEmpty { paths = [runDirectory + "/checkpoint.safetensors"] }
        for path in paths {
            let (config, model, step) = try SynthTrainer.load(checkpoint: path)
            let sampler = Sampler(model: model, schedule: DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps))
            let start = Date()
            var fakes: [Tensor] = []
            for b in stride(from: 0, to: count, by: 250) {
                let n = min(250, count - b)
                let x = withNoGrad { sampler.images(noise: Generator(seed: 777 &+ UInt64(b)).randn([n, max(config.latent, 1)]), seed: 777 &+ UInt64(b), ddimSteps: ddimSteps) }
                fakes.append(scorer.features(x))
            }
            let fd = FrechetScorer.distance(concatenated(fakes, axis: 0), real)
            let line = String(format: "{\"step\": %d, \"frechet_effnet\": %.3f, \"count\": %d, \"ddim_steps\": %d, \"seconds\": %.1f}",
                              step, fd, count, config.family == .ddpm ? ddimSteps : 0, Date().timeIntervalSince(start))
            logLine(line)
            try? appendLine(Data(line.utf8), to: runDirectory + "/scores.jsonl")
        }
    }
}

struct SynthBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "One command for a CIFAKE-like set: train each generator (resumable), then write --count fakes per generator and as many reals.",
        discussion: "Runs go to OUTPUT/runs/<generator>; the set to OUTPUT/set (<real|fake>/<generator>/NNNNNN.png + manifest.csv). Re-running resumes where it stopped.")
    @Option(help: "Generators, comma-separated.") var generators = "dcgan,wgan_gp,sngan,ddpm"
    @Option(help: "Output folder (keep it outside the repository, e.g. ../shared or .cache).") var output: String
    @Option(help: "Images per generator.") var count = 7000
    @Option(help: "JPEG quality each fake passes through once before being saved as PNG, like the JPEG q75 CIFAR reals; 0 = none.") var jpegQuality = 75
    @Option(help: "Steps per generator, e.g. dcgan=4000,ddpm=20000 (default: --steps).") var stepsPer: String?
    @Option var ddimSteps = 50
    @OptionGroup var training: SynthTrainingOptions
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        let families = try generators.split(separator: ",").map { try parseFamily(String($0)) }
        var perSteps: [String: Int] = [:]
        for kv in (stepsPer ?? "").split(separator: ",") {
            let p = kv.split(separator: "=")
            if p.count == 2, let v = Int(p[1]) { perSteps[String(p[0])] = v }
        }
        var reals: RealImages?
        for f in families {
            var c = training.config(f)
            c.steps = perSteps[f.rawValue] ?? c.steps
            let dir = "\(output)/runs/\(f.rawValue)"
            if let (_, _, step) = try? SynthTrainer.load(directory: dir), step >= c.steps { print("\(f.rawValue): trained (\(step) steps)"); continue }
            if reals == nil { reals = try RealImages.load(c, log: { logLine($0) }) }
            let t = SynthTrainer(config: c, directory: dir)
            t.log = { logLine("\(f.rawValue): \($0)") }
            _ = try t.run(reals: reals!)
        }
        reals = nil
        var w = SynthSetWriter(output: "\(output)/set", count: count, jpegQuality: jpegQuality > 0 ? jpegQuality : nil)
        w.ddimSteps = ddimSteps
        w.seed = training.seed
        w.log = { logLine($0) }
        let r = try w.write(runs: families.map { ($0.rawValue, "\(output)/runs/\($0.rawValue)") }, reals: training.data,
                            realGenerators: training.realGenerators?.split(separator: ",").map(String.init) ?? [])
        print("set: \(r.fakes) fakes, \(r.reals) reals in \(output)/set (manifest.csv)")
    }
}

struct SynthImg2Img: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "img2img",
        abstract: "Paired img2img data (SDEdit): each real of --data noised to each --strength and denoised by a DDPM run.",
        discussion: """
            Writes OUTPUT/real/<generator>/NNNNNN.png, OUTPUT/fake/ddpm-img2img-sS.SS/NNNNNN.png and OUTPUT/manifest.csv (a real and \
            its variants share a split group). The DDPM's U-Net is convolutional, so a 32 px run also works on 64 px images. \
            Both sides get one JPEG pass (--jpeg-quality) saved as PNG. Resumable.
            """)
    @Option(name: .customLong("run"), help: "DDPM training folder (synth train / synth build).") var runDirectory: String
    @Option(help: "Real images to pair (folder, tar, tar.gz or CSV; only reals are used).") var data: String
    @Option(help: "Strengths in (0, 1], comma-separated.") var strength = "0.3,0.5,0.7"
    @Option(help: "Image side in pixels (multiple of 4).") var size = 32
    @Option(help: "Reals to pair.") var count = 1000
    @Option(help: "DDIM steps of a full (strength 1) run; a run at strength s takes about s times as many.") var ddimSteps = 50
    @Option(help: "JPEG quality of the last pass on both sides; 0 = none.") var jpegQuality = 90
    @Option var seed: UInt64 = 0
    @Option var output: String
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        let strengths = strength.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !strengths.isEmpty, strengths.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw ValidationError("--strength needs values in (0, 1], e.g. 0.3,0.5,0.7")
        }
        guard size > 0, size % 4 == 0 else { throw ValidationError("--size must be a positive multiple of 4") }
        var w = Img2ImgSetWriter(output: output, strengths: strengths)
        w.size = size; w.count = count; w.ddimSteps = ddimSteps; w.jpegQuality = jpegQuality > 0 ? jpegQuality : nil; w.seed = seed
        w.log = { logLine($0) }
        let r = try w.write(run: runDirectory, reals: try Dataset.load(data, nearDuplicates: false))
        print("\(r.pairs) reals, \(r.fakes) img2img fakes in \(output) (manifest.csv), \(Int(r.seconds)) s")
    }
}
