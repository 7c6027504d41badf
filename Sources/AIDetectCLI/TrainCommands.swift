import ArgumentParser
import Detection
import Foundation
import Imaging
import Models
import Torch

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a registry model as a real/AI detector (resumable).",
        discussion: "Writes DIR/best.safetensors (best validation loss), DIR/checkpoint.safetensors (every --checkpoint-minutes and each epoch), DIR/train.jsonl and DIR/curves.svg. --resume continues an interrupted run exactly.")
    @Option(help: "Registry architecture (see `aidetect models`).") var model: String
    @Option(help: "Labelled data: folder, tar or CSV laid out <real|fake>/<generator>/...") var data: String
    @Option(help: "Output folder.") var output: String
    @Option var epochs = 10
    @Option var batchSize = 32
    @Option(name: .customLong("lr"), help: "Learning rate.") var learningRate = 1e-3
    @Option(help: "adamw, adam or sgd.") var optimizer = "adamw"
    @Option var weightDecay = 1e-4
    @Option(help: "cosine, step or constant.") var schedule = "cosine"
    @Option var warmupEpochs = 0
    @Option(help: "Early-stopping patience in epochs.") var patience = 5
    @Option(help: "none, backbone (train the head only) or last-stage.") var freeze = "none"
    @Option(help: "Initial weights (.pth/.safetensors); the head is left freshly initialised.") var initialWeights: String?
    @Option(help: "standard or none.") var augment = "standard"
    @Option(help: "Seed of the initial weights, batch order and augmentation.") var seed: UInt64 = 0
    @Option(help: "Seed of the train/validation/test split (grouped and stratified); keep it when varying --seed, so the test split stays unseen.") var splitSeed: UInt64 = 0
    @Option(help: "CIFAKE family: conv layers.") var convLayers: Int?
    @Option(help: "CIFAKE family: filters per conv layer.") var filters: Int?
    @Option(help: "CIFAKE family: dense sizes, comma-separated.") var dense: String?
    @Option(help: "Override the model's input size.") var inputSize: Int?
    @Option(help: "Leave these generators out, comma-separated.") var exclude: String?
    @Option(help: "At most this many images per generator.") var cap: Int?
    @Option(help: "Adversarial training: L-inf budgets in pixel units ([0, 1] scale), comma-separated, e.g. 0.01,0.02,0.05.") var adversarialEps: String?
    @Option(help: "Share of each batch replaced by adversarial examples.") var adversarialFraction = 0.5
    @Option(help: "Attack steps when crafting them: 1 = FGSM, more = PGD (step eps/4).") var adversarialSteps = 1
    @Option var checkpointMinutes = 3.0
    @Option(help: "Decode/augment threads (default: all cores, at most 8); the batches do not depend on it.") var workers: Int?
    @Flag(help: "Resume from DIR/checkpoint.safetensors.") var resume = false
    @Option(help: .hidden) var stopAfterSteps: Int?
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup(title: "Distributed training (c10d, Gloo): same global batch and order as one process") var distributed: DistributedOptions

    func validate() throws {
        guard ["adamw", "adam", "sgd"].contains(optimizer) else { throw ValidationError("--optimizer must be adamw, adam or sgd") }
        guard ["cosine", "step", "constant"].contains(schedule) else { throw ValidationError("--schedule must be cosine, step or constant") }
        guard ["none", "backbone", "last-stage"].contains(freeze) else { throw ValidationError("--freeze must be none, backbone or last-stage") }
        guard ["standard", "none"].contains(augment) else { throw ValidationError("--augment must be standard or none") }
        guard epochs > 0, batchSize > 0, learningRate > 0 else { throw ValidationError("--epochs, --batch-size and --lr must be positive") }
        do { _ = try ModelRegistry.entry(model) } catch { throw ValidationError(error.localizedDescription) }
        if let inputSize, inputSize < 8 { throw ValidationError("--input-size must be at least 8") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        if model == "lenet_baseline", let inputSize, inputSize != 32 { throw ValidationError("lenet_baseline takes 32 px input only") }
    }

    func run() throws {
        runtime.apply()
        var c = TrainConfig(model: model, data: data)
        c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate; c.optimizer = optimizer
        c.weightDecay = weightDecay; c.schedule = schedule; c.warmupEpochs = warmupEpochs; c.patience = patience
        c.freeze = freeze; c.initialWeights = initialWeights; c.seed = seed; c.splitSeed = splitSeed
        c.augmentation = augment == "none" ? .none : .standard
        c.convLayers = convLayers; c.filters = filters; c.dense = dense?.split(separator: ",").compactMap { Int($0) }
        c.inputSize = inputSize; c.capPerGenerator = cap; c.checkpointSeconds = checkpointMinutes * 60
        if let adversarialEps {
            c.adversarialEpsilons = adversarialEps.split(separator: ",").compactMap { Double($0) }.filter { $0 > 0 }
            guard !c.adversarialEpsilons.isEmpty, (0...1).contains(adversarialFraction), adversarialSteps >= 1 else {
                throw ValidationError("--adversarial-eps needs positive budgets, --adversarial-fraction 0...1, --adversarial-steps >= 1")
            }
            c.adversarialFraction = adversarialFraction; c.adversarialSteps = adversarialSteps
        }
        c.excludeGenerators = exclude?.split(separator: ",").map(String.init) ?? []
        let t = Trainer(config: c, outputDirectory: output)
        if let workers { t.workers = workers }
        t.group = try distributed.join()
        t.stopAfterSteps = stopAfterSteps
        t.log = { logLine($0) }
        let h = try t.run(resume: resume)
        if (t.group?.rank ?? 0) == 0 { print("done: \(h.count) epoch(s); best model \(t.bestModelPath)") }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a model file on a labelled set: metrics overall and per generator, as JSON, CSV and HTML.",
        discussion: "Scores the test split by default (the split every trainer uses: grouped, stratified, seeded by --split-seed). Warns when the model was trained on the evaluated images. Exit codes: 0 all images scored, 2 some files unreadable (listed on stderr; the others are scored).")
    @Option(help: "Model file; default: the bundled model.") var model: String?
    @Option(help: "Labelled data: folder, tar or CSV (several with commas).") var data: String
    @Option(help: "test (default), validation or train of the seeded split, or all.") var split = "test"
    @Option(name: [.customLong("split-seed"), .customLong("seed")], help: "Seed of the split (the model's --split-seed).") var splitSeed: UInt64 = 0
    @Option(help: "Output folder for evaluation.json, evaluation.csv, evaluation.html.") var output: String?
    @OptionGroup var image: ImageOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard ["all", "test", "validation", "train"].contains(split) else { throw ValidationError("--split must be test, validation, train or all") }
    }

    func run() throws {
        runtime.apply()
        let detector = try Detector.load(model ?? "default")
        let d = try Dataset.load(data)
        let parts = d.standardSplit(seed: splitSeed)
        let samples = split == "all" ? d.samples : (split == "test" ? parts.test : (split == "validation" ? parts.validation : parts.train)).samples
        if let warning = Evaluation.trainingOverlapWarning(detector: detector, data: data, split: split, splitSeed: splitSeed) {
            eprint("warning: \(warning)")
        }
        let e = Evaluation.run(detector: detector, samples: samples, data: data, split: split, decoder: image.decoder) { done, total in
            if done % 200 == 0 || done == total { eprint("scored \(done)/\(total)") }
        }
        let o = e.overall
        print(String(format: "%@ on %@ (%@ split, split seed %llu): %d images, accuracy %.1f%%, precision %.1f%%, recall %.1f%%, F1 %.3f, ROC-AUC %.3f, AP %.3f, ECE %.1f%%, %d unreadable",
                     e.model, e.data, split, splitSeed, o.count, o.accuracy * 100, o.precision * 100, o.recall * 100, o.f1, o.rocAUC ?? .nan,
                     o.averagePrecision ?? .nan, o.ece * 100, e.errors))
        if let output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try enc.encode(e).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("evaluation.json")))
            try e.csv().write(toFile: (output as NSString).appendingPathComponent("evaluation.csv"), atomically: true, encoding: .utf8)
            try e.html().write(toFile: (output as NSString).appendingPathComponent("evaluation.html"), atomically: true, encoding: .utf8)
            print("wrote \(output)/evaluation.{json,csv,html}")
        }
        if e.errors > 0 {
            for r in e.rows where r.error != nil { eprint("\(r.id): \(r.error!)") }
            throw ExitCode(2)
        }
    }
}

struct SplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Show the train/validation/test split every trainer, probe, study and evaluation uses, and the groups it keeps whole.",
        discussion: "Groups: one prompt rendered by several generators (files named <prompt>__...), one original file in several sets (the sets' manifests), near-duplicates (a 256-bit difference hash). --output writes a manifest with each image pinned to its part.")
    @Option(help: "Labelled data: folder, tar or CSV (several with commas, grouped together).") var data: String
    @Option(help: "Seed of the split.") var splitSeed: UInt64 = 0
    @Option(help: "Write a manifest CSV with a split column (train, validation, test) for every image.") var output: String?

    func run() throws {
        let d = try Dataset.load(data)
        print(d.splitSummary(seed: splitSeed).markdown(), terminator: "")
        if let output {
            try d.writeManifest(to: output, pinning: d.standardSplitPins(seed: splitSeed))
            print("wrote \(output)")
        }
    }
}

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a calibration (Platt, temperature or isotonic) on the validation split and store it with the model.")
    @Option(help: "Model file to calibrate.") var model: String
    @Option(help: "Labelled data: folder, tar or CSV.") var data: String
    @Option(help: "platt, temperature or isotonic.") var method = "platt"
    @Option(help: "Output model file.") var output: String
    @Option(name: [.customLong("split-seed"), .customLong("seed")], help: "Seed of the split whose validation part is fitted on.") var splitSeed: UInt64 = 0
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard Calibrator.Method(rawValue: method) != nil else { throw ValidationError("--method must be platt, temperature or isotonic") }
    }

    func run() throws {
        runtime.apply()
        let detector = try Detector(path: model)
        let val = try Dataset.load(data).standardSplit(seed: splitSeed).validation
        let reader = SampleReader()
        var z: [Double] = [], y: [Int] = []
        for s in val.samples {
            guard let im = try? reader.image(s) else { continue }
            z.append(detector.logit(im))
            y.append(s.label.rawValue)
        }
        let cal = Calibrator.fit(Calibrator.Method(rawValue: method)!, logits: z, labels: y)
        let before = BinaryMetrics(probabilities: z.map { 1 / (1 + exp(-$0)) }, labels: y)
        let after = BinaryMetrics(probabilities: z.map { cal.probability(logit: $0) }, labels: y)
        var meta = detector.metadata
        meta.removeValue(forKey: "aidetect.calibration")
        try saveDetector(detector.model, architecture: detector.entry.name, path: output,
                         classes: Int(meta["aidetect.classes"] ?? "1") ?? 1, description: meta["aidetect.description"] ?? "",
                         calibrator: cal, preprocessing: detector.preprocessing, extra: meta)
        print(String(format: "%@ calibration on %d validation images: ECE %.1f%% -> %.1f%% (in-sample); wrote %@", method, z.count,
                     before.ece * 100, after.ece * 100, output))
    }
}

struct StackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stack",
        abstract: "Fit how several models combine: a logistic regression on their scores of the validation split (a stacker).",
        discussion: "Writes a .stacker.json that scan, serve and the page use whenever exactly these model files run together (found in models/). The models should not have trained on the validation images: use the split seed they were trained with. Without a stacker, several models' combined score is the one with the best held-out figure on its card.")
    @Option(help: "The models, comma-separated, in the order they will be given to scan --models.") var models: String
    @Option(help: "Labelled data: folder, tar or CSV (several with commas).") var data: String
    @Option(name: [.customLong("split-seed"), .customLong("seed")], help: "Seed of the split whose validation part is fitted on.") var splitSeed: UInt64 = 0
    @Option(help: "Output file; scan finds it in models/ when its name ends in .stacker.json.") var output: String
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard output.hasSuffix(Stacker.fileSuffix) else { throw ValidationError("--output must end in \(Stacker.fileSuffix)") }
    }

    func run() throws {
        runtime.apply()
        let detectors = try Detector.loadList(models)
        guard detectors.count > 1 else { throw ValidationError("--models needs at least two models") }
        let val = try Dataset.load(data).standardSplit(seed: splitSeed).validation
        let reader = SampleReader()
        var scores: [[Double]] = [], labels: [Int] = [], unreadable = 0
        for (i, s) in val.samples.enumerated() {
            guard let im = try? reader.image(s) else { unreadable += 1; continue }
            scores.append(detectors.map { $0.score(im).probability })
            labels.append(s.label.rawValue)
            if (i + 1) % 100 == 0 { eprint("scored \(i + 1)/\(val.samples.count)") }
        }
        guard Set(labels).count == 2 else { throw ValidationError("the validation split of \(data) needs real and fake images") }
        let names = Detector.displayNames(detectors)
        let members = try zip(detectors, names).map { d, n in Stacker.Member(name: n, digest: try ContentDigest.file(path: d.path)) }
        let stacker = Stacker.fit(scores: scores, labels: labels, models: members,
                                  fittedOn: "the validation split (seed \(splitSeed)) of \(Dataset.setNames(data))")
        try stacker.write(to: output)
        print(String(format: "stacker on %d validation images (%d unreadable): ROC-AUC %.3f; alone: %@; weights %@, bias %.3f; wrote %@",
                     labels.count, unreadable, stacker.validationAUC ?? .nan,
                     zip(names, stacker.memberAUC).map { "\($0) \(String(format: "%.3f", $1 ?? .nan))" }.joined(separator: ", "),
                     stacker.weights.map { String(format: "%.3f", $0) }.joined(separator: "/"), stacker.bias, output))
    }
}
