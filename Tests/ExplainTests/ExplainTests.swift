import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Testing
import TestSupport
import Torch

@testable import Explain

/// Sources for a toy splice set under `root/src`: `count` textured reals and as many plain red fakes of `side` px.
/// Ids leave out the temporary folder's random name: the splice set pairs sources by a hash of their ids, so the
/// set is the same on every run.
func toySpliceSources(_ root: URL, count: Int, side: Int, seed: UInt64) throws -> (reals: [Sample], fakes: [Sample]) {
    var rng = SplitMix64(seed: seed)
    var reals: [Sample] = [], fakes: [Sample] = []
    try FileManager.default.createDirectory(at: root.appendingPathComponent("src"), withIntermediateDirectories: true)
    for i in 0..<count {
        for fake in [false, true] {
            let name = "src/\(fake ? "f" : "r")\(i).png"
            let p = root.appendingPathComponent(name).path
            let im = fake ? Image(width: side, height: side, fill: (250, 10, 10)) : toyImage(width: side, height: side, patch: nil, rng: &rng)
            try Data(ImageEncoder.png(im)).write(to: URL(fileURLWithPath: p))
            let s = Sample(source: .file(p), label: fake ? .fake : .real, generator: fake ? "red" : "photo", id: name)
            if fake { fakes.append(s) } else { reals.append(s) }
        }
    }
    return (reals, fakes)
}

/// A toy detector whose only evidence is a red square: conv -> conv ("features") -> global max pool -> linear.
final class PatchNet: Module {
    let c1 = Conv2d(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: 1)
    let c2 = Conv2d(inputChannels: 8, outputChannels: 8, kernelSize: 3, padding: 1)
    let fc = Linear(inputFeatures: 8, outputFeatures: 1)
    override init() {
        super.init()
        register("c1", c1); register("c2", c2); register("fc", fc)
    }
    override var featureNames: [String] { ["features"] }
    override func callAsFunction(_ x: Tensor) -> Tensor {
        let h = hooked("features", c2(c1(x).relu()).relu())
        return fc(h.max(axes: [2, 3]))
    }
}

let toyPreprocessing = Preprocessing(inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1], policy: .resize)

/// Grey noise; with `patch`, a 6x6 red square at that corner.
func toyImage(width: Int = 32, height: Int = 32, patch: (x: Int, y: Int)?, rng: inout SplitMix64) -> Image {
    var px = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
        let g = UInt8(rng.uniform(80, 170))
        px[3 * i] = g; px[3 * i + 1] = g; px[3 * i + 2] = g
    }
    if let p = patch {
        for y in p.y..<(p.y + 6) { for x in p.x..<(p.x + 6) { let i = y * width + x; px[3 * i] = 240; px[3 * i + 1] = 20; px[3 * i + 2] = 20 } }
    }
    return Image(width: width, height: height, pixels: px)
}

/// PatchNet trained for a few hundred steps to say "AI" exactly when the red square is present.
func trainedPatchNet() -> PatchNet {
    let net = Generator(seed: 3).withInitialization { PatchNet() }
    let opt = Adam(parameters: net.parameters(), learningRate: 0.01)
    var rng = SplitMix64(seed: 11)
    for _ in 0..<150 {
        var images: [Image] = [], labels: [Float] = []
        for i in 0..<32 {
            let fake = i % 2 == 0
            images.append(toyImage(patch: fake ? (Int(rng.next() % 26), Int(rng.next() % 26)) : nil, rng: &rng))
            labels.append(fake ? 1 : 0)
        }
        let x = batchTensor(images, mean: [0, 0, 0], std: [1, 1, 1])
        let loss = binaryCrossEntropyWithLogits(net(x).reshaped([-1]), targets: Tensor(labels))
        opt.zeroGrad()
        loss.backward()
        opt.step()
    }
    net.eval()
    return net
}

@Suite struct GradCAMTests {
    @Test func gradCAMHighlightsThePlantedPatch() throws {
        let net = trainedPatchNet()
        var rng = SplitMix64(seed: 99)
        // The toy model must have learnt the patch, or the test says nothing.
        let probe = (0..<16).map { toyImage(patch: $0 % 2 == 0 ? (Int(rng.next() % 26), Int(rng.next() % 26)) : nil, rng: &rng) }
        let logits = withNoGrad { net(batchTensor(probe, mean: [0, 0, 0], std: [1, 1, 1])) }.reshaped([-1]).toArray(Float.self)
        #expect(logits.enumerated().allSatisfy { ($0.offset % 2 == 0) == ($0.element > 0) }, "toy model did not learn: \(logits)")

        let explainer = Explainer(model: net, preprocessing: toyPreprocessing, name: "patchnet")
        #expect(explainer.layers == ["features"])
        for patch in [(x: 20, y: 4), (x: 3, y: 22)] {
            let image = toyImage(patch: patch, rng: &rng)
            let map = try #require(try explainer.explain(image, method: .gradcam).first)
            #expect(map.width == 32 && map.height == 32 && map.name == "gradcam")
            let (inside, outside) = insideOutside(map, x: patch.x, y: patch.y, size: 6)
            #expect(inside > 3 * outside, "Grad-CAM inside \(inside) vs outside \(outside)")
            let peak = map.values.indices.max { map.values[$0] < map.values[$1] }!
            #expect(abs(peak % 32 - (patch.x + 3)) <= 4 && abs(peak / 32 - (patch.y + 3)) <= 4, "peak at \(peak % 32),\(peak / 32)")
            let act = try #require(try explainer.explain(image, method: .activation, layer: "features").first)
            #expect(insideOutside(act, x: patch.x, y: patch.y, size: 6).inside > insideOutside(act, x: patch.x, y: patch.y, size: 6).outside)
        }
    }

    /// A large image is cut into native 32 px tiles; the map keeps the image's size and finds the patch.
    @Test func tiledMapsHaveFullResolution() throws {
        let net = trainedPatchNet()
        var rng = SplitMix64(seed: 5)
        let image = toyImage(width: 96, height: 64, patch: (70, 40), rng: &rng)
        var explainer = Explainer(model: net, preprocessing: toyPreprocessing, name: "patchnet")
        explainer.tiled = true
        let map = try #require(try explainer.explain(image, method: .gradcam).first)
        #expect(map.width == 96 && map.height == 64)
        let (inside, outside) = insideOutside(map, x: 70, y: 40, size: 6)
        #expect(inside > 3 * outside, "tiled Grad-CAM inside \(inside) vs outside \(outside)")
        // Saliency: two non-negative maps, both with some evidence.
        let sal = try explainer.explain(image, method: .saliency)
        #expect(sal.map(\.name) == ["saliency+", "saliency-"])
        #expect(sal.allSatisfy { m in m.values.allSatisfy { $0 >= 0 } && m.values.contains { $0 > 0 } && m.width == 96 })
    }

    @Test func unknownLayerAndInapplicableMethodsAreTypedErrors() throws {
        let explainer = Explainer(model: PatchNet(), preprocessing: toyPreprocessing, name: "patchnet")
        var rng = SplitMix64(seed: 1)
        let image = toyImage(patch: nil, rng: &rng)
        #expect(throws: ExplainError.unknownLayer("layer9", available: ["features"])) {
            try explainer.explain(image, method: .gradcam, layer: "layer9")
        }
        #expect(throws: ExplainError.self) { try explainer.explain(image, method: .rollout) }
        #expect(throws: ExplainError.self) { try explainer.explain(image, method: .pixels) }
    }
}

func insideOutside(_ m: Heatmap, x: Int, y: Int, size: Int) -> (inside: Float, outside: Float) {
    var inSum: Float = 0, inN: Float = 0, outSum: Float = 0, outN: Float = 0
    for yy in 0..<m.height {
        for xx in 0..<m.width {
            if xx >= x && xx < x + size && yy >= y && yy < y + size { inSum += m[xx, yy]; inN += 1 } else { outSum += m[xx, yy]; outN += 1 }
        }
    }
    return (inSum / inN, outSum / outN)
}

@Suite struct GuidedBackpropTests {
    /// Through ReLUs, guided backprop passes back only non-negative gradients (the plain gradient has negatives).
    @Test(arguments: ["relu", "relu6", "relu_"]) func gradientsThroughReLUsAreNonNegative(kind: String) {
        let g = Generator(seed: 21)
        let w1 = g.randn([16, 16]), w2 = g.randn([1, 16])
        let x = (g.randn([4, 16]) * 2).requiringGrad()
        func act(_ t: Tensor) -> Tensor {
            switch kind {
            case "relu6": return t.relu6()
            case "relu_": return (t * 1).relu_()
            default: return t.relu()
            }
        }
        func f() -> Tensor { act(act(x).matmul(w1.transposed(0, 1))).matmul(w2.transposed(0, 1)).sum() }
        let plain = gradients(of: [f()], withRespectTo: [x])[0]
        #expect(plain.toArray(Float.self).contains { $0 < 0 }, "the plain gradient should have negative entries")
        let guided = withGuidedReLU { gradients(of: [f()], withRespectTo: [x])[0] }
        #expect(guided.toArray(Float.self).allSatisfy { $0 >= 0 })
        #expect(guided.toArray(Float.self).contains { $0 > 0 })
        // Off again outside the scope.
        #expect(gradients(of: [f()], withRespectTo: [x])[0].toArray(Float.self) == plain.toArray(Float.self))
    }
}

@Suite struct RolloutTests {
    @Test func rolloutRowsSumToOne() {
        let g = Generator(seed: 4)
        let maps = (0..<4).map { _ in g.randn([2, 3, 7, 7]).softmax(axis: -1) }
        let r = attentionRollout(maps)
        #expect(r.shape == [2, 7, 7])
        #expect(TestSupport.allClose(r.sum(axis: -1), Tensor.ones([2, 7]), atol: 1e-5).ok)
        #expect(r.toArray(Float.self).allSatisfy { $0 >= 0 })
        // Identity attention in every head leaves the identity.
        let eye = Tensor.eye(5).reshaped([1, 1, 5, 5]).expanded([1, 2, 5, 5])
        #expect(TestSupport.allClose(attentionRollout([eye, eye]), Tensor.eye(5).reshaped([1, 5, 5]), atol: 1e-6).ok)
    }

    @Test func rolloutOnAViT() throws {
        let entry = try ModelRegistry.entry("vit_tiny_patch4_32")
        let model = Generator(seed: 2).withInitialization { entry.make() }
        model.eval()
        var rng = SplitMix64(seed: 3)
        let map = try #require(try Explainer(model: model, preprocessing: entry.preprocessing, name: entry.name)
            .explain(toyImage(patch: (4, 4), rng: &rng), method: .rollout).first)
        #expect(map.width == 32 && map.height == 32)
        #expect(map.values.allSatisfy { $0.isFinite && $0 >= 0 })
        // Grad-CAM on the last block's tokens works too (tokens become an 8 x 8 grid).
        let cam = try Explainer(model: model, preprocessing: entry.preprocessing).explain(toyImage(patch: nil, rng: &rng), method: .gradcam)
        #expect(cam.first?.values.allSatisfy { $0.isFinite && $0 >= 0 } == true)
    }
}

@Suite struct PixelMapAndOutputTests {
    @Test func fcnPixelMapsAreProbabilitiesAtImageSize() throws {
        let entry = try ModelRegistry.entry("unet_small")
        let model = Generator(seed: 2).withInitialization { entry.make() }
        model.eval()
        var rng = SplitMix64(seed: 8)
        let image = toyImage(width: 64, height: 48, patch: (10, 10), rng: &rng)
        let map = try #require(try Explainer(model: model, preprocessing: entry.preprocessing, dense: entry.dense)
            .explain(image, method: .pixels).first)
        #expect(map.width == 64 && map.height == 48)
        #expect(map.values.allSatisfy { $0 > 0 && $0 < 1 })
    }

    @Test func npyRoundTripAndPictures() throws {
        let m = Heatmap(name: "t", width: 3, height: 2, values: [0, 1, 2, -3, 4.5, .pi])
        let d = m.npy()
        #expect(d.count % 4 == 0 && (d.count - 6 * 4) % 64 == 0)
        #expect(d.prefix(6) == Data([0x93]) + Data("NUMPY".utf8))
        #expect(try Heatmap.readNPY(d, name: "t") == m)
        #expect(throws: HeatmapError.self) { try Heatmap.readNPY(Data("nope".utf8)) }
        let color = m.colorImage()
        #expect(color.width == 3 && color.height == 2)
        // The lowest value is dark, the highest bright.
        #expect(Int(color.pixels[9]) + Int(color.pixels[10]) < 20 && Int(color.pixels[12]) + Int(color.pixels[13]) > 400)
        let over = m.overlay(on: Image(width: 6, height: 4, fill: (0, 128, 0)))
        #expect(over.width == 3 && over.height == 2)
    }
}

@Suite struct LocalisationTests {
    @Test(arguments: SpliceSetBuilder.Shape.allCases) func maskAreasAreNearTheTarget(shape: SpliceSetBuilder.Shape) {
        var rng = SplitMix64(seed: 5)
        for target in [0.05, 0.2, 0.4] {
            let m = SpliceSetBuilder.mask(shape, size: 64, area: target, rng: &rng)
            let area = Double(m.reduce(0, +)) / Double(m.count)
            #expect(m.allSatisfy { $0 == 0 || $0 == 1 })
            #expect(abs(area - target) < 0.35 * target + 0.01, "\(shape) area \(area) for target \(target)")
        }
    }

    /// A small set from toy images: files, masks whose area matches the manifest, pasted pixels inside the mask
    /// come from the fake; metrics are exact for perfect and empty predictions; a per-pixel model trains on it.
    @Test func spliceSetMetricsAndTraining() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("splice-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (reals, fakes) = try toySpliceSources(root, count: 12, side: 40, seed: 3)
        var b = SpliceSetBuilder()
        b.count = 20; b.size = 32; b.pristineFraction = 0.25; b.feather = 1
        let out = root.appendingPathComponent("set").path
        let items = try b.write(reals: reals, fakes: fakes, to: out)
        let reloaded = try SpliceSetBuilder.load(out)
        #expect(items.count == 20 && reloaded.map(\.image) == items.map(\.image) && reloaded.map(\.shape) == items.map(\.shape))
        #expect(zip(reloaded, items).allSatisfy { abs($0.area - $1.area) < 1e-5 })
        #expect(items.contains { $0.shape == "none" } && items.contains { $0.shape != "none" })
        for it in items {
            let image = try ImageDecoder().decode(path: "\(out)/\(it.image)").image
            let mask = try ImageDecoder().decode(path: "\(out)/\(it.mask)").image
            let inside = stride(from: 0, to: mask.pixels.count, by: 3).filter { mask.pixels[$0] > 127 }
            #expect(abs(Double(inside.count) / 1024 - it.area) < 1e-3)
            // Inside the mask the image is mostly the red fake: red well above green there.
            if !inside.isEmpty {
                let redness = inside.map { Double(image.pixels[$0]) - Double(image.pixels[$0 + 1]) }.reduce(0, +) / Double(inside.count)
                #expect(redness > 120, "mean red - green inside the mask \(redness)")
            }
            if it.shape == "none" { #expect(inside.isEmpty) }
        }
        let all = items
        func truth(_ image: Image, _ item: SpliceSetBuilder.Item) -> [Float] {
            let m = (try? ImageDecoder().decode(path: "\(out)/\(item.mask)").image)!
            return stride(from: 0, to: m.pixels.count, by: 3).map { m.pixels[$0] > 127 ? 1 : 0 }
        }
        var k = 0
        let perfect = LocalisationEvaluation.run(items: all, root: out) { im in defer { k += 1 }; return truth(im, all[k]) }
        #expect(perfect.pixel.f1 == 1 && perfect.pixel.iou == 1 && perfect.pixel.dice == 1)
        #expect(perfect.aiRateSpliced == 1 && perfect.aiRatePristine == 0)
        #expect(perfect.quartiles.map(\.images).reduce(0, +) == perfect.pixel.images)
        let empty = LocalisationEvaluation.run(items: all, root: out) { im in [Float](repeating: 0, count: im.width * im.height) }
        #expect(empty.pixel.recall == 0 && empty.aiRateSpliced == 0)
        let everything = LocalisationEvaluation.run(items: all, root: out) { im in [Float](repeating: 1, count: im.width * im.height) }
        #expect(everything.pixel.recall == 1 && everything.aiRatePristine == 1)

        var c = LocalisationTrainer.Config(data: out)
        c.epochs = 1; c.batchSize = 4; c.inputSize = 32
        let t = LocalisationTrainer(config: c, directory: root.appendingPathComponent("run").path)
        let history = try t.run()
        #expect(history.count == 1 && history[0].trainLoss.isFinite)
        let d = try Detector(path: t.modelPath)
        #expect(d.entry.dense && d.entry.name == "unet_small")
    }
}

/// The YOLO-style box detector and box metrics (issue 19).
struct BoxLocalisationTests {
    @Test func boxGeometryAndSuppression() {
        let a = ScoredBox(x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9), b = ScoredBox(x1: 5, y1: 0, x2: 15, y2: 10, score: 0.8)
        #expect(abs(a.iou(b) - 50.0 / 150.0) < 1e-12)
        #expect(a.iou(ScoredBox(x1: 20, y1: 20, x2: 30, y2: 30)) == 0)
        #expect(nonMaximumSuppression([b, a], iou: 0.3) == [a])
        #expect(nonMaximumSuppression([b, a], iou: 0.4) == [a, b])
        // GIoU: identical boxes 1; disjoint boxes below 0 (hull penalty).
        let g = BoxDetector.giou(Tensor([0, 0, 10, 10, 0, 0, 10, 10] as [Float], shape: [2, 4]), Tensor([0, 0, 10, 10, 20, 0, 30, 10] as [Float], shape: [2, 4]))
        let v = g.toArray(Float.self)
        #expect(abs(v[0] - 1) < 1e-5 && abs(v[1] - (0 - 10.0 / 30.0)) < 1e-5)
    }

    /// COCO-style AP by hand: TP (0.9), FP (0.8), TP (0.7) over two truths: precision envelope 1 up to recall 0.5,
    /// then 2/3: (51 x 1 + 50 x 2/3) / 101.
    @Test func averagePrecisionByHand() {
        let t0 = ScoredBox(x1: 0, y1: 0, x2: 10, y2: 10), t1 = ScoredBox(x1: 20, y1: 20, x2: 30, y2: 30)
        let images: [(truth: [ScoredBox], found: [ScoredBox])] = [
            ([t0], [ScoredBox(x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9)]),
            ([t1], [ScoredBox(x1: 0, y1: 20, x2: 5, y2: 25, score: 0.8), ScoredBox(x1: 21, y1: 20, x2: 30, y2: 30, score: 0.7)]),
        ]
        #expect(abs(BoxEvaluation.averagePrecision(images, iou: 0.5) - (51 + 50 * 2.0 / 3) / 101) < 1e-12)
        // At IoU 0.95 the second hit (IoU 0.9) no longer counts: recall stops at 0.5.
        #expect(abs(BoxEvaluation.averagePrecision(images, iou: 0.95) - 51.0 / 101) < 1e-12)
        #expect(BoxEvaluation.averagePrecision([([], [t0])], iou: 0.5) == 0)
    }

    @Test func maskComponentsBecomeBoxes() {
        var p = [Float](repeating: 0, count: 20 * 10)
        for y in 2..<6 { for x in 1..<5 { p[y * 20 + x] = 0.8 } }      // 16 px at 0.8
        for y in 1..<9 { for x in 10..<18 { p[y * 20 + x] = 0.9 } }    // 64 px at 0.9
        p[0] = 1                                                        // 1 px: too small
        let boxes = BoxLocalisation.boxes(probabilities: p, width: 20, height: 10)
        #expect(boxes.count == 2)
        #expect(boxes[0] == ScoredBox(x1: 10, y1: 1, x2: 18, y2: 9, score: Double(Float(0.9))))
        #expect(boxes[1].x1 == 1 && boxes[1].y1 == 2 && boxes[1].x2 == 5 && boxes[1].y2 == 6)
    }

    /// Targets: the location holding a box's centre is always positive, locations outside every box never are; the
    /// raw outputs decode to boxes around their locations; training on a toy splice set (red regions pasted into
    /// textured reals) finds the regions, and the model file round-trips.
    @Test func detectorLearnsToySplices() throws {
        let d = BoxDetector()
        let (pos, boxes) = d.targets(truths: [ScoredBox(x1: 8, y1: 8, x2: 40, y2: 24)], height: 64, width: 64)
        #expect(pos.count == 64 && pos[(16 / 8) * 8 + 24 / 8] && boxes[(16 / 8) * 8 + 24 / 8] != nil)
        #expect(!pos[7 * 8 + 7] && !pos[0])
        let decoded = d.decode(Tensor.zeros([1, 4, 2, 2])).toArray(Float.self)
        #expect(decoded.prefix(4) == [-4, -4, 12, 12])   // location (0, 0): centre 4, one stride each way

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("boxes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (reals, fakes) = try toySpliceSources(root, count: 24, side: 64, seed: 4)
        var b = SpliceSetBuilder()
        b.count = 40; b.size = 64; b.pristineFraction = 0.2; b.feather = 1; b.area = 0.1...0.4
        let out = root.appendingPathComponent("set").path
        let items = try b.write(reals: reals, fakes: fakes, to: out)
        // Perfect boxes score 1, no boxes 0.
        let perfect = BoxEvaluation.run(items: items, root: out) { image in
            let i = items.firstIndex { (try? ImageDecoder().decode(path: "\(out)/\($0.image)").image.pixels) == image.pixels }!
            return BoxLocalisation.truth(mask: try! ImageDecoder().decode(path: "\(out)/\(items[i].mask)").image)
        }
        #expect(perfect.all.map50 == 1 && perfect.all.map5095 == 1 && perfect.flaggedPristine == 0)
        #expect(BoxEvaluation.run(items: items, root: out) { _ in [] }.all.map50 == 0)

        var c = BoxLocalisation.Trainer.Config(data: out)
        c.epochs = 12; c.batchSize = 8; c.inputSize = 64; c.learningRate = 2e-3
        let t = BoxLocalisation.Trainer(config: c, directory: root.appendingPathComponent("run").path)
        let history = try t.run()
        #expect(history.count == 12 && history.allSatisfy { $0.trainLoss.isFinite })
        #expect(history.last!.trainLoss < history.first!.trainLoss)
        let model = try BoxLocalisation.Model.load(t.modelPath)
        #expect(model.inputSize == 64)
        let train = BoxEvaluation.run(items: items.filter { $0.split == "train" }, root: out) { model.predict($0) }
        #expect(train.all.map50 > 0.3, "mAP@0.5 on the training images \(train.all.map50)")
        #expect(throws: (any Error).self) { try BoxLocalisation.Model.load(root.appendingPathComponent("src/r0.png").path) }
    }
}

/// The image-level threshold of a per-pixel localiser and the splice set's separation of sources (issue 16).
struct LocalisationThresholdTests {
    /// The threshold lets at most the allowed share of pristine images through and the statistic that catches the
    /// most spliced images wins; without pristine or spliced images there is nothing to fit.
    @Test func fitKeepsPristineImagesClean() throws {
        let pristine = [true, true, true, true, false, false, false, false]
        let scores: [LocalisationStatistic: [Double]] = [
            .bestRegion: [0.1, 0.2, 0.3, 0.9, 0.5, 0.6, 0.95, 0.2],      // a pristine image scores 0.9: only 0.95 passes it
            .flaggedFraction: [0.0, 0.01, 0.02, 0.03, 0.2, 0.3, 0.4, 0.01],
        ]
        let t = try #require(LocalisationThreshold.fit(scores: scores, isPristine: pristine, maxPristine: 0.05))
        #expect(t.statistic == .flaggedFraction && t.threshold > 0.03 && t.threshold <= 0.2)
        #expect(t.pristineFlagged == 0 && t.splicedFlagged == 0.75 && t.pristine == 4 && t.spliced == 4)
        // Allowing a quarter of the pristine images: one of the four may be flagged.
        let loose = try #require(LocalisationThreshold.fit(scores: scores, isPristine: pristine, maxPristine: 0.25))
        #expect(loose.pristineFlagged == 0.25 && loose.splicedFlagged >= 0.75)
        #expect(LocalisationThreshold.fit(scores: scores, isPristine: [Bool](repeating: true, count: 8)) == nil)
        // The statistics on a known map: one 4x4 region at 0.8 in a 16x16 map of zeros.
        var map = [Float](repeating: 0, count: 256)
        for y in 4..<8 { for x in 4..<8 { map[y * 16 + x] = 0.8 } }
        #expect(abs(LocalisationStatistic.bestRegion.score(map, width: 16, height: 16) - 0.8) < 1e-6)
        #expect(LocalisationStatistic.flaggedFraction.score(map, width: 16, height: 16) == 16.0 / 256)
        #expect(abs(LocalisationStatistic.percentile99.score(map, width: 16, height: 16) - 0.8) < 1e-6)
    }

    /// Native-resolution crops, real-into-real pastes with empty masks, a JPEG round trip, and every source (host
    /// or donor) in exactly one split.
    @Test func spliceSetKeepsEverySourceInOneSplit() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("splice-split-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (reals, fakes) = try toySpliceSources(root, count: 30, side: 64, seed: 5)
        var b = SpliceSetBuilder()
        b.count = 50; b.size = 32; b.pristineFraction = 0.2; b.realPasteFraction = 0.3; b.jpegQuality = 85...95; b.nativeResolution = true
        let out = root.appendingPathComponent("set").path
        let items = try b.write(reals: reals, fakes: fakes, to: out)
        #expect(items.count == 50)
        var splitOf: [String: String] = [:]
        for it in items {
            for source in [it.real, it.fake] where !source.isEmpty {
                #expect(splitOf[source].map { $0 == it.split } ?? true, "\(source) in \(splitOf[source]!) and \(it.split)")
                splitOf[source] = it.split
            }
        }
        let realPasted = items.filter { $0.shape.hasPrefix("real-") }
        #expect(!realPasted.isEmpty && realPasted.allSatisfy { $0.isPristine && $0.area == 0 && $0.fake.hasPrefix("src/r") })
        // Their masks are empty (a localiser must not learn "pasted" as "AI"); the AI pastes' masks are not.
        for it in items {
            let mask = try ImageDecoder().decode(path: "\(out)/\(it.mask)").image
            let on = stride(from: 0, to: mask.pixels.count, by: 3).filter { mask.pixels[$0] > 127 }.count
            #expect(it.isPristine ? on == 0 : on > 0, "\(it.shape): \(on) mask pixels")
        }
        #expect(items.contains { !$0.isPristine && $0.fake.hasPrefix("src/f") && $0.area > 0 })
        // Native crops are 32 px windows of the 64 px sources, not the whole image resized.
        let first = try ImageDecoder().decode(path: "\(out)/\(items[0].image)").image
        #expect(first.width == 32 && first.height == 32)
    }
}
