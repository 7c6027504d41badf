import Detection
import Foundation
import Imaging
import Models
import Torch

/// Writes a CIFAKE-like labelled set: `count` samples of each trained generator under `fake/<name>/` and as
/// many reals under `real/<generator>/`, all as PNG, plus `manifest.csv` (path,label,generator,source,licence).
/// With `jpegQuality`, every fake goes through one JPEG encode at that quality before the PNG, as the CIFAR
/// reals did once (they are JPEG q75 files), so that compression is not the difference between the classes.
/// Resumable: files already written are kept.
public struct SynthSetWriter {
    public var output: String
    public var count: Int
    public var jpegQuality: Int?
    public var batchSize = 250
    public var ddimSteps = 50
    public var seed: UInt64 = 0
    public var log: (String) -> Void = { _ in }

    public init(output: String, count: Int, jpegQuality: Int?) {
        self.output = output
        self.count = count
        self.jpegQuality = jpegQuality
    }

    struct Row { let path, label, generator, source: String }

    /// `runs`: generator name -> training folder (with checkpoint.safetensors). `reals`: the real data set.
    public func write(runs: [(name: String, directory: String)], reals: String, realGenerators: [String] = []) throws -> (fakes: Int, reals: Int, seconds: [String: Double]) {
        let fm = FileManager.default
        var rows: [Row] = []
        var seconds: [String: Double] = [:]
        for (name, dir) in runs {
            let (config, model, step) = try SynthTrainer.load(directory: dir)
            let sampler = Sampler(model: model, schedule: DiffusionSchedule(config.diffusionSchedule, steps: config.diffusionSteps))
            let folder = "\(output)/fake/\(name)"
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let start = Date()
            var made = 0
            for b in stride(from: 0, to: count, by: batchSize) {
                let n = min(batchSize, count - b)
                let paths = (b..<(b + n)).map { String(format: "%@/%06d.png", folder, $0) }
                if paths.allSatisfy({ fm.fileExists(atPath: $0) }) { continue }
                let batchSeed = seed &* 7919 &+ UInt64(b) &+ stableHash(name, 0)
                let noise = Generator(seed: batchSeed).randn([n, max(config.latent, 1)])
                let images = withNoGrad { Sampler.toImages(sampler.images(noise: noise, seed: batchSeed, ddimSteps: ddimSteps)) }
                for (im, p) in zip(images, paths) {
                    var out = im
                    if let q = jpegQuality { out = try ImageDecoder().decode(data: ImageEncoder.jpeg(im, quality: q)).image }
                    try Data(ImageEncoder.png(out)).write(to: URL(fileURLWithPath: p))
                }
                made += n
                log("\(name): \(b + n)/\(count)")
            }
            if made > 0 { seconds[name] = Date().timeIntervalSince(start) / Double(made) * Double(count) }
            let source = "aidetect synth \(config.family.rawValue) (\(step) steps, trained on \((config.data as NSString).lastPathComponent))"
            rows += (0..<count).map { Row(path: String(format: "fake/%@/%06d.png", name, $0), label: "fake", generator: name, source: source) }
        }
        // As many reals as fakes, decoded and re-saved as PNG.
        var set = try Dataset.load(reals).filtered { $0.label == .real }
        if !realGenerators.isEmpty { set = set.only(generators: Set(realGenerators)) }
        let wanted = rows.count
        let ordered = set.samples.map { ($0, stableHash($0.id, seed &+ 99)) }.sorted { $0.1 < $1.1 }.map(\.0)
        let reader = SampleReader()
        var written = 0
        for s in ordered where written < wanted {
            let path = "real/\(s.generator)/" + String(format: "%06d.png", written)
            let full = "\(output)/\(path)"
            if !fm.fileExists(atPath: full) {
                guard let im = try? reader.image(s) else { continue }
                try fm.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(ImageEncoder.png(im)).write(to: URL(fileURLWithPath: full))
            }
            rows.append(Row(path: path, label: "real", generator: s.generator, source: s.id))
            written += 1
        }
        var csv = "path,label,generator,source\n"
        for r in rows { csv += "\(r.path),\(r.label),\(r.generator),\"\(r.source.replacingOccurrences(of: "\"", with: "\"\""))\"\n" }
        try csv.write(toFile: "\(output)/manifest.csv", atomically: true, encoding: .utf8)
        return (rows.count - written, written, seconds)
    }
}
