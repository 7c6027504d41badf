import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import Torch

extension Sampler {
    /// SDEdit image-to-image (Meng et al. 2022, "SDEdit: Guided Image Synthesis and Editing with Stochastic
    /// Differential Equations"): each real image is noised to the timestep `strength` of the way through the
    /// schedule, then denoised by DDIM in about `strength * ddimSteps` steps (at least one). Near 0 the result is
    /// close to the image, at 1 a new draw; in between it keeps the image's layout and colours and takes its texture
    /// from the model.
    ///
    /// - Parameters: x0 real images in [-1, 1], [N, 3, H, W] (H, W multiples of 4: the U-Net is convolutional and
    ///   works at any such size); `seed` seeds the noise.
    /// - Returns: [N, 3, H, W] in [-1, 1].
    public func img2img(_ x0: Tensor, strength: Double, seed: UInt64, ddimSteps: Int = 50) -> Tensor {
        precondition(model.family == .ddpm, "img2img needs a DDPM run, not \(model.family.rawValue)")
        precondition(strength > 0 && strength <= 1, "img2img: strength must be in (0, 1], got \(strength)")
        let unet = model.generator as! DiffusionUNet
        unet.eval()
        let n = x0.size(0)
        let start = Int((strength * Double(schedule.steps - 1)).rounded())
        let k = max(1, Int((strength * Double(ddimSteps)).rounded()))
        // k timesteps from `start` down to 0, evenly spaced (one step: from `start` straight to the clean image).
        var ts = k == 1 ? [start] : (0..<k).map { i in Int((Double(start) * Double(k - 1 - i) / Double(k - 1)).rounded()) }
        ts = ts.enumerated().filter { $0.offset == 0 || $0.element != ts[$0.offset - 1] }.map(\.element)
        var x = schedule.noised(x0, noise: Generator(seed: seed).randn(x0.shape), t: Array(repeating: start, count: n))
        for (i, t) in ts.enumerated() {
            let eps = unet.predict(x, t: Array(repeating: t, count: n))
            x = schedule.ddimStep(x, eps: eps, t: t, previous: i + 1 < ts.count ? ts[i + 1] : -1)
        }
        return x.clamped(min: -1, max: 1)
    }
}

/// Writes paired img2img data (study 004): real images and, for each, its SDEdit variant at every strength, from a
/// DDPM run of `aidetect synth`.
///
/// Layout under `output`: `real/<generator>/NNNNNN.png` (the real at `size` px), `fake/ddpm-img2img-sS.SS/NNNNNN.png`,
/// and `manifest.csv` (path, label, generator, group, strength, source). A real and all its variants share the split
/// group `pair-NNNNNN`, so no pair straddles a split; sources that are near-duplicates of an earlier one are
/// skipped, so two pairs never share a picture. Both sides get the same last step, one JPEG pass at `jpegQuality`
/// saved as PNG, so the file format does not tell them apart. JPEG history can: a source that is itself a JPEG at
/// the output size (Tiny-ImageNet at 64 px) keeps its own 8x8 blocking on the real side, which the model's output
/// loses as the strength grows; resampled sources (64 to 32 px) do not carry it. Resumable: existing files are kept.
public struct Img2ImgSetWriter {
    public var output: String
    public var strengths: [Double]
    public var size = 32
    /// Real images to pair (each gives one real and one fake per strength).
    public var count = 1000
    public var ddimSteps = 50
    public var jpegQuality: Int? = 90
    public var batchSize = 64
    public var seed: UInt64 = 0
    public var log: (String) -> Void = { _ in }

    public init(output: String, strengths: [Double]) {
        self.output = output
        self.strengths = strengths
    }

    public struct Summary: Sendable, Codable {
        public var pairs: Int, fakes: Int, seconds: Double
    }

    public static func generatorName(strength: Double) -> String { String(format: "ddpm-img2img-s%.2f", strength) }

    /// `run`: a DDPM training folder; `reals`: a data set whose reals are paired (the first `count` in a seeded order).
    public func write(run: String, reals: Dataset) throws -> Summary {
        precondition(size % 4 == 0, "img2img: size must be a multiple of 4")
        let (config, model, _) = try SynthTrainer.load(directory: run)
        guard config.family == .ddpm else {
            throw DatasetError.badLayout(path: run, reason: "img2img needs a DDPM run (this one is \(config.family.rawValue))")
        }
        let sampler = Sampler(model: model, schedule: DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps))
        // A seeded order; then one source per near-duplicate group (a picture in the set twice would give two pairs).
        let ordered = reals.samples.filter { $0.label == .real }.map { ($0, stableHash($0.id, seed &+ 99)) }.sorted { $0.1 < $1.1 }.map(\.0)
        let candidates = Array(ordered.prefix(count + count / 10 + 10))
        let grouped = try Dataset(samples: candidates).annotatedGroups(nearDuplicates: true).samples
        var seenGroups = Set<String>()
        let sources = Array(grouped.filter { $0.group == nil || seenGroups.insert($0.group!).inserted }.prefix(count))
        guard !sources.isEmpty else { throw DatasetError.badLayout(path: output, reason: "no real images to pair") }
        let fm = FileManager.default
        let start = Date()
        var rows: [String] = []
        var fakes = 0
        let realGenerator = sources[0].generator.replacingOccurrences(of: "/", with: "-")
        try fm.createDirectory(atPath: "\(output)/real/\(realGenerator)", withIntermediateDirectories: true)
        for s in strengths { try fm.createDirectory(atPath: "\(output)/fake/\(Self.generatorName(strength: s))", withIntermediateDirectories: true) }
        let reader = SampleReader()
        func finish(_ im: Image) throws -> Image {
            guard let q = jpegQuality else { return im }
            return try ImageDecoder().decode(data: ImageEncoder.jpeg(im, quality: q)).image
        }
        var index = 0
        for b in stride(from: 0, to: sources.count, by: batchSize) {
            var batch: [(Int, Image, Sample)] = []
            for s in sources[b..<min(b + batchSize, sources.count)] {
                guard let im = try? reader.image(s) else { log("img2img: skipped unreadable \(s.id)"); continue }
                batch.append((index, RealImages.fitted(im, size: size), s))
                index += 1
            }
            guard !batch.isEmpty else { continue }
            for (i, im, s) in batch {
                let name = String(format: "%06d.png", i)
                let path = "real/\(realGenerator)/\(name)"
                if !fm.fileExists(atPath: "\(output)/\(path)") { try Data(ImageEncoder.png(try finish(im))).write(to: URL(fileURLWithPath: "\(output)/\(path)")) }
                rows.append("\(path),real,\(realGenerator),pair-\(String(format: "%06d", i)),,\(Dataset.csvField(s.id))")
            }
            // [N, 3, H, W] in [-1, 1]: (x / 255 - 0.5) / 0.5
            let x0 = batchTensor(batch.map(\.1), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
            for s in strengths {
                let gen = Self.generatorName(strength: s)
                let paths = batch.map { "fake/\(gen)/" + String(format: "%06d.png", $0.0) }
                if !paths.allSatisfy({ fm.fileExists(atPath: "\(output)/\($0)") }) {
                    let batchSeed = seed &* 7919 &+ UInt64(b) &+ stableHash(gen, 0)
                    let images = withNoGrad { Sampler.toImages(sampler.img2img(x0, strength: s, seed: batchSeed, ddimSteps: ddimSteps)) }
                    for (im, p) in zip(images, paths) { try Data(ImageEncoder.png(try finish(im))).write(to: URL(fileURLWithPath: "\(output)/\(p)")) }
                }
                for (p, item) in zip(paths, batch) {
                    rows.append("\(p),fake,\(gen),pair-\(String(format: "%06d", item.0)),\(String(format: "%.2f", s)),\(Dataset.csvField(item.2.id))")
                }
                fakes += batch.count
            }
            log("img2img: \(index)/\(sources.count) reals paired")
        }
        try ("path,label,generator,group,strength,source\n" + rows.joined(separator: "\n") + "\n")
            .write(toFile: "\(output)/manifest.csv", atomically: true, encoding: .utf8)
        return Summary(pairs: index, fakes: fakes, seconds: Date().timeIntervalSince(start))
    }
}
