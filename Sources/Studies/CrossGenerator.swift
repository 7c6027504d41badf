import Detection
import Foundation
import Imaging
import Models
import Torch

/// Study 003's generalisation experiment: train a detector on each generator and test it on every generator
/// (table 4.1), and train on all generators but one and test on the one left out (table 4.2), repeated
/// over seeds (mean +- sd per cell).
///
/// Each data source is a pool: its fakes are judged against its own reals (CIFAR fakes against CIFAR reals,
/// Stable Diffusion fakes against the photos of the same set), so that content is not the signal. A cell
/// (trained on A, tested on B) is the accuracy on B's test fakes together with the test reals of B's pool.
/// One split for every run: `standardSplit(seed: 0)` of the merged set (grouped by prompt, original and
/// near-duplicate; stratified per (label, generator)), pinned in the study's manifest. A run's seed varies the
/// weights, batch order and augmentation only, so no run of any seed trains on a test image.
public struct CrossGeneratorStudy {
    public struct Config: Sendable, Codable, Equatable {
        /// Data sources (folder, tar, tar.gz or CSV each); every source is a pool of reals and fakes.
        public var data: [String]
        public var model = "cifake_cnn"
        public var convLayers: Int? = 3
        public var filters: Int? = 64
        public var dense: [Int]? = [128]
        public var inputSize: Int? = 32
        /// Only these fake generators (all with at least `minimumImages` when empty).
        public var generators: [String] = []
        public var minimumImages = 50
        /// At most this many images per generator (reals too), for speed and balance.
        public var cap = 2000
        public var seeds: [UInt64] = [0, 1]
        public var epochs = 6
        public var batchSize = 64
        public var learningRate = 1e-3
        public var patience = 3
        public var leaveOneOut = true
        /// The standard training augmentation (flip, crop, rotation, blur, JPEG, resize, colour); off = flips only.
        public var augment = true
        public init(data: [String]) { self.data = data }
    }

    /// Mean and standard deviation over seeds.
    public struct Cell: Sendable, Codable, Equatable {
        public var mean: Double, sd: Double, values: [Double]
        public init(_ v: [Double]) {
            values = v
            let m = v.isEmpty ? Double.nan : v.reduce(0, +) / Double(v.count)
            mean = m
            sd = v.count < 2 ? 0 : (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
        }
    }

    public struct Report: Sendable, Codable {
        public var config: Config
        public var generators: [String]
        /// Pool (data source file name) of each generator.
        public var pools: [String: String]
        /// matrix[train][test]: accuracy.
        public var matrix: [String: [String: Cell]]
        /// leaveOneOut[held-out]: accuracy on the held-out generator, and on the generators it trained on.
        public var leaveOneOut: [String: Cell]
        public var leaveOneOutSeen: [String: Cell]
        public var testCounts: [String: Int]
        public var seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }

    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    /// The merged, capped data set, with each generator's pool.
    func dataset() throws -> (Dataset, [String: String], [String]) {
        var samples: [Sample] = []
        var pools: [String: String] = [:]
        for given in config.data {
            // Absolute paths, so that the ids of the merged manifest's samples are those of the sources.
            let path = given.hasPrefix("/") ? given : FileManager.default.currentDirectoryPath + "/" + given
            let d = try Dataset.load(path)
            let name = (given as NSString).lastPathComponent
            for g in d.generators { pools[g] = name }
            samples += d.samples
        }
        // Grouped across the sources too (an image in two sources, near-duplicates), then capped.
        let all = try Dataset(samples: samples).annotatedGroups().capped(perGenerator: config.cap, seed: 0)
        let counts = Dictionary(grouping: all.samples.filter { $0.label == .fake }, by: \.generator).mapValues(\.count)
        let gens = config.generators.isEmpty
            ? counts.filter { $0.value >= config.minimumImages }.keys.sorted()
            : config.generators
        for g in gens where counts[g] == nil { throw DatasetError.badLayout(path: config.data.joined(separator: ","), reason: "no fake images of generator '\(g)'") }
        return (all, pools, gens)
    }

    public func run() throws -> Report {
        let start = Date()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let (all, pools, gens) = try dataset()
        let realGens = Set(all.samples.filter { $0.label == .real }.map(\.generator))
        let fakeGens = Set(all.samples.filter { $0.label == .fake }.map(\.generator))
        let test = all.standardSplit(seed: 0).test
        let combined = directory + "/data.csv"
        try writeManifest(all, to: combined, pinned: all)
        log("\(all.samples.count) images, generators: \(gens.joined(separator: ", ")); \(test.samples.count) test images")

        /// Accuracy of the model in `runDir` on each generator's cell.
        func evaluate(_ runDir: String) throws -> [String: Double] {
            let cache = runDir + "/cells.json"
            if let d = FileManager.default.contents(atPath: cache), let c = try? studyDecode([String: Double].self, from: d) { return c }
            let detector = try Detector(path: runDir + "/best.safetensors")
            let ev = Evaluation.run(detector: detector, samples: test.samples, data: combined, split: "test")
            var cells: [String: Double] = [:]
            for g in gens { cells[g] = Self.cellAccuracy(ev.rows, generator: g, pools: pools) }
            try studyJSON(cells).write(to: URL(fileURLWithPath: cache))
            return cells
        }
        func train(_ name: String, keepFakes: Set<String>, seed: UInt64) throws -> String {
            let dir = "\(directory)/runs/seed-\(seed)/\(name)"
            var c = TrainConfig(model: config.model, data: combined)
            c.convLayers = config.convLayers; c.filters = config.filters; c.dense = config.dense; c.inputSize = config.inputSize
            c.seed = seed; c.splitSeed = 0; c.epochs = config.epochs; c.batchSize = config.batchSize; c.learningRate = config.learningRate
            c.patience = config.patience
            if !config.augment { c.augmentation = .none; c.augmentation.flipProbability = 0.5 }
            // Only the kept fakes and the reals of their pools.
            let keptPools = Set(keepFakes.compactMap { pools[$0] })
            c.excludeGenerators = (fakeGens.subtracting(keepFakes).union(realGens.filter { !keptPools.contains(pools[$0] ?? "") })).sorted()
            if FileManager.default.fileExists(atPath: dir + "/cells.json") { return dir }
            log("seed \(seed): training \(name)")
            let t = Trainer(config: c, outputDirectory: dir)
            try t.run(resume: FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
            return dir
        }

        var matrix: [String: [String: [Double]]] = [:]
        var loo: [String: [Double]] = [:], looSeen: [String: [Double]] = [:]
        for seed in config.seeds {
            for g in gens {
                let cells = try evaluate(try train("train-\(g)", keepFakes: [g], seed: seed))
                for h in gens { matrix[g, default: [:]][h, default: []].append(cells[h] ?? .nan) }
            }
            if config.leaveOneOut && gens.count > 1 {
                for h in gens {
                    let cells = try evaluate(try train("without-\(h)", keepFakes: Set(gens).subtracting([h]), seed: seed))
                    loo[h, default: []].append(cells[h] ?? .nan)
                    let seen = gens.filter { $0 != h }.compactMap { cells[$0] }
                    looSeen[h, default: []].append(seen.reduce(0, +) / Double(max(seen.count, 1)))
                }
            }
        }
        let testCounts = Dictionary(grouping: test.samples.filter { $0.label == .fake }, by: \.generator).mapValues(\.count)
        let report = Report(config: config, generators: gens, pools: pools.filter { gens.contains($0.key) },
                            matrix: matrix.mapValues { $0.mapValues(Cell.init) }, leaveOneOut: loo.mapValues(Cell.init),
                            leaveOneOutSeen: looSeen.mapValues(Cell.init), testCounts: testCounts.filter { gens.contains($0.key) },
                            seconds: Date().timeIntervalSince(start))
        try studyJSON(report).write(to: URL(fileURLWithPath: directory + "/crossgen.json"))
        try Self.html(report).write(toFile: directory + "/crossgen.html", atomically: true, encoding: .utf8)
        try Self.markdown(report).write(toFile: directory + "/crossgen.md", atomically: true, encoding: .utf8)
        return report
    }

    /// Accuracy at 0.5 on a generator's cell: its fakes and the reals of its pool (NaN when empty).
    static func cellAccuracy(_ rows: [Evaluation.Row], generator g: String, pools: [String: String]) -> Double {
        let cell = rows.filter { $0.probability != nil && ($0.generator == g || ($0.label == 0 && pools[$0.generator] == pools[g])) }
        return cell.isEmpty ? .nan : BinaryMetrics(probabilities: cell.map { $0.probability! }, labels: cell.map(\.label)).accuracy
    }

    /// A manifest of `d` (absolute paths and tar members, ids and groups kept), which `Trainer` reads like any data
    /// set, each sample pinned to its part of the study's split of `pinned` (`standardSplit(seed: 0)`): whatever
    /// subset a run trains on, it never re-deals the test split.
    func writeManifest(_ d: Dataset, to path: String, pinned: Dataset, extraPins: [String: SplitPart] = [:]) throws {
        let pins = pinned.standardSplitPins(seed: 0).merging(extraPins) { _, new in new }
        try d.writeManifest(to: path, pinning: pins)
    }

    public static func markdown(_ r: Report) -> String {
        func f(_ c: Cell?) -> String {
            guard let c, !c.mean.isNaN else { return "n/a" }
            return c.values.count > 1 ? String(format: "%.1f ± %.1f", c.mean * 100, c.sd * 100) : String(format: "%.1f", c.mean * 100)
        }
        var s = "Accuracy (%) of a detector trained on the row's generator, tested on the column's (its test fakes and its pool's test reals); \(r.config.seeds.count) seed(s), mean ± sd.\n\n"
        s += "| trained on \\ tested on | " + r.generators.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: r.generators.count) + "\n"
        for g in r.generators { s += "| \(g) | " + r.generators.map { f(r.matrix[g]?[$0]) }.joined(separator: " | ") + " |\n" }
        if !r.leaveOneOut.isEmpty {
            s += "\nLeave one out: trained on all other generators.\n\n| held out | accuracy on it | mean accuracy on the others |\n|---|---:|---:|\n"
            for g in r.generators { s += "| \(g) | \(f(r.leaveOneOut[g])) | \(f(r.leaveOneOutSeen[g])) |\n" }
        }
        s += "\nTest fakes per generator: " + r.generators.map { "\($0) \(r.testCounts[$0] ?? 0)" }.joined(separator: ", ") + ".\n"
        return s
    }

    public static func html(_ r: Report) -> String {
        func cell(_ c: Cell?) -> String {
            guard let c, !c.mean.isNaN else { return "<td>n/a</td>" }
            let hue = Int(max(0, min(1, (c.mean - 0.5) * 2)) * 120)
            let text = c.values.count > 1 ? String(format: "%.1f&nbsp;±&nbsp;%.1f", c.mean * 100, c.sd * 100) : String(format: "%.1f", c.mean * 100)
            return "<td style=\"background:hsl(\(hue),70%,80%)\">\(text)</td>"
        }
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cross-generator study</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;text-align:right}</style>
            </head><body><h1>Cross-generator study</h1><p>Accuracy (%) trained on the row, tested on the column; mean ± sd over \(r.config.seeds.count) seed(s). Model \(r.config.model), \(r.config.epochs) epochs, cap \(r.config.cap) per generator, \(Int(r.seconds)) s.</p>
            <table><tr><th scope="col">trained on \\ tested on</th>
            """
        h += r.generators.map { "<th scope=\"col\">\($0)</th>" }.joined() + "</tr>"
        for g in r.generators { h += "<tr><th scope=\"row\">\(g)</th>" + r.generators.map { cell(r.matrix[g]?[$0]) }.joined() + "</tr>" }
        h += "</table>"
        if !r.leaveOneOut.isEmpty {
            h += "<h2>Leave one generator out</h2><table><tr><th scope=\"col\">held out</th><th scope=\"col\">accuracy on it</th><th scope=\"col\">on the others</th></tr>"
            for g in r.generators { h += "<tr><th scope=\"row\">\(g)</th>\(cell(r.leaveOneOut[g]))\(cell(r.leaveOneOutSeen[g]))</tr>" }
            h += "</table>"
        }
        return h + "</body></html>\n"
    }
}

