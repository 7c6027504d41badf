import Foundation
import Testing
import TestSupport
@testable import Detection
import Imaging
@testable import Models
import Torch

struct ProbeTests {
    /// A linear probe separates linearly separable features and its folded standardisation is exact.
    @Test func linearProbeLearnsSeparableFeatures() {
        let g = Generator(seed: 5)
        let n = 200
        let x = g.randn([n, 8]) * 3 + 10          // far from zero mean: exercises the folding
        let y = (0..<n).map { $0 % 2 }
        let signal = Tensor(y.map { Float($0) * 2 - 1 }).reshaped([n, 1]) * 12     // 4 noise sds each side: separable
        let features = concatenated([x.slice(axis: 1, start: 0, end: 1) + signal, x.slice(axis: 1, start: 1)], axis: 1)
        let probe = LinearProbe.train(x: features.slice(axis: 0, start: 0, end: 150), y: Array(y[0..<150]),
                                      validationX: features.slice(axis: 0, start: 150), validationY: Array(y[150...]))
        let logits = probe.logits(features.slice(axis: 0, start: 150))
        let m = BinaryMetrics(probabilities: logits.map { 1 / (1 + exp(-$0)) }, labels: Array(y[150...]))
        #expect((m.rocAUC ?? 0) > 0.99)
        #expect(m.accuracy > 0.95)
    }

    /// Embeddings are cached by sample id: a second call embeds nothing new; undecodable files are reported.
    @Test func embeddingCacheAndErrors() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("emb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (label, gen) in [("real", "a"), ("fake", "b")] {
            let d = root.appendingPathComponent("\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<3 {
                let img = Image(width: 40, height: 30, fill: (UInt8(i * 40), label == "real" ? 200 : 10, 90))
                try Data(ImageEncoder.png(img)).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        try Data("broken".utf8).write(to: root.appendingPathComponent("fake/b/bad.png"))
        let ds = try Dataset.load(root.path)
        #expect(ds.samples.count == 7)
        let backbone = ResNet(block: .basic, counts: [1, 1, 1, 1], classes: 1)
        let pre = Preprocessing(inputSize: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], policy: .resize)
        let cache = root.appendingPathComponent("cache/emb.safetensors").path
        var errors: [String] = []
        let t1 = try FrozenFeatures.embed(ds.samples, backbone: backbone, preprocessing: pre, cachePath: cache, onError: { s, _ in errors.append(s.id) })
        #expect(t1.ids.count == 6 && t1.features.shape == [6, 512])
        #expect(errors.count == 1 && errors[0].hasSuffix("bad.png"))
        var newWork = -1
        let t2 = try FrozenFeatures.embed(ds.samples.filter { !$0.id.hasSuffix("bad.png") }, backbone: backbone, preprocessing: pre,
                                          cachePath: cache, progress: { _, total in newWork = total })
        #expect(newWork == 0)
        #expect(TestSupport.allClose(t2.rows(Array(ds.samples.prefix(2))), t1.rows(Array(ds.samples.prefix(2))), rtol: 0, atol: 0).ok)
    }

    /// A changed backbone weight file makes the embedding cache stale: everything is embedded again with the new
    /// weights (not served from the old cache), and the rebuilt cache is then reused. Other preprocessing, or other
    /// weights when the caller passes no digest (the state dict's is used), make it stale too.
    @Test func changedBackboneWeightsInvalidateEmbeddingCache() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("emb-weights-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (label, gen) in [("real", "a"), ("fake", "b")] {
            let d = root.appendingPathComponent("data/\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<3 {
                let img = Image(width: 36, height: 28, fill: (UInt8(30 + i * 50), label == "real" ? 180 : 20, 70))
                try Data(ImageEncoder.png(img)).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        let samples = try Dataset.load(root.appendingPathComponent("data").path).samples
        #expect(samples.count == 6)
        let pre = Preprocessing(inputSize: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], policy: .resize)
        let weights = root.appendingPathComponent("backbone.safetensors").path
        let cache = root.appendingPathComponent("cache/emb.safetensors").path
        // The backbone as a probe run makes it: a fresh model loaded from the weight file.
        func loadBackbone() throws -> ResNet {
            let m = ResNet(block: .basic, counts: [1, 1, 1, 1], classes: 1)
            try m.loadStateDict(try Safetensors.load(path: weights).tensors)
            return m
        }
        // Embeds all samples through `cachePath`, keyed as ProbeStudy keys it; returns the table and how many
        // samples had to be embedded (0 = all served from the cache).
        func embed(_ m: ResNet, _ p: Preprocessing, cachePath: String? = nil, digest: Bool = true) throws -> (EmbeddingTable, Int) {
            var embedded = -1
            let weightsDigest: String? = try digest ? ContentDigest.file(path: weights) : nil
            let t = try FrozenFeatures.embed(samples, backbone: m, preprocessing: p, cachePath: cachePath ?? cache,
                                             weightsDigest: weightsDigest, progress: { _, total in embedded = total })
            return (t, embedded)
        }

        let original = ResNet(block: .basic, counts: [1, 1, 1, 1], classes: 1).stateDict()
        try Safetensors.save(original, path: weights)
        let first = try loadBackbone()
        let (t1, n1) = try embed(first, pre)
        #expect(n1 == samples.count)
        #expect(try embed(first, pre).1 == 0, "same weights and preprocessing: the cache is reused")

        // New weights in the same file (every floating-point tensor shifted, so they differ whatever the RNG did).
        let oldDigest = try ContentDigest.file(path: weights)
        try Safetensors.save(original.mapValues { $0.dtype.isFloatingPoint ? $0 + 0.05 : $0 }, path: weights)
        #expect(try ContentDigest.file(path: weights) != oldDigest)
        let second = try loadBackbone()
        let (t2, n2) = try embed(second, pre)
        #expect(n2 == samples.count, "new weights: the stale cache is ignored and every sample embedded again")
        let fresh = try FrozenFeatures.embed(samples, backbone: second, preprocessing: pre, cachePath: nil)
        #expect(TestSupport.allClose(t2.rows(samples), fresh.rows(samples)).ok, "the rows are the new backbone's")
        #expect(!TestSupport.allClose(t2.rows(samples), t1.rows(samples)).ok, "the new backbone embeds differently")
        #expect(try embed(second, pre).1 == 0, "the rebuilt cache is reused")

        // Other preprocessing: stale as well.
        var other = pre
        other.mean = [0.4, 0.45, 0.5]
        #expect(try embed(second, other).1 == samples.count)

        // No digest given: the state dict's digest keys the cache, so swapping the backbone still invalidates it.
        let byStateDict = root.appendingPathComponent("cache/by-state-dict.safetensors").path
        #expect(try embed(first, pre, cachePath: byStateDict, digest: false).1 == samples.count)
        #expect(try embed(first, pre, cachePath: byStateDict, digest: false).1 == 0)
        #expect(try embed(second, pre, cachePath: byStateDict, digest: false).1 == samples.count)
    }

    /// The weights digest depends on the bytes only, not on how they were read in pieces.
    @Test func contentDigestDependsOnBytesNotPieces() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        var whole = ContentDigest()
        whole.update(bytes)
        var pieces = ContentDigest()
        for r in [0..<3, 3..<11, 11..<512, 512..<1000] { pieces.update(Array(bytes[r])) }
        #expect(whole.hex == pieces.hex && whole.hex.count == 16)
        var changed = bytes
        changed[999] ^= 1
        var c = ContentDigest()
        c.update(changed)
        #expect(c.hex != whole.hex)
        var shorter = ContentDigest()
        shorter.update(Array(bytes.prefix(999)))
        #expect(shorter.hex != whole.hex)
    }

    @Test func calibratedDetectorFileRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("det-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ModelRegistry.create("lenet_baseline")
        let path = dir.appendingPathComponent("m.safetensors").path
        try saveDetector(model, architecture: "lenet_baseline", path: path, description: "test", calibrator: .platt(a: 2, b: -1), halfPrecision: true)
        let d = try Detector(path: path)
        #expect(d.calibrator == .platt(a: 2, b: -1))
        let s = d.score(Image(width: 50, height: 40, fill: (10, 20, 30)))
        #expect(s.probability >= 0 && s.probability <= 1 && s.views.count == 1)
    }
}

struct PreprocessorTests {
    @Test func wideImagesAreCoveredByWindows() {
        let pre = Preprocessor(Preprocessing(inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1], policy: .resizeCenterCrop, cropFraction: 0.875))
        let wide = pre.views(Image(width: 300, height: 100, fill: (1, 2, 3)))
        #expect(wide.batch.shape == [3, 3, 32, 32])
        #expect(wide.boxes.map(\.x) == [0, 100, 200] && wide.boxes.allSatisfy { $0.y == 0 && $0.size == 100 })
        #expect(pre.views(Image(width: 100, height: 100, fill: (1, 2, 3))).batch.shape == [1, 3, 32, 32])
        #expect(pre.views(Image(width: 100, height: 110, fill: (1, 2, 3))).boxes.count == 1)
        let tiles = Preprocessor(Preprocessing(inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1], policy: .tile)).views(Image(width: 70, height: 40, fill: (0, 0, 0)))
        #expect(tiles.boxes.map(\.x) == [0, 32, 38, 0, 32, 38] && tiles.batch.size(0) == 6)
    }
}
