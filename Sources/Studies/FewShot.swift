import Detection
import Foundation
import Models
import Torch

/// Few-shot adaptation (study 003, fig 4.2): start from the leave-one-out detector of a held-out generator,
/// fine-tune with k of its images (k = 0, 5, 10, 50, 100, 500, 1000) added to the other generators' training
/// data, and measure accuracy on the held-out generator's test cell. Repeated over seeds (each seed draws
/// other k images), with the standard deviation as error bars.
///
/// The k images come from the held-out generator's training split of the cross-generator study, so its test
/// images are never seen, and all k are pinned to the training split: k is the number of training images added.
/// Every other image keeps its part of the study's split (`standardSplit(seed: 0)`), whatever the run's seed.
public struct FewShotStudy {
    public struct Config: Sendable, Codable, Equatable {
        public var crossgen: CrossGeneratorStudy.Config
        public var heldOut: [String]
        public var shots: [Int] = [0, 5, 10, 50, 100, 500, 1000]
        public var epochs = 3
        public var learningRate = 3e-4
        public init(crossgen: CrossGeneratorStudy.Config, heldOut: [String]) {
            self.crossgen = crossgen
            self.heldOut = heldOut
        }
    }
    public struct Point: Sendable, Codable {
        public var shots: Int
        public var accuracy: CrossGeneratorStudy.Cell
    }
    public struct Report: Sendable, Codable {
        public var config: Config
        public var curves: [String: [Point]]
        public var seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    public func run() throws -> Report {
        let start = Date()
        var cg = CrossGeneratorStudy(config: config.crossgen, directory: directory)
        cg.log = log
        let (all, pools, gens) = try cg.dataset()
        for h in config.heldOut where !gens.contains(h) {
            throw DatasetError.badLayout(path: config.crossgen.data.joined(separator: ","), reason: "held-out generator '\(h)' not among \(gens)")
        }
        let (trainSplit, _, test) = all.standardSplit(seed: 0)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var curves: [String: [Point]] = [:]
        for h in config.heldOut {
            let keep = Set(gens).subtracting([h])
            let keptPools = Set(keep.compactMap { pools[$0] }).union([pools[h] ?? ""])
            let others = all.filtered { s in
                s.generator != h && (s.label == .real ? keptPools.contains(pools[s.generator] ?? "") : keep.contains(s.generator))
            }
            let candidates = trainSplit.samples.filter { $0.generator == h }
            var values: [Int: [Double]] = [:]
            for seed in config.crossgen.seeds {
                // The starting point: trained without h (the cross-generator study's run, shared if it exists).
                let base = "\(directory)/runs/seed-\(seed)/without-\(h)"
                if !FileManager.default.fileExists(atPath: base + "/best.safetensors") {
                    let manifest = "\(directory)/fewshot-\(h)-base.csv"
                    try cg.writeManifest(others, to: manifest, pinned: all)
                    var c = trainConfig(manifest, seed: seed)
                    c.epochs = config.crossgen.epochs
                    c.learningRate = config.crossgen.learningRate
                    log("seed \(seed): training without \(h)")
                    try Trainer(config: c, outputDirectory: base).run(resume: FileManager.default.fileExists(atPath: base + "/checkpoint.safetensors"))
                }
                for k in config.shots {
                    let dir = "\(directory)/fewshot/\(h)/seed-\(seed)/k-\(k)"
                    let cache = dir + "/accuracy.json"
                    if let d = FileManager.default.contents(atPath: cache), let a = try? studyDecode(Double.self, from: d) {
                        values[k, default: []].append(a); continue
                    }
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    var model = base + "/best.safetensors"
                    if k > 0 {
                        let ordered = candidates.map { ($0, stableHash($0.id, seed &+ 4242)) }.sorted { $0.1 < $1.1 }.map(\.0)
                        let shots = Array(ordered.prefix(k))
                        let manifest = dir + "/data.csv"
                        try cg.writeManifest(Dataset(samples: others.samples + shots), to: manifest, pinned: all,
                                             extraPins: Dictionary(uniqueKeysWithValues: shots.map { ($0.id, SplitPart.train) }))
                        var c = trainConfig(manifest, seed: seed)
                        c.initialWeights = model
                        c.epochs = config.epochs
                        c.learningRate = config.learningRate
                        c.schedule = "constant"
                        log("seed \(seed): fine-tuning with \(shots.count) images of \(h)")
                        let t = Trainer(config: c, outputDirectory: dir)
                        try t.run(resume: FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
                        model = t.bestModelPath
                    }
                    let detector = try Detector(path: model)
                    let cell = test.samples.filter { $0.generator == h || ($0.label == .real && pools[$0.generator] == pools[h]) }
                    let ev = Evaluation.run(detector: detector, samples: cell, data: h, split: "test")
                    let acc = CrossGeneratorStudy.cellAccuracy(ev.rows, generator: h, pools: pools)
                    try studyJSON(acc).write(to: URL(fileURLWithPath: cache))
                    values[k, default: []].append(acc)
                }
            }
            curves[h] = config.shots.map { Point(shots: $0, accuracy: CrossGeneratorStudy.Cell(values[$0] ?? [])) }
        }
        let report = Report(config: config, curves: curves, seconds: Date().timeIntervalSince(start))
        try studyJSON(report).write(to: URL(fileURLWithPath: directory + "/fewshot.json"))
        try Self.svg(report).write(toFile: directory + "/fewshot.svg", atomically: true, encoding: .utf8)
        try ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Few-shot adaptation</title></head><body><h1>Few-shot adaptation</h1>"
             + Self.svg(report) + "<pre>" + Self.markdown(report) + "</pre></body></html>\n")
            .write(toFile: directory + "/fewshot.html", atomically: true, encoding: .utf8)
        try Self.markdown(report).write(toFile: directory + "/fewshot.md", atomically: true, encoding: .utf8)
        return report
    }

    func trainConfig(_ data: String, seed: UInt64) -> TrainConfig {
        let x = config.crossgen
        var c = TrainConfig(model: x.model, data: data)
        c.convLayers = x.convLayers; c.filters = x.filters; c.dense = x.dense; c.inputSize = x.inputSize
        c.seed = seed; c.splitSeed = 0; c.batchSize = x.batchSize; c.patience = x.patience
        if !x.augment { c.augmentation = .none; c.augmentation.flipProbability = 0.5 }
        return c
    }

    public static func markdown(_ r: Report) -> String {
        var s = "Accuracy (%) on the held-out generator's test cell after fine-tuning with k of its images added to the training split (mean ± sd over seeds).\n\n"
        s += "| held out | " + r.config.shots.map { "k=\($0)" }.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: r.config.shots.count) + "\n"
        for (h, pts) in r.curves.sorted(by: { $0.key < $1.key }) {
            s += "| \(h) | " + pts.map { String(format: "%.1f ± %.1f", $0.accuracy.mean * 100, $0.accuracy.sd * 100) }.joined(separator: " | ") + " |\n"
        }
        return s
    }

    /// Accuracy against shots (log axis; k = 0 drawn at the left edge), error bars of one sd.
    public static func svg(_ r: Report) -> String {
        let w = 560.0, h = 320.0, pad = 50.0
        let maxK = Double(r.config.shots.max() ?? 1)
        func x(_ k: Int) -> Double { pad + (w - 2 * pad) * (k == 0 ? 0 : (log10(Double(k)) + 1) / (log10(maxK) + 1)) }
        func y(_ a: Double) -> Double { h - pad - (h - 2 * pad) * (a - 0.4) / 0.6 }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" role=\"img\" aria-label=\"accuracy against number of samples of the held-out generator\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        for a in stride(from: 0.4, through: 1.0, by: 0.1) {
            s += String(format: "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"8\" y=\"%.1f\" font-size=\"11\">%.0f%%</text>", pad, w - pad, y(a), y(a), y(a) + 4, a * 100)
        }
        for k in r.config.shots { s += String(format: "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%d</text>", x(k), h - pad + 16, k) }
        s += "<text x=\"\(Int(w / 2))\" y=\"\(Int(h - 10))\" font-size=\"12\" text-anchor=\"middle\">training images added from the held-out generator (log scale)</text>"
        for (i, (gen, pts)) in r.curves.sorted(by: { $0.key < $1.key }).enumerated() {
            let c = colours[i % colours.count]
            let valid = pts.filter { !$0.accuracy.mean.isNaN }
            s += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\" points=\"" + valid.map { String(format: "%.1f,%.1f", x($0.shots), y($0.accuracy.mean)) }.joined(separator: " ") + "\"/>"
            for p in valid {
                s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\"/>", x(p.shots), x(p.shots),
                            y(p.accuracy.mean - p.accuracy.sd), y(p.accuracy.mean + p.accuracy.sd), c)
            }
            s += "<text x=\"\(Int(w - pad - 120))\" y=\"\(Int(pad + 14 * Double(i)))\" font-size=\"12\" fill=\"\(c)\">\(gen)</text>"
        }
        return s + "</svg>"
    }
}
