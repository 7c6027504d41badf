import Detection
import Foundation
import Imaging
import Studies

/// Accuracy and ROC-AUC of a detector on test images degraded at one level.
public struct DegradedScore: Sendable, Codable, Equatable {
    public var degradation: Degradation
    public var accuracy: Double
    public var rocAUC: Double?
    public var count: Int
    public var errors: Int
}

/// Scores `samples` (read from their files) after `degradation`; each image's random choices (patch place,
/// crop, noise) are seeded from its id and `seed`, so two models see the same degraded images.
public func evaluateDegraded(detector: Detector, samples: [Sample], degradation: Degradation, seed: UInt64 = 0) -> DegradedScore {
    let reader = SampleReader()
    var probabilities: [Double] = [], labels: [Int] = [], errors = 0
    for s in samples {
        guard let image = try? reader.image(s) else { errors += 1; continue }
        var rng = SplitMix64(seed: stableHash(s.id, seed &+ 77))
        probabilities.append(detector.score(degradation.apply(image, rng: &rng)).probability)
        labels.append(s.label == .fake ? 1 : 0)
    }
    let m = BinaryMetrics(probabilities: probabilities, labels: labels)
    return DegradedScore(degradation: degradation, accuracy: m.accuracy, rocAUC: m.rocAUC, count: labels.count, errors: errors)
}

/// Robustness curves (study 003, figs 4.4-4.10): for each degradation, accuracy and AUC against its level for a
/// model trained without degradations ("plain": flips only) and one trained with that degradation as
/// augmentation, each over several seeds (mean +- sd). Training runs and scores are cached under the output
/// folder, so an interrupted study resumes.
public struct RobustnessStudy {
    public struct Config: Sendable, Codable, Equatable {
        public var data: String
        public var model = "cifake_cnn"
        /// CIFAKE-family shape (nil: the registry default).
        public var convLayers: Int?, filters: Int?, dense: [Int]?
        public var learningRate = 1e-3
        public var degradations: [DegradationKind] = [.blur, .jpeg, .patch, .downsize]
        /// Levels per degradation (default: `DegradationKind.defaultLevels`).
        public var levels: [DegradationKind: [Double]] = [:]
        public var seeds: [UInt64] = [0, 1, 2]
        public var epochs = 3
        public var batchSize = 64
        public var capPerGenerator: Int? = 2000
        /// Fake generators to use (default: all); reals are always kept. The set is then balanced per seed.
        public var generators: [String] = []
        /// Also train a model with each degradation as augmentation (else only the plain model is scored).
        public var trainAugmented = true
        /// Score this existing model (a name as for `Detector.load`, e.g. "bundled", or a file) instead of training: one curve per
        /// degradation on the test split of `data` uncapped and unbalanced, i.e. the split a model trained on `data`
        /// with that seed never saw (the bundled model: bench256, seed 0).
        public var detector: String?
        public init(data: String) { self.data = data }

        func levels(_ k: DegradationKind) -> [Double] { levels[k] ?? k.defaultLevels }
    }
    public struct Point: Sendable, Codable {
        public var level: Double
        public var accuracy: CrossGeneratorStudy.Cell
        public var rocAUC: CrossGeneratorStudy.Cell
    }
    public struct Curve: Sendable, Codable {
        public var degradation: DegradationKind
        /// "plain" or "augmented".
        public var training: String
        public var points: [Point]
    }
    public struct Report: Sendable, Codable {
        public var config: Config
        public var curves: [Curve]
        public var seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    /// The seed's data: chosen generators, capped per generator, equal reals and fakes (for a given detector: the
    /// whole set, whose seeded split it was trained on); written as a manifest.
    func data(seed: UInt64) throws -> (path: String, set: Dataset) {
        var d = try Dataset.load(config.data)
        if !config.generators.isEmpty { d = d.filtered { $0.label == .real || config.generators.contains($0.generator) } }
        // A given detector is judged on the test split of the set it was trained on (`standardSplit` of the whole
        // set): capping or balancing first would re-deal the split and mix its training images into the test.
        if config.detector == nil {
            if let cap = config.capPerGenerator { d = d.capped(perGenerator: cap, seed: seed) }
            d = d.balanced(seed: seed)
        }
        let path = "\(directory)/data-seed-\(seed).csv"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try d.writeManifest(to: path)
        return (path, d)
    }

    /// The images scored for one seed: the seeded test split of `data(seed:)`. A given detector is scored on the test
    /// split of the whole set with the split seed it was trained with (its `aidetect.split_seed`, else 0) whatever
    /// the run's seed, and the generator choice applies after the split (prompt groups span generators, so choosing
    /// first would re-deal the split).
    public func testSamples(seed: UInt64) throws -> [Sample] {
        guard let name = config.detector else { return try data(seed: seed).set.standardSplit(seed: seed).test.samples }
        let meta = try Detector.load(name).metadata
        let splitSeed = meta["aidetect.split_seed"].flatMap { UInt64($0) } ?? 0
        let test = try Dataset.load(config.data).standardSplit(seed: splitSeed).test
        return config.generators.isEmpty ? test.samples : test.samples.filter { $0.label == .real || config.generators.contains($0.generator) }
    }

    func trainConfig(seed: UInt64, augmentation: Augmentation) -> TrainConfig {
        var c = TrainConfig(model: config.model, data: "\(directory)/data-seed-\(seed).csv")
        c.seed = seed; c.splitSeed = seed; c.epochs = config.epochs; c.batchSize = config.batchSize; c.patience = 3
        c.convLayers = config.convLayers; c.filters = config.filters; c.dense = config.dense; c.learningRate = config.learningRate
        c.augmentation = augmentation
        return c
    }

    /// Trains (or reuses) the model of one seed and training kind; returns its best checkpoint.
    func model(seed: UInt64, training: String, augmentation: Augmentation) throws -> String {
        let dir = "\(directory)/runs/seed-\(seed)/\(training)"
        let t = Trainer(config: trainConfig(seed: seed, augmentation: augmentation), outputDirectory: dir)
        if !FileManager.default.fileExists(atPath: dir + "/done") {
            log("seed \(seed): training \(training)")
            try t.run(resume: FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
            try Data().write(to: URL(fileURLWithPath: dir + "/done"))
        }
        return t.bestModelPath
    }

    public func run() throws -> Report {
        let start = Date()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var plain = Augmentation.none
        plain.flipProbability = 0.5
        // [degradation][training][level] -> per-seed values
        var acc: [String: [Double]] = [:], auc: [String: [Double]] = [:]
        func key(_ k: DegradationKind, _ t: String, _ l: Double) -> String { "\(k.rawValue)/\(t)/\(l)" }
        for seed in config.seeds {
            let test = try testSamples(seed: seed)
            let plainModel = try config.detector.map(Detector.load)
                ?? Detector(path: try model(seed: seed, training: "plain", augmentation: plain))
            for k in config.degradations {
                var models = [("plain", plainModel)]
                if config.trainAugmented && config.detector == nil {
                    models.append(("augmented", try Detector(path: try model(seed: seed, training: "with-\(k.rawValue)", augmentation: k.augmentation()))))
                }
                for (training, detector) in models {
                    for level in config.levels(k) {
                        let cache = "\(directory)/scores/seed-\(seed)/\(training)-\(k.rawValue)-\(level).json"
                        let score: DegradedScore
                        if let d = FileManager.default.contents(atPath: cache), let s = try? JSONDecoder().decode(DegradedScore.self, from: d) {
                            score = s
                        } else {
                            score = evaluateDegraded(detector: detector, samples: test, degradation: Degradation(k, level), seed: seed)
                            try FileManager.default.createDirectory(atPath: (cache as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                            try JSONEncoder().encode(score).write(to: URL(fileURLWithPath: cache))
                            log(String(format: "seed %llu %@ %@=%g: accuracy %.3f", seed, training, k.rawValue, level, score.accuracy))
                        }
                        acc[key(k, training, level), default: []].append(score.accuracy)
                        if let a = score.rocAUC { auc[key(k, training, level), default: []].append(a) }
                    }
                }
            }
        }
        var curves: [Curve] = []
        for k in config.degradations {
            for training in config.trainAugmented && config.detector == nil ? ["plain", "augmented"] : ["plain"] {
                curves.append(Curve(degradation: k, training: training, points: config.levels(k).map {
                    Point(level: $0, accuracy: CrossGeneratorStudy.Cell(acc[key(k, training, $0)] ?? []),
                          rocAUC: CrossGeneratorStudy.Cell(auc[key(k, training, $0)] ?? []))
                }))
            }
        }
        let report = Report(config: config, curves: curves, seconds: Date().timeIntervalSince(start))
        try writeStudyReport(report, name: "robustness", title: "Robustness curves", markdown: Self.markdown(report),
                             svg: config.degradations.map { k in Self.svg(report, k) }.joined(), directory: directory)
        return report
    }

    public static func markdown(_ r: Report) -> String {
        let seeds = r.config.seeds.map(String.init).joined(separator: ", ")
        let data = (r.config.data as NSString).lastPathComponent
        var s = r.config.detector.map {
            "Accuracy of \($0) on the seeded test split of \(data) (seed\(r.config.seeds.count > 1 ? "s" : "") \(seeds); mean ± sd over splits); AUC in brackets.\n"
        } ?? "Accuracy (mean ± sd over seeds \(seeds)) of \(r.config.model), \(r.config.epochs) epochs, data \(data); AUC in brackets.\n"
        for k in r.config.degradations {
            let levels = r.config.levels(k)
            s += "\n| \(k.rawValue): \(k.levelName) | " + levels.map { $0.formatted() }.joined(separator: " | ") + " |\n|---|"
                + String(repeating: "---:|", count: levels.count) + "\n"
            for c in r.curves where c.degradation == k {
                let name = r.config.detector.map { ($0 as NSString).lastPathComponent } ?? "trained \(c.training == "plain" ? "without" : "with")"
                s += "| \(name) | " + c.points.map {
                    String(format: "%.1f ± %.1f (%.3f)", $0.accuracy.mean * 100, $0.accuracy.sd * 100, $0.rocAUC.mean)
                }.joined(separator: " | ") + " |\n"
            }
        }
        return s
    }

    /// Accuracy against level (levels evenly spaced, mildest left), error bars of one sd; one plot per degradation.
    public static func svg(_ r: Report, _ k: DegradationKind) -> String {
        let curves = r.curves.filter { $0.degradation == k }
        let levels = r.config.levels(k)
        let series = curves.map { c in (name: r.config.detector.map { ($0 as NSString).lastPathComponent } ?? "trained \(c.training == "plain" ? "without" : "with") \(k.rawValue)",
                                        points: c.points.map { ($0.accuracy.mean, $0.accuracy.sd) }) }
        return studyLinePlot(title: "\(k.rawValue): accuracy against \(k.levelName)", xLabels: levels.map { $0.formatted() },
                             series: series, yRange: 0.4...1.0)
    }
}
