import Detection
import Foundation
import Imaging
import ImagingTorch
import Models
import NN
import Torch

/// The YOLO-style box detector (`BoxDetector`) as a product: training on a splice set's region boxes, its model file,
/// prediction on any image, and box metrics (COCO-style mAP) for it and for the mask models' regions.
public enum BoxLocalisation {
    public static let architecture = "yolo_resnet18"

    /// The pasted region's box (the bounding box of the mask's white pixels), or none for a pristine image.
    public static func truth(mask: Image) -> [ScoredBox] {
        var x1 = Int.max, y1 = Int.max, x2 = -1, y2 = -1
        for y in 0..<mask.height {
            for x in 0..<mask.width where mask.pixels[3 * (y * mask.width + x)] > 127 {
                x1 = min(x1, x); y1 = min(y1, y); x2 = max(x2, x); y2 = max(y2, y)
            }
        }
        guard x2 >= 0 else { return [] }
        return [ScoredBox(x1: Double(x1), y1: Double(y1), x2: Double(x2 + 1), y2: Double(y2 + 1))]
    }

    /// Regions of a per-pixel probability map as boxes: connected components (4-neighbour) of pixels at or above
    /// `threshold` with at least `minimumPixels`, each scored by its mean probability (how the mask models are
    /// compared with the box detector).
    public static func boxes(probabilities p: [Float], width: Int, height: Int, threshold: Float = 0.5, minimumPixels: Int = 16) -> [ScoredBox] {
        var seen = [Bool](repeating: false, count: width * height)
        var out: [ScoredBox] = []
        var stack: [Int] = []
        for start in 0..<(width * height) where !seen[start] && p[start] >= threshold {
            seen[start] = true
            stack = [start]
            var x1 = width, y1 = height, x2 = 0, y2 = 0, count = 0, sum = 0.0
            while let i = stack.popLast() {
                let x = i % width, y = i / width
                x1 = min(x1, x); y1 = min(y1, y); x2 = max(x2, x + 1); y2 = max(y2, y + 1)
                count += 1; sum += Double(p[i])
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < width && ny < height {
                    let j = ny * width + nx
                    if !seen[j] && p[j] >= threshold { seen[j] = true; stack.append(j) }
                }
            }
            if count >= minimumPixels {
                out.append(ScoredBox(x1: Double(x1), y1: Double(y1), x2: Double(x2), y2: Double(y2), score: sum / Double(count)))
            }
        }
        return out.sorted { $0.score > $1.score }
    }

    /// A trained box detector with what it needs at prediction time.
    public struct Model {
        public let detector: BoxDetector
        /// Images are resized to this square side before detection (boxes are mapped back).
        public let inputSize: Int
        /// Image-level threshold: an image "contains an AI region" when its best box scores at least this (fitted on
        /// validation so that pristine images stay clean).
        public let imageThreshold: Double
        public let preprocessing: Preprocessing

        public init(detector: BoxDetector, inputSize: Int, imageThreshold: Double, preprocessing: Preprocessing) {
            self.detector = detector
            self.inputSize = inputSize
            self.imageThreshold = imageThreshold
            self.preprocessing = preprocessing
        }

        /// Boxes in the image's own pixels, best first.
        public func predict(_ image: Image, minimumScore: Double = 0.05) -> [ScoredBox] {
            let x = image.resized(width: inputSize, height: inputSize, filter: .area).normalizedTensor(mean: preprocessing.mean, std: preprocessing.std)
            let found = detector.detect(stacked([x]), minimumScore: minimumScore)[0]
            return found.map { $0.scaled(Double(image.width) / Double(inputSize), Double(image.height) / Double(inputSize)) }
        }

        public func save(path: String, description: String) throws {
            try saveDetector(detector, architecture: BoxLocalisation.architecture, path: path, description: description, preprocessing: preprocessing,
                             extra: ["aidetect.box.input_size": String(inputSize), "aidetect.box.image_threshold": String(imageThreshold)])
        }

        public static func load(_ path: String) throws -> Model {
            let (t, meta) = try Safetensors.load(path: path)
            guard meta["aidetect.model"] == BoxLocalisation.architecture else {
                throw CheckpointError.malformed(path: path, reason: "not a box detector (aidetect.model is \(meta["aidetect.model"] ?? "missing"), not \(BoxLocalisation.architecture))")
            }
            let d = BoxDetector()
            try d.loadStateDict(t)
            d.eval()
            let pre = meta["aidetect.preprocessing"].flatMap { try? JSONDecoder().decode(Preprocessing.self, from: Data($0.utf8)) } ?? .imagenet
            return Model(detector: d, inputSize: Int(meta["aidetect.box.input_size"] ?? "") ?? 128,
                         imageThreshold: Double(meta["aidetect.box.image_threshold"] ?? "") ?? 0.5, preprocessing: pre)
        }
    }

    /// Trains `BoxDetector` on a splice set (train split; the best epoch by validation mAP@0.5 kept), resumable at
    /// epoch granularity like `LocalisationTrainer`.
    public struct Trainer {
        public struct Config: Sendable, Codable, Equatable {
            public var data: String
            public var epochs = 30
            public var batchSize = 16
            public var learningRate = 1e-3
            public var inputSize = 128
            public var seed: UInt64 = 0
            public var cap: Int?
            public init(data: String) { self.data = data }
        }
        public struct Record: Sendable, Codable {
            public var epoch: Int, trainLoss: Double, validationMAP50: Double, seconds: Double
        }
        public let config: Config
        public let directory: String
        public var log: (String) -> Void = { _ in }
        public init(config: Config, directory: String) {
            self.config = config
            self.directory = directory
        }
        public var modelPath: String { directory + "/best.safetensors" }

        /// An item's image resized to the training size, normalised, and its truth boxes at that size.
        static func example(_ item: SpliceSetBuilder.Item, root: String, size: Int, preprocessing pre: Preprocessing) throws -> (Tensor, [ScoredBox]) {
            let image = try ImageDecoder().decode(path: "\(root)/\(item.image)").image
            let mask = try ImageDecoder().decode(path: "\(root)/\(item.mask)").image
            let boxes = truth(mask: mask).map { $0.scaled(Double(size) / Double(image.width), Double(size) / Double(image.height)) }
            return (image.resized(width: size, height: size, filter: .area).normalizedTensor(mean: pre.mean, std: pre.std), boxes)
        }

        @discardableResult
        public func run() throws -> [Record] {
            let fm = FileManager.default
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let pre = Preprocessing(inputSize: config.inputSize, mean: Preprocessing.imagenet.mean, std: Preprocessing.imagenet.std,
                                    policy: .resize, interpolation: "area", cropFraction: 1)
            let model = Generator(seed: config.seed).withInitialization { BoxDetector() }
            let optimizer = Adam(parameters: model.parameters(), learningRate: config.learningRate)
            let items = try SpliceSetBuilder.load(config.data)
            var train = items.filter { $0.split == "train" }
            if let cap = config.cap { train = Array(train.prefix(cap)) }
            let validation = items.filter { $0.split == "validation" }
            // Training examples are small (128 px): decode them once.
            let examples = train.compactMap { try? Self.example($0, root: config.data, size: config.inputSize, preprocessing: pre) }
            guard !examples.isEmpty else { throw DatasetError.empty(config.data) }
            let checkpoint = EpochCheckpoint<Record>(path: directory + "/checkpoint.safetensors")
            let (startEpoch, resumed) = try checkpoint.resume(model, log: log)
            var history = resumed
            let s = Double(config.inputSize)
            for epoch in startEpoch..<config.epochs {
                let start = Date()
                model.train()
                var rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 7919)
                let order = examples.indices.map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.map(\.0)
                var lossSum = 0.0, seen = 0
                for b in stride(from: 0, to: order.count, by: config.batchSize) {
                    var xs: [Tensor] = [], ys: [[ScoredBox]] = []
                    for i in order[b..<min(b + config.batchSize, order.count)] {
                        var (x, boxes) = examples[i]
                        // Flips, with the boxes flipped alike.
                        if rng.chance(0.5) { x = x.flipped([2]); boxes = boxes.map { ScoredBox(x1: s - $0.x2, y1: $0.y1, x2: s - $0.x1, y2: $0.y2) } }
                        if rng.chance(0.5) { x = x.flipped([1]); boxes = boxes.map { ScoredBox(x1: $0.x1, y1: s - $0.y2, x2: $0.x2, y2: s - $0.y1) } }
                        xs.append(x); ys.append(boxes)
                    }
                    let loss = model.loss(stacked(xs), truths: ys)
                    optimizer.zeroGrad()
                    loss.backward()
                    optimizer.step()
                    lossSum += loss.item() * Double(xs.count)
                    seen += xs.count
                }
                model.eval()
                let candidate = Model(detector: model, inputSize: config.inputSize, imageThreshold: 0.5, preprocessing: pre)
                let ev = BoxEvaluation.run(items: validation, root: config.data) { candidate.predict($0) }
                let record = Record(epoch: epoch + 1, trainLoss: lossSum / Double(max(seen, 1)), validationMAP50: ev.all.map50,
                                    seconds: Date().timeIntervalSince(start))
                history.append(record)
                log(String(format: "epoch %d/%d  loss %.4f  validation mAP@0.5 %.3f  %.0f s", epoch + 1, config.epochs, record.trainLoss,
                           record.validationMAP50, record.seconds))
                if record.validationMAP50 >= (history.dropLast().map(\.validationMAP50).max() ?? -1) || !fm.fileExists(atPath: modelPath) {
                    let fitted = Model(detector: model, inputSize: config.inputSize, imageThreshold: ev.fittedThreshold, preprocessing: pre)
                    try fitted.save(path: modelPath, description: "box detector trained on \((config.data as NSString).lastPathComponent), epoch \(epoch + 1)")
                }
                try checkpoint.save(model, epoch: epoch + 1, history: history)
            }
            return history
        }
    }
}

/// Box metrics on a splice set (study 003's YOLO table): COCO-style average precision (101-point interpolation,
/// greedy matching by score) at IoU 0.5 and averaged over IoU 0.5:0.05:0.95, over all images (pristine ones
/// included: any box on them is a false positive) and by quartile of pasted area (the images of that quartile);
/// and the image-level rate at `imageThreshold` on the best box's score.
public struct BoxEvaluation: Sendable, Codable {
    public struct AP: Sendable, Codable {
        public var map50 = 0.0, map5095 = 0.0, images = 0
    }
    public var all: AP
    public var quartiles: [AP]
    public var areaBounds: [Double]
    /// Shares of spliced and pristine images whose best box scores at least `imageThreshold`.
    public var imageThreshold: Double
    public var flaggedSpliced: Double, flaggedPristine: Double
    public var pristine: Int
    /// The lowest best-box score threshold that flags at most 5% of these pristine images (what training stores).
    public var fittedThreshold: Double

    public static func run(items: [SpliceSetBuilder.Item], root: String, imageThreshold: Double = 0.5,
                           predict: (Image) -> [ScoredBox]) -> BoxEvaluation {
        var rows: [(area: Double, truth: [ScoredBox], found: [ScoredBox], pristine: Bool)] = []
        for item in items {
            guard let image = try? ImageDecoder().decode(path: "\(root)/\(item.image)").image,
                  let mask = try? ImageDecoder().decode(path: "\(root)/\(item.mask)").image else { continue }
            rows.append((item.area, BoxLocalisation.truth(mask: mask), predict(image), item.isPristine))
        }
        func ap(_ part: [(area: Double, truth: [ScoredBox], found: [ScoredBox], pristine: Bool)]) -> AP {
            let thresholds = stride(from: 0.5, through: 0.951, by: 0.05).map { $0 }
            let values = thresholds.map { averagePrecision(part.map { ($0.truth, $0.found) }, iou: $0) }
            return AP(map50: values[0], map5095: values.reduce(0, +) / Double(values.count), images: part.count)
        }
        let spliced = rows.filter { !$0.pristine }
        let (parts, bounds) = areaQuartiles(spliced) { $0.area }
        func best(_ r: (area: Double, truth: [ScoredBox], found: [ScoredBox], pristine: Bool)) -> Double { r.found.map(\.score).max() ?? 0 }
        let pristineBest = rows.filter(\.pristine).map(best).sorted()
        // The smallest threshold above all but 5% of the pristine images' best scores.
        let allowed = Int(Double(pristineBest.count) * 0.05)
        let fitted = pristineBest.isEmpty ? 0.5 : pristineBest[pristineBest.count - 1 - allowed].nextUp
        func rate(_ r: [Double]) -> Double { r.isEmpty ? .nan : Double(r.filter { $0 >= imageThreshold }.count) / Double(r.count) }
        return BoxEvaluation(all: ap(rows), quartiles: parts.map(ap), areaBounds: bounds, imageThreshold: imageThreshold,
                             flaggedSpliced: rate(spliced.map(best)), flaggedPristine: rate(pristineBest), pristine: pristineBest.count,
                             fittedThreshold: fitted)
    }

    /// Average precision of one class over images (truths, detections): detections of all images by falling score,
    /// each matched to the best-overlapping unmatched truth of its image at `iou` or more; precision made monotone
    /// and sampled at recall 0, 0.01, ..., 1 (COCO). 0 when there is no truth.
    public static func averagePrecision(_ images: [(truth: [ScoredBox], found: [ScoredBox])], iou: Double) -> Double {
        let total = images.reduce(0) { $0 + $1.truth.count }
        guard total > 0 else { return 0 }
        var detections: [(image: Int, box: ScoredBox)] = []
        for (i, im) in images.enumerated() { for b in im.found { detections.append((i, b)) } }
        detections.sort { $0.box.score > $1.box.score }
        var matched = images.map { [Bool](repeating: false, count: $0.truth.count) }
        var tp = 0, fp = 0
        var precision: [Double] = [], recall: [Double] = []
        for d in detections {
            var bestIoU = iou, bestIndex = -1
            for (k, t) in images[d.image].truth.enumerated() where !matched[d.image][k] {
                let o = t.iou(d.box)
                if o >= bestIoU { bestIoU = o; bestIndex = k }
            }
            if bestIndex >= 0 { matched[d.image][bestIndex] = true; tp += 1 } else { fp += 1 }
            precision.append(Double(tp) / Double(tp + fp))
            recall.append(Double(tp) / Double(total))
        }
        // Monotone precision envelope, then 101 recall points.
        for i in stride(from: precision.count - 2, through: 0, by: -1) { precision[i] = max(precision[i], precision[i + 1]) }
        var sum = 0.0
        for r in stride(from: 0.0, through: 1.0001, by: 0.01) {
            if let i = recall.firstIndex(where: { $0 >= r - 1e-12 }) { sum += precision[i] }
        }
        return sum / 101
    }

    public var markdown: String {
        var s = "| images | n | mAP@0.5 | mAP@0.5:0.95 |\n|---|---:|---:|---:|\n"
        s += String(format: "| all (pristine included) | %d | %.3f | %.3f |\n", all.images, all.map50, all.map5095)
        for (i, q) in quartiles.enumerated() {
            s += String(format: "| %@ | %d | %.3f | %.3f |\n", quartileName(i, bounds: areaBounds), q.images, q.map50, q.map5095)
        }
        s += String(format: "\nImage level (best box score >= %.3f): %.1f%% of spliced images, %.1f%% of %d pristine images flagged.\n",
                     imageThreshold, flaggedSpliced * 100, flaggedPristine * 100, pristine)
        return s
    }
}
