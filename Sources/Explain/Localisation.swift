import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// Trains a per-pixel model (`unet_small`, `fcn_resnet50`) on a splice set: per-pixel binary cross-entropy
/// against the masks, Adam, random flips, the best epoch by validation F1 kept. Resumable at epoch granularity
/// (`checkpoint.safetensors` holds the weights and the epoch); the result is an aidetect model file.
public struct LocalisationTrainer {
    public struct Config: Sendable, Codable, Equatable {
        public var model = "unet_small"
        public var data: String
        public var epochs = 5
        public var batchSize = 8
        public var learningRate = 1e-3
        /// Training images are resized to this size (the model sees full-size images at evaluation).
        public var inputSize = 256
        public var seed: UInt64 = 0
        /// At most this many training images (nil: all).
        public var cap: Int?
        public init(data: String) { self.data = data }
    }
    public struct Record: Sendable, Codable {
        public var epoch: Int, trainLoss: Double, validationF1: Double, seconds: Double
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }

    public var modelPath: String { directory + "/best.safetensors" }

    /// Image [3, S, S] normalised and mask [1, S, S] of one item at `size`.
    static func pair(_ item: SpliceSetBuilder.Item, root: String, size: Int, preprocessing pre: Preprocessing) throws -> (Tensor, Tensor) {
        var image = try ImageDecoder().decode(path: "\(root)/\(item.image)").image
        var mask = try ImageDecoder().decode(path: "\(root)/\(item.mask)").image
        if image.width != size || image.height != size {
            image = image.resized(width: size, height: size, filter: .area)
            mask = mask.resized(width: size, height: size, filter: .bilinear)
        }
        let m = stride(from: 0, to: mask.pixels.count, by: 3).map { Float(mask.pixels[$0] > 127 ? 1 : 0) }
        return (image.normalizedTensor(mean: pre.mean, std: pre.std), Tensor(m, shape: [1, size, size]))
    }

    @discardableResult
    public func run() throws -> [Record] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let entry = try ModelRegistry.entry(config.model)
        guard entry.dense else { throw ExplainError.notApplicable(.pixels, model: config.model, reason: "it is not a per-pixel model") }
        let model = Generator(seed: config.seed).withInitialization { entry.make(ModelOptions(classes: 1)) }
        let optimizer = Adam(parameters: model.parameters(), learningRate: config.learningRate)
        let items = try SpliceSetBuilder.load(config.data)
        var train = items.filter { $0.split == "train" }
        if let cap = config.cap { train = Array(train.prefix(cap)) }
        let validation = items.filter { $0.split == "validation" }
        let checkpoint = EpochCheckpoint<Record>(path: directory + "/checkpoint.safetensors")
        let (startEpoch, resumed) = try checkpoint.resume(model, log: log)
        var history = resumed
        let pre = entry.preprocessing
        for epoch in startEpoch..<config.epochs {
            let start = Date()
            model.train()
            var rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 7919)
            let order = train.indices.map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.map(\.0)
            var lossSum = 0.0, seen = 0
            for b in stride(from: 0, to: order.count, by: config.batchSize) {
                var xs: [Tensor] = [], ys: [Tensor] = []
                for i in order[b..<min(b + config.batchSize, order.count)] {
                    guard var (x, y) = try? Self.pair(train[i], root: config.data, size: config.inputSize, preprocessing: pre) else { continue }
                    if rng.chance(0.5) { x = x.flipped([2]); y = y.flipped([2]) }
                    xs.append(x); ys.append(y)
                }
                guard !xs.isEmpty else { continue }
                let x = stacked(xs), y = stacked(ys)
                // Pasted pixels are a minority: weight them by the batch's negative/positive ratio (at most 10).
                let pos = max(y.sum().item(), 1), total = Double(y.count)
                let weight = Tensor([Float(min(10, (total - pos) / pos))])
                let loss = binaryCrossEntropyWithLogits(model(x), targets: y, posWeight: weight)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                lossSum += loss.item() * Double(xs.count)
                seen += xs.count
            }
            model.eval()
            let f1 = LocalisationEvaluation.run(items: validation, root: config.data) { image in
                Self.predict(model, image, preprocessing: pre)
            }.pixel.f1
            let record = Record(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)), validationF1: f1, seconds: Date().timeIntervalSince(start))
            history.append(record)
            log(String(format: "epoch %d/%d  loss %.4f  validation pixel F1 %.3f  %.0f s", epoch + 1, config.epochs, record.trainLoss, f1, record.seconds))
            if f1 >= (history.dropLast().map(\.validationF1).max() ?? -1) || !fm.fileExists(atPath: modelPath) {
                try saveDetector(model, architecture: config.model, path: modelPath,
                                 description: "per-pixel localisation model trained on \((config.data as NSString).lastPathComponent), epoch \(epoch + 1)")
            }
            try checkpoint.save(model, epoch: epoch + 1, history: history)
        }
        LocalisationThreshold.fitAfterTraining(model: modelPath, data: config.data, log: log)
        return history
    }

    /// Per-pixel P(pasted) at the image's size.
    public static func predict(_ model: Module, _ image: Image, preprocessing pre: Preprocessing) -> [Float] {
        withNoGrad { model(stacked([image.normalizedTensor(mean: pre.mean, std: pre.std)])).sigmoid() }.reshaped([-1]).toArray(Float.self)
    }
}

/// A localisation trainer's checkpoint after each epoch: the weights, the epochs done and the history, replaced
/// atomically; a rerun resumes from it.
struct EpochCheckpoint<Record: Codable> {
    let path: String

    /// Loads the weights into `model`: (epochs done, history), or (0, []) when there is no checkpoint yet.
    func resume(_ model: Module, log: (String) -> Void) throws -> (Int, [Record]) {
        guard FileManager.default.fileExists(atPath: path) else { return (0, []) }
        let (t, meta) = try Safetensors.load(path: path)
        try model.loadStateDict(t)
        let epoch = Int(meta["epoch"] ?? "0") ?? 0
        let history = meta["history"].flatMap { try? JSONDecoder().decode([Record].self, from: Data($0.utf8)) } ?? []
        log("resumed after epoch \(epoch)")
        return (epoch, history)
    }

    func save(_ model: Module, epoch: Int, history: [Record]) throws {
        let meta = ["epoch": String(epoch), "history": String(decoding: try JSONEncoder().encode(history), as: UTF8.self)]
        try Safetensors.save(model.stateDict(), metadata: meta, path: path)   // atomic: the old checkpoint or the new one, never none
    }
}

/// True positives, false positives and false negatives of map `p` (flagged from `cut`) against a mask image (white =
/// pasted), pixel by pixel.
func pixelCounts(_ p: [Float], mask: Image, cut: Float) -> (tp: Double, fp: Double, fn: Double) {
    var tp = 0.0, fp = 0.0, fn = 0.0
    for i in 0..<(mask.width * mask.height) {
        let truth = mask.pixels[3 * i] > 127, said = p[i] >= cut
        if truth && said { tp += 1 } else if said { fp += 1 } else if truth { fn += 1 }
    }
    return (tp, fp, fn)
}

/// Rows in four parts by pasted area (Q1 the smallest; the counts differ by at most one) and each part's largest
/// area, the upper bound that `quartileName` prints. The pixel and box evaluations share it, so their quartiles match.
func areaQuartiles<Row>(_ rows: [Row], area: (Row) -> Double) -> (parts: [[Row]], bounds: [Double]) {
    let sorted = rows.sorted { area($0) < area($1) }
    let parts = (0..<4).map { q in Array(sorted[(sorted.count * q / 4)..<(sorted.count * (q + 1) / 4)]) }
    return (parts, parts.map { $0.last.map(area) ?? .nan })
}

/// "Q2 (area 13.2-24.5%)": quartile `i` of `areaQuartiles`, from the previous quartile's bound to its own.
func quartileName(_ i: Int, bounds: [Double]) -> String {
    String(format: "Q%d (area %.1f-%.1f%%)", i + 1, (i > 0 ? bounds[i - 1] : 0) * 100, bounds[i] * 100)
}

/// Localisation metrics (study 003, table 4.8): pixel precision/recall/F1, IoU and Dice over the spliced test
/// images (pooled over pixels, and the mean per-image IoU), the same by quartile of pasted area, and the
/// image-level "AI rate": the share of spliced images (and of pristine ones: false alarms) where at least
/// `imageThreshold` of the pixels are predicted as pasted.
public struct LocalisationEvaluation: Sendable, Codable {
    public struct Pixel: Sendable, Codable {
        public var precision = 0.0, recall = 0.0, f1 = 0.0, iou = 0.0, dice = 0.0, meanImageIoU = 0.0
        public var images = 0
    }
    public var pixel: Pixel
    /// One scored image: its counts at the pixel cut, whether the fitted threshold flagged it, and where its parts
    /// came from (the splice manifest's host and donor ids), for breakdowns by source.
    public struct ImageRow: Sendable, Codable {
        public var image: String, shape: String, area: Double, host: String, donor: String, pristine: Bool
        public var tp: Double, fp: Double, fn: Double
        public var flaggedByThreshold: Bool?
    }
    /// Every scored image (nil in reports written before it existed).
    public var rows: [ImageRow]?
    /// Quartiles of pasted area (Q1 smallest); `areaBounds` holds their upper bounds.
    public var quartiles: [Pixel]
    public var areaBounds: [Double]
    public var aiRateSpliced: Double
    public var aiRatePristine: Double
    public var pristine: Int
    /// With the model file's fitted image-level threshold (`LocalisationThreshold`): the share of spliced and of
    /// pristine images said to contain an AI region; nil when no threshold was given.
    public var fittedRateSpliced: Double?
    public var fittedRatePristine: Double?
    /// The per-pixel probability from which a pixel counted as flagged.
    public var pixelThreshold: Double?

    /// Evaluates `predict` (image -> per-pixel probability, row-major at the image's size) on `items`.
    public static func run(items: [SpliceSetBuilder.Item], root: String, threshold: Float = 0.5, imageThreshold: Double = 0.01,
                           fitted: LocalisationThreshold? = nil, predict: (Image) -> [Float]) -> LocalisationEvaluation {
        struct Counts { var tp = 0.0, fp = 0.0, fn = 0.0, iouSum = 0.0, n = 0 }
        var perImage: [(area: Double, tp: Double, fp: Double, fn: Double)] = []
        var pristineFlagged = 0, pristine = 0, splicedFlagged = 0, fittedPristine = 0, fittedSpliced = 0
        var rows: [ImageRow] = []
        for item in items {
            guard let image = try? ImageDecoder().decode(path: "\(root)/\(item.image)").image,
                  let mask = try? ImageDecoder().decode(path: "\(root)/\(item.mask)").image,
                  mask.width == image.width, mask.height == image.height else { continue }
            let p = predict(image)
            let (tp, fp, fn) = pixelCounts(p, mask: mask, cut: threshold)
            let flagged = (tp + fp) / Double(image.width * image.height) >= imageThreshold
            let byFit = fitted.map { $0.statistic.score(p, width: image.width, height: image.height, cut: $0.cut) >= $0.threshold } ?? false
            rows.append(ImageRow(image: item.image, shape: item.shape, area: item.area, host: item.real, donor: item.fake, pristine: item.isPristine,
                                 tp: tp, fp: fp, fn: fn, flaggedByThreshold: fitted == nil ? nil : byFit))
            if item.isPristine {
                pristine += 1
                if flagged { pristineFlagged += 1 }
                if byFit { fittedPristine += 1 }
            } else {
                if flagged { splicedFlagged += 1 }
                if byFit { fittedSpliced += 1 }
                perImage.append((item.area, tp, fp, fn))
            }
        }
        func summarise(_ rows: [(area: Double, tp: Double, fp: Double, fn: Double)]) -> Pixel {
            var c = Counts()
            for r in rows {
                c.tp += r.tp; c.fp += r.fp; c.fn += r.fn; c.n += 1
                let u = r.tp + r.fp + r.fn
                c.iouSum += u > 0 ? r.tp / u : 1
            }
            var px = Pixel()
            px.precision = c.tp + c.fp > 0 ? c.tp / (c.tp + c.fp) : 0
            px.recall = c.tp + c.fn > 0 ? c.tp / (c.tp + c.fn) : 0
            px.f1 = px.precision + px.recall > 0 ? 2 * px.precision * px.recall / (px.precision + px.recall) : 0
            px.iou = c.tp + c.fp + c.fn > 0 ? c.tp / (c.tp + c.fp + c.fn) : 0
            px.dice = 2 * c.tp + c.fp + c.fn > 0 ? 2 * c.tp / (2 * c.tp + c.fp + c.fn) : 0
            px.meanImageIoU = c.n > 0 ? c.iouSum / Double(c.n) : 0
            px.images = c.n
            return px
        }
        let (parts, bounds) = areaQuartiles(perImage) { $0.area }
        return LocalisationEvaluation(pixel: summarise(perImage), rows: rows, quartiles: parts.map(summarise), areaBounds: bounds,
                                      aiRateSpliced: perImage.isEmpty ? .nan : Double(splicedFlagged) / Double(perImage.count),
                                      aiRatePristine: pristine == 0 ? .nan : Double(pristineFlagged) / Double(pristine), pristine: pristine,
                                      fittedRateSpliced: fitted == nil || perImage.isEmpty ? nil : Double(fittedSpliced) / Double(perImage.count),
                                      fittedRatePristine: fitted == nil || pristine == 0 ? nil : Double(fittedPristine) / Double(pristine),
                                      pixelThreshold: Double(threshold))
    }

    /// The per-image rows as CSV (header first), or nil without rows.
    public var rowsCSV: String? {
        guard let rows else { return nil }
        var s = "image,shape,area,host,donor,pristine,tp,fp,fn,flagged_by_threshold\n"
        for r in rows {
            s += [r.image, r.shape, String(format: "%.5f", r.area), Dataset.csvField(r.host), Dataset.csvField(r.donor), r.pristine ? "1" : "0",
                  String(Int(r.tp)), String(Int(r.fp)), String(Int(r.fn)), r.flaggedByThreshold.map { $0 ? "1" : "0" } ?? ""].joined(separator: ",") + "\n"
        }
        return s
    }

    public var markdown: String {
        func row(_ name: String, _ p: Pixel) -> String {
            String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", name, p.images, p.precision, p.recall, p.f1, p.iou, p.dice, p.meanImageIoU)
        }
        var s = pixelThreshold.map { String(format: "Pixels flagged from P >= %.2f.\n\n", $0) } ?? ""
        s += "| spliced images | n | pixel precision | recall | F1 | IoU | Dice | mean image IoU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        s += row("all", pixel)
        for (i, q) in quartiles.enumerated() { s += row(quartileName(i, bounds: areaBounds), q) }
        s += String(format: "\nImage-level AI rate: %.1f%% of spliced images, %.1f%% of %d pristine reals (false alarms).\n",
                    aiRateSpliced * 100, aiRatePristine * 100, pristine)
        if let a = fittedRateSpliced, let b = fittedRatePristine {
            s += String(format: "With the image-level threshold fitted on validation: %.1f%% of spliced images and %.1f%% of pristine ones contain an AI region.\n",
                        a * 100, b * 100)
        }
        return s
    }
}

/// The training-free baseline: an image-level detector slid over the image in windows of `window` pixels with
/// `stride`; each pixel gets the mean calibrated P(AI) of the windows that cover it.
public struct TileScan {
    public let detector: Detector
    public var window: Int
    public var stride: Int
    public init(detector: Detector, window: Int = 64, stride: Int = 32) {
        self.detector = detector
        self.window = window
        self.stride = stride
    }

    public func map(_ image: Image) -> [Float] {
        let w = image.width, h = image.height
        let win = min(window, w, h)
        func starts(_ n: Int) -> [Int] {
            var s = Array(Swift.stride(from: 0, through: max(n - win, 0), by: max(stride, 1)))
            if let last = s.last, last + win < n { s.append(n - win) }
            return s
        }
        var sum = [Float](repeating: 0, count: w * h), count = [Float](repeating: 0, count: w * h)
        for y in starts(h) {
            for x in starts(w) {
                let p = Float(detector.score(image.cropped(x: x, y: y, width: win, height: win)).probability)
                for yy in y..<(y + win) {
                    for xx in x..<(x + win) { sum[yy * w + xx] += p; count[yy * w + xx] += 1 }
                }
            }
        }
        return zip(sum, count).map { $1 > 0 ? $0 / $1 : 0 }
    }
}
