import Detection
import Foundation
import Models
import Synthesis
import Torch

/// Paired against unpaired training data (study 004): does a detector learn generation traces better when each
/// fake sits beside the real image it was made from (img2img pairs, `Img2ImgSetWriter`) than when fakes and reals
/// are unrelated images? And how does detection fall as the img2img strength falls (the closer to the real, the
/// harder)?
///
/// The pairs' groups are dealt once (seeded by `splitSeed`): `testFraction` of them to test, `validationFraction` to
/// validation, the rest to a training pool cut in two halves A and B. Both arms have the same size:
/// - paired: the reals of A and one fake of each A group (strengths in turn), so every training fake's source is
///   a training real;
/// - unpaired: the same reals of A and one fake of each B group, so no training fake's source is a training real.
/// Validation (reals and one fake per group) and test are shared. Test metrics: accuracy, precision, recall, F1 and
/// ROC-AUC over the test reals and one fake per test group (balanced), and per strength ROC-AUC and recall of all
/// test fakes of that strength against all test reals.
public struct Img2ImgStudy {
    public struct Config: Sendable, Codable, Equatable {
        /// The manifest of an img2img set (`aidetect synth img2img`).
        public var data: String
        public var model = "resnet34"
        public var epochs = 10
        public var batchSize = 32
        public var learningRate = 1e-3
        public var patience = 3
        public var seeds: [UInt64] = [0]
        public var splitSeed: UInt64 = 0
        public var testFraction = 0.2
        public var validationFraction = 0.1
        /// At most this many pairs per arm's training split (nil: half the training pool).
        public var cap: Int?
        public init(data: String) { self.data = data }
    }
    public struct Metrics: Sendable, Codable {
        public var accuracy: Double, precision: Double, recall: Double, f1: Double, rocAUC: Double
    }
    public struct StrengthRow: Sendable, Codable {
        public var strength: String, fakes: Int
        public var rocAUC: [String: Double], recall: [String: Double]
    }
    public struct Report: Sendable, Codable {
        public var config: Config
        /// Per arm ("paired", "unpaired"): test metrics, mean over seeds.
        public var arms: [String: Metrics]
        /// Per arm and seed (to see the spread).
        public var perSeed: [String: [Metrics]]
        public var strengths: [StrengthRow]
        public var trainPairs: Int, validationPairs: Int, testPairs: Int, testReals: Int
        public var seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    static let arms = ["paired", "unpaired"]

    /// The study's split of groups: test, validation, and the training pool's halves A and B.
    func deal(_ groups: [String]) -> (test: [String], validation: [String], a: [String], b: [String]) {
        let ordered = groups.map { ($0, stableHash($0, config.splitSeed &+ 404)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
        let nt = Int((Double(ordered.count) * config.testFraction).rounded()), nv = Int((Double(ordered.count) * config.validationFraction).rounded())
        let test = Array(ordered.prefix(nt)), validation = Array(ordered.dropFirst(nt).prefix(nv))
        let pool = Array(ordered.dropFirst(nt + nv))
        var half = pool.count / 2
        if let cap = config.cap { half = min(half, cap) }
        return (test, validation, Array(pool.prefix(half)), Array(pool.dropFirst(pool.count / 2).prefix(half)))
    }

    public func run() throws -> Report {
        let start = Date()
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let set = try Dataset.load(config.data)
        // Each pair's group: the manifest's `pair-N` (a near-duplicate may join two pairs; they then travel together).
        let byGroup = Dictionary(grouping: set.samples) { $0.splitKey }
        let groups = byGroup.keys.filter { key in byGroup[key]!.contains { $0.label == .real } && byGroup[key]!.contains { $0.label == .fake } }.sorted()
        guard groups.count >= 20 else {
            throw DatasetError.badLayout(path: config.data, reason: "\(groups.count) pairs; the study needs at least 20 (write the set with synth img2img)")
        }
        let strengths = Set(set.samples.filter { $0.label == .fake }.map(\.generator)).sorted()
        let (testG, validationG, aG, bG) = deal(groups)
        func reals(_ gs: [String]) -> [Sample] { gs.flatMap { byGroup[$0]!.filter { $0.label == .real } } }
        // One fake per group, strengths in turn, so each split holds every strength equally often.
        func oneFake(_ gs: [String]) -> [Sample] {
            gs.enumerated().compactMap { i, g in
                let fakes = byGroup[g]!.filter { $0.label == .fake }
                let want = strengths[i % strengths.count]
                return fakes.first { $0.generator == want } ?? fakes.first
            }
        }
        func pinned(_ s: [Sample], _ part: SplitPart) -> [Sample] { s.map { var x = $0; x.pinnedSplit = part; return x } }
        let validation = pinned(reals(validationG) + oneFake(validationG), .validation)
        let testBalanced = reals(testG) + oneFake(testG)
        let testAll = testG.flatMap { byGroup[$0]! }
        var perSeed: [String: [Metrics]] = [:]
        var perStrength: [String: [String: [(auc: Double, recall: Double)]]] = [:]
        for arm in Self.arms {
            let train = pinned(reals(aG) + oneFake(arm == "paired" ? aG : bG), .train)
            for seed in config.seeds {
                let dir = "\(directory)/runs/\(arm)/seed-\(seed)"
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let manifest = dir + "/data.csv"
                // Test images are pinned to test: the trainer never sees them, whatever it does with its split.
                try Dataset(samples: train + validation + pinned(testAll, .test)).writeManifest(to: manifest)
                var c = TrainConfig(model: config.model, data: manifest)
                c.seed = seed; c.splitSeed = config.splitSeed; c.epochs = config.epochs; c.batchSize = config.batchSize
                c.learningRate = config.learningRate; c.patience = config.patience
                // Native size: no resampling of the pixels whose traces are the signal.
                c.inputSize = try sideOf(train.first!); c.cropFraction = 1
                c.augmentation = .none; c.augmentation.flipProbability = 0.5
                let trainer = Trainer(config: c, outputDirectory: dir)
                trainer.log = { [log] in log("\(arm) seed \(seed): \($0)") }
                if !fm.fileExists(atPath: dir + "/done") {
                    log("\(arm) seed \(seed): training \(config.model) on \(train.count) images")
                    try trainer.run(resume: fm.fileExists(atPath: dir + "/checkpoint.safetensors"))
                    fm.createFile(atPath: dir + "/done", contents: Data())
                }
                let detector = try Detector(path: trainer.bestModelPath)
                let ev = Evaluation.run(detector: detector, samples: testAll, data: config.data, split: "test")
                let prob = Dictionary(uniqueKeysWithValues: ev.rows.compactMap { r in r.probability.map { (r.id, $0) } })
                func metrics(_ samples: [Sample]) -> BinaryMetrics {
                    let scored = samples.filter { prob[$0.id] != nil }
                    return BinaryMetrics(probabilities: scored.map { prob[$0.id]! }, labels: scored.map { $0.label == .fake ? 1 : 0 })
                }
                let m = metrics(testBalanced)
                perSeed[arm, default: []].append(Metrics(accuracy: m.accuracy, precision: m.precision, recall: m.recall, f1: m.f1, rocAUC: m.rocAUC ?? .nan))
                let testReals = reals(testG)
                for s in strengths {
                    let sm = metrics(testReals + testAll.filter { $0.generator == s })
                    perStrength[s, default: [:]][arm, default: []].append((sm.rocAUC ?? .nan, sm.recall))
                }
            }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.reduce(0, +) / Double(v.count) }
        let arms = perSeed.mapValues { ms in
            Metrics(accuracy: mean(ms.map(\.accuracy)), precision: mean(ms.map(\.precision)), recall: mean(ms.map(\.recall)),
                    f1: mean(ms.map(\.f1)), rocAUC: mean(ms.map(\.rocAUC)))
        }
        let rows = strengths.map { s in
            StrengthRow(strength: s, fakes: testAll.filter { $0.generator == s }.count,
                        rocAUC: perStrength[s]!.mapValues { mean($0.map(\.auc)) }, recall: perStrength[s]!.mapValues { mean($0.map(\.recall)) })
        }
        let report = Report(config: config, arms: arms, perSeed: perSeed, strengths: rows, trainPairs: aG.count, validationPairs: validationG.count,
                            testPairs: testG.count, testReals: reals(testG).count, seconds: Date().timeIntervalSince(start))
        try writeStudyReport(report, name: "img2img", title: "Paired vs unpaired img2img training data", markdown: Self.markdown(report), directory: directory)
        return report
    }

    func sideOf(_ s: Sample) throws -> Int {
        let im = try SampleReader().image(s)
        return im.width
    }

    public static func markdown(_ r: Report) -> String {
        var s = "\(r.config.model) trained on \(r.trainPairs) reals and \(r.trainPairs) img2img fakes per arm (paired: the fakes were made from those reals; unpaired: from other reals), \(r.config.seeds.count) seed(s); test: \(r.testReals) reals and one fake per test pair (balanced), \(r.testPairs) pairs never trained on.\n\n"
        s += "| training data | accuracy | precision | recall | F1 | ROC-AUC |\n|---|---:|---:|---:|---:|---:|\n"
        for arm in arms {
            guard let m = r.arms[arm] else { continue }
            s += String(format: "| %@ | %.3f | %.3f | %.3f | %.3f | %.3f |\n", arm, m.accuracy, m.precision, m.recall, m.f1, m.rocAUC)
        }
        if r.config.seeds.count > 1 {
            // The spread over seeds, next to the means: a difference between the arms smaller than it is noise.
            s += "\nPer seed (" + r.config.seeds.map(String.init).joined(separator: ", ") + "), ROC-AUC: "
            s += arms.compactMap { arm in r.perSeed[arm].map { "\(arm) " + $0.map { String(format: "%.3f", $0.rocAUC) }.joined(separator: " / ") } }
                .joined(separator: "; ") + ".\n"
        }
        s += "\nBy img2img strength (all test fakes of that strength against all test reals):\n\n"
        s += "| strength | test fakes | ROC-AUC paired | ROC-AUC unpaired | recall paired | recall unpaired |\n|---|---:|---:|---:|---:|---:|\n"
        for row in r.strengths {
            s += String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.3f |\n", row.strength, row.fakes, row.rocAUC["paired"] ?? .nan,
                        row.rocAUC["unpaired"] ?? .nan, row.recall["paired"] ?? .nan, row.recall["unpaired"] ?? .nan)
        }
        s += String(format: "\n%.0f s on this machine.\n", r.seconds)
        return s
    }
}
