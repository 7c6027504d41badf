import ArgumentParser
import Detection
import Explain
import Foundation
import Imaging
import Models
import NN
import Studies

struct SpliceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splice",
        abstract: "Build a localisation set: regions of fakes (ellipses, rotated rectangles, blobs) pasted into reals with feathered edges, with masks.",
        discussion: "Writes OUTPUT/images, OUTPUT/masks and OUTPUT/manifest.csv (shape, area, split 70/10/20 by real image).")
    @Option(help: "Labelled data with reals and fakes (folder, tar, tar.gz or CSV).") var data: String
    @Option(help: """
        Build only from this part (train, validation or test) of DATA's standard split (seed --split-seed). With test, \
        the set holds no image that a model trained on DATA with that seed saw (the bundled model: bench256, seed 0).
        """) var fromSplit: String?
    @Option(help: "Seed of the standard split that --from-split takes its part of.") var splitSeed: UInt64 = 0
    @Option(help: "Fake generators to paste from, comma-separated (default: all).") var generators: String?
    @Option var count = 1000
    @Option(help: "Square image size.") var size = 256
    @Option(help: "Share of pristine reals (empty masks).") var pristine = 0.2
    @Option(help: "Share of the other images that get a region of another real image (mask empty) instead of a fake one.") var realPaste = 0.0
    @Option(help: "JPEG round trip after pasting, quality range LOW-HIGH (e.g. 80-95), applied to every image; none by default.") var jpeg: String?
    @Flag(help: "Crop at the images' own resolution instead of resizing them down (keeps generators' pixel traces).") var native = false
    @Option var seed: UInt64 = 0
    @Option var output = ".cache/splice"

    func run() throws {
        var set = try Dataset.load(data)
        if let fromSplit {
            guard let part = SplitPart(rawValue: fromSplit) else {
                throw ValidationError("--from-split must be train, validation or test, not '\(fromSplit)'")
            }
            let parts = set.standardSplit(seed: splitSeed)
            set = part == .train ? parts.train : part == .validation ? parts.validation : parts.test
        }
        let gens = generators.map { Set($0.split(separator: ",").map(String.init)) }
        let reals = set.samples.filter { $0.label == .real }
        let fakes = set.samples.filter { $0.label == .fake && (gens?.contains($0.generator) ?? true) }
        guard !reals.isEmpty, !fakes.isEmpty else { throw ValidationError("\(data) needs both reals and fakes") }
        var b = SpliceSetBuilder()
        b.count = count; b.size = size; b.pristineFraction = pristine; b.seed = seed
        b.realPasteFraction = realPaste; b.nativeResolution = native
        if let jpeg {
            let q = jpeg.split(separator: "-").compactMap { Int($0) }
            guard (q.count == 1 || q.count == 2), let lo = q.first, let hi = q.last, 1 <= lo, lo <= hi, hi <= 100 else {
                throw ValidationError("--jpeg takes a quality or a range LOW-HIGH within 1-100, not '\(jpeg)'")
            }
            b.jpegQuality = lo...hi
        }
        b.log = { logLine($0) }
        let start = Date()
        let items = try b.write(reals: reals, fakes: fakes, to: output)
        let spliced = items.filter { !$0.isPristine }
        print(String(format: "%d images (%d with an AI region, %d with a real one pasted, mean AI area %.1f%%) in %@ (%.0f s)", items.count, spliced.count,
                     items.filter { $0.shape.hasPrefix("real-") }.count,
                     spliced.map(\.area).reduce(0, +) / Double(max(spliced.count, 1)) * 100, output, Date().timeIntervalSince(start)))
    }
}

struct Localise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Localise partial manipulations: find AI regions in images (a mask, an overlay and boxes), train a per-pixel model or a box detector on a splice set, fit its image-level threshold, or evaluate one (or the tile-scan baseline).",
        subcommands: [LocaliseMap.self, LocaliseTrain.self, LocaliseEvaluate.self, LocaliseFitThreshold.self, LocaliseBoxes.self],
        defaultSubcommand: LocaliseMap.self)
}

struct LocaliseTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train unet_small or fcn_resnet50 per pixel, clip_patch_localiser (a head on frozen CLIP patch tokens), or with --boxes the YOLO-style box detector (resumable).",
        discussion: """
            clip_patch_localiser needs --weights: the CLIP encoder's ONNX file (.cache/pretrained/clip_encoder.int8.onnx, from \
            scripts/fetch_pretrained.sh) or a model file holding the encoder (models/clip-probe.safetensors). Its images' patch tokens \
            are computed once (at --input-size, 224 unless given: a 14x14 grid of patches, 448 for 28x28; --precision bf16 where the \
            CPU has it) and cached in --output.
            """)
    @Option(help: "Splice set folder (aidetect splice).") var data: String
    @Option(help: "unet_small, fcn_resnet50 or clip_patch_localiser.") var model = "unet_small"
    @Option(help: "clip_patch_localiser: the CLIP encoder's weights (.onnx, or a model file with encoder.* tensors).") var weights: String?
    @Flag(help: "Train the single-stage, anchor-free box detector (yolo_resnet18: ResNet-18, FPN neck, objectness + box head) on the regions' boxes.")
    var boxes = false
    @Option var epochs = 5
    @Option var batchSize = 8
    @Option(name: .customLong("lr")) var learningRate = 1e-3
    @Option(help: "Training size (images resized; default 256, the box detector's and the per-pixel models'; clip_patch_localiser: the encoder's input, default 224).") var inputSize: Int?
    @Option(help: "At most this many training images.") var cap: Int?
    @Option var seed: UInt64 = 0
    @Option var output: String
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        if boxes {
            var c = BoxLocalisation.Trainer.Config(data: data)
            c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate; c.inputSize = inputSize ?? 256; c.cap = cap; c.seed = seed
            var t = BoxLocalisation.Trainer(config: c, directory: output)
            t.log = { logLine($0) }
            try t.run()
            print("model: \(t.modelPath)")
            return
        }
        if model.split(separator: ".").first == "clip_patch_localiser" {
            guard let weights else { throw ValidationError("clip_patch_localiser needs --weights (the CLIP encoder: .cache/pretrained/clip_encoder.int8.onnx or models/clip-probe.safetensors)") }
            var c = PatchLocaliserTrainer.Config(data: data, encoderWeights: weights)
            c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate; c.cap = cap; c.seed = seed
            c.inputSize = inputSize ?? 224
            c.precision = ProcessInfo.processInfo.environment["AIDETECT_PRECISION"]
                .flatMap { Precision(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) } ?? .fp32
            var t = PatchLocaliserTrainer(config: c, directory: output)
            t.log = { logLine($0) }
            try t.run()
            print("model: \(t.modelPath)")
            return
        }
        var c = LocalisationTrainer.Config(data: data)
        c.model = model; c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate
        c.inputSize = inputSize ?? 256; c.cap = cap; c.seed = seed
        var t = LocalisationTrainer(config: c, directory: output)
        t.log = { logLine($0) }
        try t.run()
        print("model: \(t.modelPath)")
    }
}

struct LocaliseEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Pixel precision/recall/F1, IoU, Dice (overall and by area quartile) and the image-level AI rate on the test split.")
    @Option(help: "Splice set folder.") var data: String
    @Option(help: "A per-pixel model file (localise train), or an image-level detector with --tile-scan ('default' = bundled).") var model: String
    @Flag(help: "Slide the image-level detector over the image (training-free baseline).") var tileScan = false
    @Flag(help: """
        Box metrics (mAP@0.5 and mAP@0.5:0.95 by quartile of pasted area): of a box detector (localise train --boxes), or of a \
        per-pixel model's regions (connected components of P >= 0.5, scored by their mean probability).
        """) var boxes = false
    @Option var window = 64
    @Option var stride = 32
    @Option(help: "Split of the splice set to evaluate (train, validation, test, or all).") var split = "test"
    @Option(help: """
        With --tile-scan: the data set the detector was trained on (required when the model file names one, as the \
        bundled model names bench256.tar). Only images whose real and pasted sources lie in its standard test split \
        (seed --training-split-seed) are scored, so the detector is never scored on images it trained on.
        """) var trainingData: String?
    @Option(help: "Seed of the detector's training split (default: the one its model file records, else 0).") var trainingSplitSeed: UInt64?
    @Option(help: "At most this many images.") var limit: Int?
    @Option(help: "Write JSON and Markdown here.") var output: String?
    @Flag(help: "Record the test split's figures (pixel F1, images flagged with the fitted threshold) in the per-pixel model file, for the page and API to show.")
    var record = false
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        if record && (tileScan || boxes || split != "test") {
            throw ValidationError("--record takes a per-pixel model evaluated on the test split (no --tile-scan, --boxes or other --split)")
        }
        if split == "all" && !tileScan {
            throw ValidationError("--split all would score a per-pixel model on its own training images; use it with --tile-scan")
        }
        if boxes {
            guard !tileScan else { throw ValidationError("--boxes and --tile-scan do not go together") }
            var items = try SpliceSetBuilder.load(data).filter { $0.split == split }
            if let limit { items = Array(items.prefix(limit)) }
            let start = Date()
            let ev: BoxEvaluation
            let name: String
            if let box = try? BoxLocalisation.Model.load(model) {
                name = BoxLocalisation.architecture
                ev = BoxEvaluation.run(items: items, root: data, imageThreshold: box.imageThreshold) { box.predict($0) }
            } else {
                let detector = try Detector.load(model)
                guard detector.entry.dense else { throw ValidationError("\(model) is neither a box detector nor a per-pixel model") }
                name = "\(detector.name) regions"
                ev = BoxEvaluation.run(items: items, root: data) { image in
                    let p = detector.withExclusiveModel { LocalisationTrainer.predict($0, image, preprocessing: detector.preprocessing) }
                    return BoxLocalisation.boxes(probabilities: p, width: image.width, height: image.height)
                }
            }
            let title = "boxes of \(name) on \((data as NSString).lastPathComponent) (\(split), \(items.count) images, \(Int(Date().timeIntervalSince(start))) s)"
            print(title + "\n\n" + ev.markdown)
            if let output {
                try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
                try writeStudyReport(ev, name: "boxes", title: "Localisation boxes: " + title, markdown: title + "\n\n" + ev.markdown, directory: output)
            }
            return
        }
        let detector = try Detector.load(model)
        var items = try SpliceSetBuilder.load(data).filter { split == "all" || $0.split == split }
        var scope = split
        if tileScan {
            // An image-level detector trained on the data set the splice set was cut from has seen most of its
            // reals and fakes: score only splices of images from its test split.
            if trainingData == nil, let trained = detector.metadata["aidetect.training_data"] {
                throw ValidationError("""
                    \(detector.name) was trained on \(trained): pass --training-data PATH/\(trained) (and \
                    --training-split-seed) so that the images it trained on are left out
                    """)
            }
            if let trainingData {
                let trainingSplitSeed = trainingSplitSeed ?? detector.metadata["aidetect.split_seed"].flatMap { UInt64($0) } ?? 0
                if let trained = detector.metadata["aidetect.training_data"], Dataset.setNames(trainingData) != trained {
                    throw ValidationError("\(detector.name) was trained on \(trained), not \(Dataset.setNames(trainingData)): pass that set as --training-data")
                }
                if detector.metadata["aidetect.training_data"] != nil, detector.metadata["aidetect.split"] != Dataset.splitVersion {
                    throw ValidationError("\(detector.name) was trained before splits were grouped: its test split cannot be told from its training images; retrain it")
                }
                let unseen = try Set(Dataset.load(trainingData).standardSplit(seed: trainingSplitSeed).test.samples.map(\.id))
                let before = items.count
                items = items.filter { unseen.contains($0.real) && ($0.fake.isEmpty || unseen.contains($0.fake)) }
                scope += ", sources in the test split of \(Dataset.setNames(trainingData)) (seed \(trainingSplitSeed))"
                logLine("tile scan: \(items.count) of \(before) images have their real and pasted sources in the detector's test split; the rest are left out")
                guard !items.isEmpty else {
                    throw ValidationError("no image of \(data) (\(split)) comes only from \(trainingData)'s test split; build one with splice --from-split test")
                }
            }
        }
        if let limit { items = Array(items.prefix(limit)) }
        let start = Date()
        let ev: LocalisationEvaluation
        if tileScan {
            let scan = TileScan(detector: detector, window: window, stride: stride)
            ev = LocalisationEvaluation.run(items: items, root: data) { scan.map($0) }
        } else {
            guard detector.entry.dense else { throw ValidationError("\(model) is not a per-pixel model; use --tile-scan for an image-level detector") }
            // With a fitted threshold, pixels count from its fitted cut (else 0.5).
            let fitted = LocalisationThreshold.stored(in: detector.metadata)
            ev = LocalisationEvaluation.run(items: items, root: data, threshold: fitted?.cut ?? 0.5, fitted: fitted) { image in
                detector.withExclusiveModel { LocalisationTrainer.predict($0, image, preprocessing: detector.preprocessing) }
            }
        }
        if record {
            var figures = ["testPixelF1": ev.pixel.f1, "testSmallestQuartilePixelF1": ev.quartiles.first?.f1 ?? .nan,
                           "testSplicedImages": Double(ev.pixel.images), "testPristineImages": Double(ev.pristine)]
            if let a = ev.fittedRateSpliced, let b = ev.fittedRatePristine { figures["testSplicedFlagged"] = a; figures["testPristineFlagged"] = b }
            try LocalisationThreshold.record(figures: figures.filter { $0.value.isFinite }, into: model)
            logLine("recorded the test figures in \(model)")
        }
        let title = "\(tileScan ? "tile scan of " : "")\(detector.name) on \((data as NSString).lastPathComponent) (\(scope), \(items.count) images, \(Int(Date().timeIntervalSince(start))) s)"
        print(title + "\n\n" + ev.markdown)
        if let output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            try writeStudyReport(ev, name: "localisation", title: "Localisation: " + title, markdown: title + "\n\n" + ev.markdown, directory: output)
            if let csv = ev.rowsCSV { try csv.write(toFile: (output as NSString).appendingPathComponent("localisation-images.csv"), atomically: true, encoding: .utf8) }
        }
    }
}

struct LocaliseBoxes: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boxes",
        abstract: "Find generated regions in images with a box detector (localise train --boxes): JSON boxes in each image's pixels.",
        discussion: "One JSON object per line: {\"file\", \"contains_ai_region\", \"boxes\": [{x1, y1, x2, y2, score}]} or {\"file\", \"error\"}.")
    @Option(help: "A box detector model file.") var model: String
    @Option(help: "Boxes scoring below this are dropped.") var minimumScore = 0.05
    @Argument(help: "Image files.") var files: [String]
    @OptionGroup var runtime: RuntimeOptions

    /// One output line: the boxes of a file, or why it could not be read.
    struct Line: Encodable {
        var file: String
        var containsAIRegion: Bool?
        var boxes: [ScoredBox]?
        var error: String?
        enum CodingKeys: String, CodingKey { case file, containsAIRegion = "contains_ai_region", boxes, error }
    }

    func run() throws {
        runtime.apply()
        let box = try BoxLocalisation.Model.load(model)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        for f in files {
            var line = Line(file: f)
            do {
                let found = box.predict(try ImageDecoder().decode(path: f).image, minimumScore: minimumScore)
                line.boxes = found
                line.containsAIRegion = (found.first?.score ?? 0) >= box.imageThreshold
            } catch {
                line.error = error.localizedDescription
                failed += 1
            }
            print(String(decoding: try enc.encode(line), as: UTF8.self))
        }
        if failed > 0 { throw ExitCode(2) }
    }
}

struct LocaliseMap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Find AI-generated regions in images: per image a mask PNG, an overlay PNG and the regions as boxes with scores (JSON).",
        discussion: """
            MODEL is a localiser: a per-pixel model (localise train) or a box detector (localise train --boxes). Writes \
            OUTPUT/NAME.mask.png (white = AI region, the image's size) and OUTPUT/NAME.overlay.png, and prints one JSON \
            object per line: {"file", "mask", "overlay", "localisation": {"contains_ai_region", "score", "threshold", \
            "statistic", "regions": [{x, y, width, height, score}], ...}} or {"file", "error"}. An image contains an AI \
            region when its score reaches the threshold fitted on validation (localise fit-threshold), so that pristine \
            images stay clean; without a fitted threshold the file's "fitted" is false. Exit 0, or 2 when a file could not be read.
            """)
    @Option(help: "A localiser model file.") var model: String
    @Option(help: "Folder for the mask and overlay PNGs.") var output = "localised"
    @Argument(help: "Image files.") var files: [String]
    @OptionGroup var runtime: RuntimeOptions

    struct Line: Encodable {
        var file: String
        var mask: String?
        var overlay: String?
        var localisation: LocalisationResult?
        var error: String?
    }

    func run() throws {
        runtime.apply()
        let localiser = try Localiser(path: model)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        enc.keyEncodingStrategy = .convertToSnakeCase
        var failed = 0
        var used: [String: Int] = [:]
        for f in files {
            var line = Line(file: f)
            do {
                let image = try ImageDecoder().decode(path: f).image
                let (result, mask) = localiser.localise(image)
                // Two inputs with one base name (a/x.jpg, b/x.jpg) get x, x-2, ...
                let base = ((f as NSString).lastPathComponent as NSString).deletingPathExtension
                used[base, default: 0] += 1
                let stem = "\(output)/\(base)\(used[base]! > 1 ? "-\(used[base]!)" : "")"
                try Data(ImageEncoder.png(mask)).write(to: URL(fileURLWithPath: stem + ".mask.png"))
                try Data(ImageEncoder.png(Localiser.overlay(image, mask: mask, regions: result.regions))).write(to: URL(fileURLWithPath: stem + ".overlay.png"))
                line.mask = stem + ".mask.png"
                line.overlay = stem + ".overlay.png"
                line.localisation = result
            } catch {
                line.error = error.localizedDescription
                failed += 1
            }
            print(String(decoding: try enc.encode(line), as: UTF8.self))
        }
        if failed > 0 { throw ExitCode(2) }
    }
}

struct LocaliseFitThreshold: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit-threshold",
        abstract: "Fit a per-pixel localiser's image-level threshold on a splice set's validation split and store it in the model file.",
        discussion: """
            First the per-pixel cut with the best pixel F1 on the spliced validation images, then each statistic of the map \
            (the best region's mean probability, the share of flagged pixels, the 99th percentile) with its threshold, \
            keeping the one that flags the most spliced images while at most --max-pristine of the pristine ones are \
            flagged. localise train does this itself after training.
            """)
    @Option(help: "Splice set folder (aidetect splice).") var data: String
    @Option(help: "A per-pixel model file (localise train); it is rewritten with the threshold in its metadata.") var model: String
    @Option(help: "Largest share of pristine validation images that may be flagged.") var maxPristine = 0.05
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        let t = try LocalisationThreshold.fit(model: model, data: data, maxPristine: maxPristine)
        print(String(format: "%@: pixels from P >= %.2f; contains an AI region when %@ >= %.4f (validation: %.1f%% of %d pristine, %.1f%% of %d spliced images flagged)",
                     model, t.cut, t.statistic.rawValue, t.threshold, t.pristineFlagged * 100, t.pristine, t.splicedFlagged * 100, t.spliced))
    }
}
