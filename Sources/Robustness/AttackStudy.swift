import Detection
import Foundation
import Imaging
import ImagingTorch
import Studies
import Torch

/// Adversarial study (study 003, tables 4.3-4.6): attacks crafted on each model against test fakes, with
/// - the confusion rate: the share of fakes the model detected (calibrated P(AI) >= 0.5) that the attack turns
///   to "real";
/// - transfer across models (crafted on one, judged by another: cross-architecture or cross-training-set,
///   depending on the models given) and across samples (image i's perturbation added to image i+1);
/// - defences at inference (blur, JPEG): clean accuracy cost, and confusion for attacks crafted without and
///   with knowledge of the defence.
public struct AttackStudy {
    public struct Config: Sendable, Codable, Equatable {
        public var models: [String]
        public var data: String
        /// Test fakes attacked (and as many reals for clean accuracy).
        public var count = 200
        public var attacks: [Attack] = [.fgsm(epsilon: 0.01), .fgsm(epsilon: 0.02), .fgsm(epsilon: 0.05),
                                        .pgd(epsilon: 0.02, steps: 10, stepSize: 0.005, randomStart: true),
                                        .carliniWagner(c: 1, steps: 100, learningRate: 0.01, kappa: 0)]
        public var defences: [Defence] = [.none, .blur(sigma: 1), .jpeg(quality: 75)]
        public var seed: UInt64 = 0
        public var batchSize = 50
        public init(models: [String], data: String) {
            self.models = models
            self.data = data
        }
    }
    public struct Row: Sendable, Codable {
        public var attack: String
        public var source: String
        public var target: String
        public var defence: String
        /// "none" (crafted on the undefended model) or "adaptive" (through the defence).
        public var knowledge: String
        public var confusionRate: Double
        /// Fakes the target (with the defence) detected before the attack: the denominator.
        public var detected: Int
        public var meanLinf: Double
        public var meanL2: Double
    }
    public struct Clean: Sendable, Codable {
        public var model: String, defence: String
        public var accuracy: Double, fakeRecall: Double
    }
    public struct Report: Sendable, Codable {
        public var config: Config
        public var clean: [Clean]
        public var rows: [Row]
        /// Cross-sample transfer on each source model (no defence): attack -> confusion rate.
        public var crossSample: [String: [String: Double]]
        public var seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    struct Loaded {
        let name: String
        let detector: Detector
        let pixel: PixelModel
        func decisions(_ x: Tensor, defence: Defence) -> [Bool] {
            var p = pixel
            p.defence = defence
            let s = x.size(2) == pixel.inputSize ? x : interpolate(x, size: (pixel.inputSize, pixel.inputSize), mode: .bilinear)
            let z = withNoGrad { p.logits(s) }.toArray(Float.self)
            return z.map { detector.calibrator.probability(logit: Double($0)) >= 0.5 }
        }
    }

    public func run() throws -> Report {
        let start = Date()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let models = try config.models.map { path -> Loaded in
            let d = try Detector.load(path)
            let name = ["default", "bundled", "clip"].contains(path.lowercased()) ? path.lowercased() : ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            return Loaded(name: name == "best" ? ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent : name,
                          detector: d, pixel: PixelModel(detector: d))
        }
        let test = try Dataset.load(config.data).standardSplit(seed: config.seed).test.samples
        func pick(_ label: Label) -> [Sample] {
            Array(test.filter { $0.label == label }.map { ($0, stableHash($0.id, config.seed &+ 5)) }.sorted { $0.1 < $1.1 }.map(\.0).prefix(config.count))
        }
        let reader = SampleReader()
        // Pixels in [0, 1] at a model's input size (its resize / centre-crop policy, without normalisation).
        func pixels(_ samples: [Sample], for m: Loaded) -> Tensor {
            var pre = m.detector.preprocessing
            pre.mean = [0, 0, 0]; pre.std = [1, 1, 1]
            let p = Preprocessor(pre)
            return stacked(samples.compactMap { try? reader.image($0) }.map { p.views($0).batch[0] })
        }
        let fakes = pick(.fake), reals = pick(.real)
        // Each model's view of the test fakes, decoded once.
        let fakePixels = models.map { pixels(fakes, for: $0) }
        var clean: [Clean] = []
        for (mi, m) in models.enumerated() {
            let xf = fakePixels[mi], xr = pixels(reals, for: m)
            for d in config.defences {
                let df = m.decisions(xf, defence: d), dr = m.decisions(xr, defence: d)
                let correct = df.filter { $0 }.count + dr.filter { !$0 }.count
                clean.append(Clean(model: m.name, defence: d.description, accuracy: Double(correct) / Double(max(df.count + dr.count, 1)),
                                   fakeRecall: Double(df.filter { $0 }.count) / Double(max(df.count, 1))))
            }
        }
        var rows: [Row] = []
        var crossSample: [String: [String: Double]] = [:]
        for (si, source) in models.enumerated() {
            let x = fakePixels[si]
            for attack in config.attacks {
                for (knowledge, defences) in [("none", [Defence.none]), ("adaptive", config.defences.filter { $0 != .none })] {
                    for craftDefence in defences {
                        var attacker = source.pixel
                        attacker.defence = craftDefence
                        attacker.attackKnowsDefence = knowledge == "adaptive"
                        let t0 = Date()
                        var advParts: [Tensor] = []
                        for b in stride(from: 0, to: x.size(0), by: config.batchSize) {
                            let part = x.slice(axis: 0, start: b, end: min(b + config.batchSize, x.size(0)))
                            advParts.append(attack.perturb(part, model: attacker, generator: Generator(seed: config.seed &+ UInt64(b))))
                        }
                        let adv = concatenated(advParts, axis: 0)
                        let delta = adv - x
                        let linf = delta.abs().max(axes: [1, 2, 3]).mean().item()
                        let l2 = delta.square().sum(axes: [1, 2, 3]).sqrt().mean().item()
                        // Without knowledge, the same examples are judged under every defence; adaptive ones only
                        // under the defence they were crafted through.
                        let judged = knowledge == "none" ? config.defences : [craftDefence]
                        for (ti, target) in models.enumerated() {
                            let xt = fakePixels[ti]
                            for d in judged {
                                let before = target.decisions(xt, defence: d)
                                let after = target.decisions(ti == si ? adv : resizeForTarget(adv, target), defence: d)
                                let detected = before.indices.filter { before[$0] }
                                let flipped = detected.filter { !after[$0] }.count
                                rows.append(Row(attack: attack.description, source: source.name, target: target.name, defence: d.description,
                                                knowledge: knowledge, confusionRate: detected.isEmpty ? .nan : Double(flipped) / Double(detected.count),
                                                detected: detected.count, meanLinf: linf, meanL2: l2))
                            }
                        }
                        if knowledge == "none" {
                            // Cross-sample: image i's perturbation on image i+1.
                            let n = x.size(0)
                            let shifted = concatenated([delta.slice(axis: 0, start: n - 1, end: n), delta.slice(axis: 0, start: 0, end: n - 1)], axis: 0)
                            let moved = (x + shifted).clamped(min: 0, max: 1)
                            let before = source.decisions(x, defence: .none), after = source.decisions(moved, defence: .none)
                            let detected = before.indices.filter { before[$0] }
                            crossSample[source.name, default: [:]][attack.description] =
                                detected.isEmpty ? .nan : Double(detected.filter { !after[$0] }.count) / Double(detected.count)
                        }
                        log(String(format: "%@ on %@ (%@%@): %.1f s", attack.description, source.name, knowledge,
                                   knowledge == "adaptive" ? " " + craftDefence.description : "", Date().timeIntervalSince(t0)))
                    }
                }
            }
        }
        let report = Report(config: config, clean: clean, rows: rows, crossSample: crossSample, seconds: Date().timeIntervalSince(start))
        try writeStudyReport(report, name: "attack", title: "Adversarial attacks", markdown: Self.markdown(report), directory: directory)
        return report
    }

    /// Adversarial pixels crafted at the source's size, resized (bilinear) to the target's input size.
    func resizeForTarget(_ adv: Tensor, _ target: Loaded) -> Tensor {
        adv.size(2) == target.pixel.inputSize ? adv : interpolate(adv, size: (target.pixel.inputSize, target.pixel.inputSize), mode: .bilinear)
    }

    public static func markdown(_ r: Report) -> String {
        func pct(_ v: Double) -> String { v.isNaN ? "n/a" : String(format: "%.1f%%", v * 100) }
        var names: [String] = []
        for row in r.rows where !names.contains(row.source) { names.append(row.source) }
        let defences = r.config.defences.map(\.description)
        var s = "Test fakes attacked: up to \(r.config.count) (and as many reals for clean accuracy); data \((r.config.data as NSString).lastPathComponent).\n\n"
        s += "Clean accuracy (fake recall) per defence:\n\n| model | " + defences.joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: defences.count) + "\n"
        for m in names {
            s += "| \(m) | " + defences.map { d in r.clean.first { $0.model == m && $0.defence == d }.map { "\(pct($0.accuracy)) (\(pct($0.fakeRecall)))" } ?? "" }.joined(separator: " | ") + " |\n"
        }
        for m in names {
            s += "\nConfusion rate on \(m) (attack crafted on it); without knowledge of the defence / adaptive:\n\n| attack | mean L-inf | mean L2 | "
                + defences.joined(separator: " | ") + " | cross-sample |\n|---|---:|---:|" + String(repeating: "---:|", count: defences.count + 1) + "\n"
            for a in r.config.attacks.map(\.description) {
                let own = r.rows.filter { $0.source == m && $0.target == m && $0.attack == a }
                guard let first = own.first(where: { $0.knowledge == "none" }) else { continue }
                s += "| \(a) | " + String(format: "%.4f | %.3f", first.meanLinf, first.meanL2) + " | " + defences.map { d in
                    let plain = own.first { $0.defence == d && $0.knowledge == "none" }.map { pct($0.confusionRate) } ?? ""
                    let adaptive = own.first { $0.defence == d && $0.knowledge == "adaptive" }.map { " / " + pct($0.confusionRate) } ?? ""
                    return plain + adaptive
                }.joined(separator: " | ") + " | " + pct(r.crossSample[m]?[a] ?? .nan) + " |\n"
            }
        }
        if names.count > 1 {
            for a in r.config.attacks.map(\.description) {
                s += "\nTransfer of \(a) (rows: crafted on, columns: judged by; no defence):\n\n| | " + names.joined(separator: " | ") + " |\n|---|"
                    + String(repeating: "---:|", count: names.count) + "\n"
                for src in names {
                    s += "| \(src) | " + names.map { t in
                        r.rows.first { $0.attack == a && $0.source == src && $0.target == t && $0.defence == "none" && $0.knowledge == "none" }.map { pct($0.confusionRate) } ?? ""
                    }.joined(separator: " | ") + " |\n"
                }
            }
        }
        return s
    }
}
