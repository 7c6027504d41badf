import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
@testable import Studies

/// Two pools of 32 px PNGs: pool A (reals: gradients; fakes "checker" and "stripes" with planted patterns),
/// pool B (reals: flat colours; fake "dots").
func makeStudySet(stripes: Int = 40) throws -> (URL, [String]) {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UUID().uuidString)")
    var rng = SplitMix64(seed: 9)
    func write(_ pool: String, _ label: String, _ gen: String, _ n: Int, _ pixel: (Int, Int, Int, Double) -> Double) throws {
        let d = root.appendingPathComponent("\(pool)/\(label)/\(gen)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        for i in 0..<n {
            let base = rng.uniform(40, 160)
            var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
            for y in 0..<32 { for x in 0..<32 { for c in 0..<3 { px[(y * 32 + x) * 3 + c] = UInt8(min(255, max(0, pixel(x, y, c, base)))) } } }
            try Data(ImageEncoder.png(Image(width: 32, height: 32, pixels: px))).write(to: d.appendingPathComponent("\(i).png"))
        }
    }
    try write("a", "real", "photo-a", 40) { x, y, c, b in b + Double(x + y + 5 * c) }
    try write("a", "fake", "checker", 40) { x, y, c, b in b + Double(x + y + 5 * c) + ((x + y) % 2 == 0 ? 50 : 0) }
    try write("a", "fake", "stripes", stripes) { x, y, c, b in b + Double(x + y + 5 * c) + (x % 4 < 2 ? 50 : 0) }
    try write("b", "real", "photo-b", 40) { _, _, c, b in b + Double(10 * c) }
    try write("b", "fake", "dots", 40) { x, y, c, b in b + Double(10 * c) + (x % 8 < 3 && y % 8 < 3 ? 90 : 0) }
    return (root, [root.appendingPathComponent("a").path, root.appendingPathComponent("b").path])
}

struct StudyDriverTests {
    static func config(_ data: [String]) -> CrossGeneratorStudy.Config {
        var c = CrossGeneratorStudy.Config(data: data)
        c.convLayers = 2; c.filters = 8; c.dense = [16]; c.epochs = 8; c.batchSize = 8; c.learningRate = 3e-3; c.augment = false
        c.seeds = [0, 1]; c.minimumImages = 10; c.cap = 40
        return c
    }

    /// The matrix has a cell per (train, test) pair with one value per seed; generators pair with their
    /// own pool's reals; trained-on cells beat chance on this easy set; outputs are written and a rerun
    /// reuses the finished runs.
    @Test func crossGeneratorOnToySet() throws {
        let (root, data) = try makeStudySet()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out").path
        let r = try CrossGeneratorStudy(config: Self.config(data), directory: out).run()
        #expect(r.generators == ["checker", "dots", "stripes"])
        #expect(r.pools["dots"] == "b" && r.pools["checker"] == "a")
        for g in r.generators {
            for h in r.generators { #expect(r.matrix[g]?[h]?.values.count == 2) }
            #expect(r.matrix[g]!.values.allSatisfy { $0.values.allSatisfy { (0...1).contains($0) } })
            #expect(r.leaveOneOut[g]?.values.count == 2)
        }
        // Trained-on cells beat chance on average (single cells of 12 test images are too noisy to assert).
        let diagonal = r.generators.map { r.matrix[$0]![$0]!.mean }
        #expect(diagonal.reduce(0, +) / Double(diagonal.count) > 0.6, "in-distribution accuracies \(diagonal)")
        #expect(r.testCounts["checker"] == 6)
        for f in ["crossgen.json", "crossgen.md", "crossgen.html"] { #expect(FileManager.default.fileExists(atPath: out + "/" + f)) }
        // Seeds vary the weights, never the split: no run of seed 1 trains or validates on a test image.
        let test = Set(try CrossGeneratorStudy(config: Self.config(data), directory: out).dataset().0.standardSplit(seed: 0).test.samples.map(\.id))
        let runs = try FileManager.default.contentsOfDirectory(atPath: out + "/runs/seed-1")
        #expect(runs.count == 6, "3 train-on-one and 3 leave-one-out runs: \(runs)")
        for run in runs {
            let split = try JSONDecoder().decode([String: [String]].self, from: Data(contentsOf: URL(fileURLWithPath: "\(out)/runs/seed-1/\(run)/split.json")))
            let seen = Set(split["train"]! + split["validation"]!)
            #expect(!seen.isEmpty && seen.isDisjoint(with: test), "\(run) trained on \(seen.intersection(test).count) test images")
        }
        let again = try CrossGeneratorStudy(config: Self.config(data), directory: out).run()
        #expect(again.matrix["checker"]!["dots"]!.values == r.matrix["checker"]!["dots"]!.values)
        #expect(again.seconds < r.seconds)
    }

    /// Few-shot k = 50 trains on exactly 50 images of the held-out generator (all pinned to the training split,
    /// none re-split into validation), none of them a test image.
    @Test func fewShotShotsAreTrainingImages() throws {
        let (root, data) = try makeStudySet(stripes: 100)
        defer { try? FileManager.default.removeItem(at: root) }
        var cg = Self.config(data)
        cg.seeds = [1]; cg.epochs = 1; cg.leaveOneOut = false; cg.cap = 100
        var c = FewShotStudy.Config(crossgen: cg, heldOut: ["stripes"])
        c.shots = [50]
        c.epochs = 1
        let out = root.appendingPathComponent("out").path
        _ = try FewShotStudy(config: c, directory: out).run()
        let split = try JSONDecoder().decode([String: [String]].self, from: Data(contentsOf: URL(fileURLWithPath: out + "/fewshot/stripes/seed-1/k-50/split.json")))
        let stripesTrain = split["train"]!.filter { $0.contains("/stripes/") }
        #expect(stripesTrain.count == 50)
        #expect(!split["validation"]!.contains { $0.contains("/stripes/") })
        let test = Set(try CrossGeneratorStudy(config: cg, directory: out).dataset().0.standardSplit(seed: 0).test.samples.map(\.id))
        #expect(Set(split["train"]! + split["validation"]!).isDisjoint(with: test))
    }

    /// Few-shot: a curve point per k with one value per seed, k = 0 is the leave-one-out model itself.
    @Test func fewShotOnToySet() throws {
        let (root, data) = try makeStudySet()
        defer { try? FileManager.default.removeItem(at: root) }
        var c = FewShotStudy.Config(crossgen: Self.config(data), heldOut: ["stripes"])
        c.shots = [0, 5, 20]
        c.epochs = 2
        let out = root.appendingPathComponent("out").path
        let r = try FewShotStudy(config: c, directory: out).run()
        let pts = try #require(r.curves["stripes"])
        #expect(pts.map(\.shots) == [0, 5, 20])
        #expect(pts.allSatisfy { $0.accuracy.values.count == 2 && $0.accuracy.values.allSatisfy { (0...1).contains($0) } })
        #expect(FileManager.default.fileExists(atPath: out + "/fewshot.svg"))
        // the fine-tuning data held 20 stripes images, all from the study's training split
        let manifest = try Dataset.load(out + "/fewshot/stripes/seed-0/k-20/data.csv")
        let stripes = manifest.samples.filter { $0.generator == "stripes" }
        #expect(stripes.count == 20)
        let (_, _, test) = try CrossGeneratorStudy(config: c.crossgen, directory: out).dataset().0.split(train: 0.7, validation: 0.15, seed: 0)
        #expect(Set(stripes.map(\.id)).isDisjoint(with: Set(test.samples.map(\.id))))
    }
}

struct SearchAndBaselineTests {
    /// Adding a cosine of frequency 5 along x to a noise image raises the profile most on ring 5.
    @Test func spectrumFeaturesPeakAtTheFrequency() {
        var rng = SplitMix64(seed: 11)
        var noise = [Double](repeating: 0, count: 64 * 64)
        for i in noise.indices { noise[i] = rng.uniform(60, 100) }
        func image(_ amplitude: Double) -> Image {
            var px = [UInt8](repeating: 0, count: 64 * 64 * 3)
            for y in 0..<64 { for x in 0..<64 { for c in 0..<3 {
                px[(y * 64 + x) * 3 + c] = UInt8(noise[y * 64 + x] + amplitude * (1 + cos(2 * Double.pi * 5 * Double(x) / 64)))
            } } }
            return Image(width: 64, height: 64, pixels: px)
        }
        let plain = SpectrumFeatures.of(image(0)).toArray(Float.self), wave = SpectrumFeatures.of(image(60)).toArray(Float.self)
        #expect(plain.count == 32)
        let diff = zip(wave, plain).map { $0 - $1 }
        #expect(diff.dropFirst().enumerated().max(by: { $0.element < $1.element })!.offset + 1 == 5)
        #expect(plain.min()! >= 0 && plain.max()! <= 1)
    }

    /// The search trains every extractor, then every classifier on the lowest-validation-loss extractor;
    /// the baselines give three rows; both write their tables.
    @Test func searchAndBaselinesOnToySet() throws {
        let (root, data) = try makeStudySet()
        defer { try? FileManager.default.removeItem(at: root) }
        var s = TopologySearch(data: data[0], directory: root.appendingPathComponent("search").path)
        s.convLayers = [1, 2]; s.filters = [4]; s.denseSizes = [8, 16]; s.denseLayers = [1]; s.settings.epochs = 2; s.settings.batchSize = 16
        let r = try s.run()
        #expect(r.extractors.map(\.name) == ["conv1x4", "conv2x4"])
        let best = r.extractors.min(by: { $0.validationLoss < $1.validationLoss })!
        #expect(r.best == best.name && r.classifiers.count == 2 && r.classifiers.allSatisfy { $0.name.hasPrefix(best.name + "-dense1x") })
        #expect(r.classifiers.allSatisfy { $0.test.count == 18 })
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("search/search.html").path))
        var b = BaselineStudy(data: data[0], directory: root.appendingPathComponent("baselines").path)
        b.settings.epochs = 2; b.settings.batchSize = 16
        let rows = try b.run().rows
        #expect(rows.map(\.name) == ["mlp", "lenet", "spectrum + logistic regression"])
        #expect(rows.allSatisfy { $0.test.count == 18 })
        // the checkerboard/stripes fakes differ in their high frequencies: the spectrum baseline separates them
        #expect(rows[2].test.accuracy > 0.8)
    }
}

/// Study 004 on a toy img2img set: 60 pairs, each real a gradient and its "variants" the same gradient with a
/// checkerboard whose amplitude grows with the strength. The paired arm trains on fakes made from its own
/// training reals, the unpaired arm on fakes of other pairs; neither sees a test pair; detection rises with strength.
struct Img2ImgStudyTests {
    @Test func pairedAndUnpairedArmsOnToyPairs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("img2img-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var rng = SplitMix64(seed: 5)
        var rows = ["path,label,generator,group,strength,source"]
        let strengths = [("ddpm-img2img-s0.10", 6.0), ("ddpm-img2img-s0.50", 40.0)]
        for d in ["real/toy"] + strengths.map({ "fake/\($0.0)" }) {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        for i in 0..<60 {
            let base = rng.uniform(40, 160), tilt = rng.uniform(0.5, 2)
            func image(_ amplitude: Double) -> Image {
                var px = [UInt8](repeating: 0, count: 32 * 32 * 3)
                for y in 0..<32 { for x in 0..<32 { for c in 0..<3 {
                    let v = base + tilt * Double(x + y) + Double(5 * c) + ((x + y) % 2 == 0 ? amplitude : 0)
                    px[(y * 32 + x) * 3 + c] = UInt8(min(255, max(0, v)))
                } } }
                return Image(width: 32, height: 32, pixels: px)
            }
            let name = String(format: "%06d.png", i), group = String(format: "pair-%06d", i)
            try Data(ImageEncoder.png(image(0))).write(to: root.appendingPathComponent("real/toy/\(name)"))
            rows.append("real/toy/\(name),real,toy,\(group),,src\(i)")
            for (gen, amplitude) in strengths {
                try Data(ImageEncoder.png(image(amplitude))).write(to: root.appendingPathComponent("fake/\(gen)/\(name)"))
                rows.append("fake/\(gen)/\(name),fake,\(gen),\(group),,src\(i)")
            }
        }
        let manifest = root.appendingPathComponent("manifest.csv").path
        try (rows.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        var c = Img2ImgStudy.Config(data: manifest)
        c.model = "lenet_baseline"; c.epochs = 6; c.batchSize = 8; c.learningRate = 3e-3; c.patience = 6
        let out = root.appendingPathComponent("study").path
        let r = try Img2ImgStudy(config: c, directory: out).run()
        #expect(r.testPairs == 12 && r.validationPairs == 6 && r.trainPairs == 21)
        #expect(Set(r.arms.keys) == ["paired", "unpaired"])
        // Which pairs each arm trained on, from the manifests it wrote.
        func trainGroups(_ arm: String) throws -> (reals: Set<String>, fakes: Set<String>, test: Set<String>) {
            let d = try Dataset.load(out + "/runs/\(arm)/seed-0/data.csv")
            let train = d.samples.filter { $0.pinnedSplit == .train }
            // The pair is the file name (NNNNNN.png) on both sides.
            func pair(_ s: Sample) -> String { (s.id as NSString).lastPathComponent }
            return (Set(train.filter { $0.label == .real }.map(pair)), Set(train.filter { $0.label == .fake }.map(pair)),
                    Set(d.samples.filter { $0.pinnedSplit == .test }.map(pair)))
        }
        let paired = try trainGroups("paired"), unpaired = try trainGroups("unpaired")
        #expect(paired.reals == paired.fakes && paired.reals.count == 21, "paired: every training fake's source is a training real")
        #expect(unpaired.reals == paired.reals && unpaired.fakes.isDisjoint(with: unpaired.reals) && unpaired.fakes.count == 21)
        #expect(paired.test.isDisjoint(with: paired.reals.union(unpaired.fakes)) && paired.test.count == 12)
        // The planted signal is learnt, and the stronger edit is the easier one to detect.
        let weak = r.strengths.first { $0.strength.hasSuffix("0.10") }!, strong = r.strengths.first { $0.strength.hasSuffix("0.50") }!
        #expect((strong.rocAUC["paired"] ?? 0) > 0.9 && (strong.rocAUC["paired"] ?? 0) >= (weak.rocAUC["paired"] ?? 1) - 1e-9)
        #expect(FileManager.default.fileExists(atPath: out + "/img2img.md"))
    }
}

