import ArgumentParser
import Detection
import Foundation
import Imaging
import Models
import NN
import Torch

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the decoder learns about image files.")
    @Argument(help: "Image files.") var files: [String]
    @OptionGroup var image: ImageOptions

    func run() throws {
        var failed = false
        for f in files {
            do {
                let d = try image.decoder.decode(path: f)
                var line = "\(f): \(d.format.name) \(d.image.width)x\(d.image.height), \(d.byteCount) bytes, \(d.bitDepth)-bit"
                if d.frames > 1 { line += ", \(d.frames) frames (first used)" }
                if d.hadAlpha { line += ", transparency composited on white" }
                if d.orientation != 1 { line += ", EXIF orientation \(d.orientation)\(d.orientationApplied ? " applied" : " ignored")" }
                switch d.colorProfile {
                case .none: break
                case .convertedToSRGB(let n): line += ", ICC profile (\(n) bytes) converted to sRGB"
                case .ignored(let r): line += ", ICC profile ignored (\(r))"
                }
                print(line)
            } catch {
                failed = true
                print("error: \(error.localizedDescription)")
            }
        }
        if failed { throw ExitCode(2) }
    }
}

struct ListModels: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models", abstract: "List the architectures in the model registry.")
    func run() {
        for e in ModelRegistry.entries {
            let p = e.preprocessing
            print("\(e.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(p.inputSize)px \(p.policy.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)) \(e.summary) [\(e.reference)]")
        }
        print("\nGenerators (aidetect synth train --generator NAME; 32 or 64 px):")
        for f in GeneratorFamily.allCases { print("\(f.rawValue.padding(toLength: 24, withPad: " ", startingAt: 0)) \(f.summary)") }
    }
}

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a freshly initialised (untrained) model file for an architecture.",
        discussion: "The file is always marked as a placeholder: its weights are random, so its scores carry no information and `scan` says so. Train it (`train`) or import weights (`import`) for a real detector.")
    @Argument(help: "Registry name (see `aidetect models`).") var architecture: String
    @Option(help: "Output .safetensors path.") var output: String
    @Option(help: "Random seed for the initial weights.") var seed: UInt64 = 0
    @Option(help: "Output logits (1 = binary detector).") var classes: Int = 1
    // Kept so that existing scripts still parse; init-model loads no weights, so every file it writes is a placeholder.
    @Flag(help: "Accepted for compatibility: every file init-model writes is marked as a placeholder.") var placeholder = false

    func run() throws {
        Runtime.manualSeed(seed)
        let model = try ModelRegistry.create(architecture, options: ModelOptions(classes: classes))
        // Untrained weights carry no information: always a placeholder (no option here loads weights).
        try saveDetector(model, architecture: architecture, path: output, classes: classes, placeholder: true,
                         description: "PLACEHOLDER: untrained \(architecture) (seed \(seed)); scores carry no information")
        print("wrote \(output): \(architecture), \(model.parameterCount) parameters (an untrained placeholder)")
    }
}

struct ImportCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a PyTorch checkpoint (.pth/.pt/.th, zip or legacy) into an aidetect model file.",
        discussion: "Also takes the INT8 CLIP ViT-B/16 ONNX encoder (scripts/fetch_pretrained.sh) for --architecture clip_vit_b16: the encoder is imported and the linear probe head left untrained.")
    @Argument(help: "PyTorch checkpoint holding a state dict.") var checkpoint: String
    @Option(help: "Registry architecture the weights belong to.") var architecture: String
    @Option(help: "Output .safetensors path.") var output: String
    @Option(help: "Output logits of the checkpoint's head.") var classes: Int?
    @Option(help: "A head file from `extract-head`: its tensors and metadata (calibration, name) complete the model.") var head: String?

    func run() throws {
        let entry = try ModelRegistry.entry(architecture)
        let n = classes ?? entry.defaultClasses
        let model = entry.make(ModelOptions(classes: n))
        let sd: [String: Tensor]
        var extra: [String: String] = [:]
        if checkpoint.lowercased().hasSuffix(".onnx") {
            guard model is CLIPProbe || model is CLIPLayersProbe || model is CLIPPatchLocaliser else {
                throw ValidationError("ONNX import is supported for --architecture clip_vit_b16, clip_vit_b16_layers and clip_patch_localiser only")
            }
            sd = try CLIPImporter.stateDict(onnxPath: checkpoint).reduce(into: [:]) { $0["encoder." + $1.key] = $1.value }
            let (missing, unexpected) = try model.loadStateDict(sd, strict: false)
            if !unexpected.isEmpty { throw CheckpointError.unexpectedKeys(unexpected) }
            let notHead = missing.filter { !$0.hasPrefix("head.") }
            if !notHead.isEmpty { throw CheckpointError.missingKeys(notHead) }
            extra["aidetect.note"] = "CLIP encoder dequantised from INT8 ONNX; head untrained"
        } else {
            sd = try TorchCheckpoint.load(path: checkpoint)
            try model.loadStateDict(sd)
        }
        var calibrator: Calibrator?
        var preprocessing: Preprocessing?
        var attributionTensors: [String: Tensor] = [:]
        var description = "imported from \((checkpoint as NSString).lastPathComponent)"
        if let head {
            let (t, meta) = try Safetensors.load(path: head)
            attributionTensors = t.filter { $0.key.hasPrefix("attribution.") }
            try model.loadStateDict(model.stateDict().merging(t.filter { !$0.key.hasPrefix("attribution.") }) { _, new in new })
            for (k, v) in meta where !["aidetect.model", "aidetect.classes", "aidetect.calibration", "aidetect.preprocessing"].contains(k) { extra[k] = v }
            extra.removeValue(forKey: "aidetect.note")
            calibrator = meta["aidetect.calibration"].flatMap { try? JSONDecoder().decode(Calibrator.self, from: Data($0.utf8)) }
            preprocessing = meta["aidetect.preprocessing"].flatMap { try? JSONDecoder().decode(Preprocessing.self, from: Data($0.utf8)) }
            description = meta["aidetect.description"] ?? description
        }
        try saveDetector(model, architecture: architecture, path: output, classes: n, description: description,
                         calibrator: calibrator, preprocessing: preprocessing, halfPrecision: head != nil, extra: extra,
                         extraTensors: attributionTensors)
        print("wrote \(output): \(architecture), \(model.parameterCount) parameters from \(sd.count) tensors")
    }
}

struct TrainProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-probe",
        abstract: "Train and evaluate a frozen-backbone linear probe detector, and write its model card.",
        discussion: "Embeds every image once (cached under .cache/features), trains a linear head with early stopping, fits Platt scaling on the validation split, evaluates the test split, leave-one-generator-out and the verdict flip rate. `make model-card` runs this for the bundled default model.")
    @Option(help: "Labelled data: a folder, tar or CSV laid out <real|fake>/<generator>/...") var data: String
    @Option(help: "Backbone architecture (efficientnet_lite0, resnet18, resnet50, clip_vit_b16).") var backbone = "efficientnet_lite0"
    @Option(help: "Backbone weights (.pth, or the CLIP .onnx).") var weights: String
    @Option(help: "Output model file (.safetensors).") var output: String
    @Option(help: "Output folder for the model card (MODEL_CARD.md) and its JSON.") var card: String?
    @Option(help: "Seed for the split and the probe.") var seed: UInt64 = 0
    @Flag(help: "Store the model's weights as float16.") var half = false
    @Option(help: "Randomly augmented views of each training image added as training rows (0-3; cached like the plain embeddings).") var augmentedViews = 0
    @Flag(help: "Weight the loss so that within each label every content type (photo, art, unknown) weighs the same.") var balanceContent = false
    @OptionGroup var runtime: RuntimeOptions
    @OptionGroup(title: "Distributed embedding (c10d, Gloo): the ranks share the images to embed; rank 0 then runs the study") var distributed: DistributedOptions

    func validate() throws {
        guard (0...3).contains(augmentedViews) else { throw ValidationError("--augmented-views must be 0...3") }
    }

    func run() throws {
        runtime.apply()
        var config = ProbeStudy.Config(backboneWeights: weights, data: data)
        config.backbone = backbone
        config.seed = seed
        config.augmentedViews = augmentedViews
        config.balanceContent = balanceContent
        // --precision (or $AIDETECT_PRECISION) names the precision the backbone embeds in and the model file asks for.
        let precision = ProcessInfo.processInfo.environment["AIDETECT_PRECISION"]
            .flatMap { Precision(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) } ?? .fp32
        config.precision = precision
        if let group = try distributed.join() {
            try ProbeStudy(config: config).prepareEmbeddings(group: group) { eprint($0) }
            guard group.rank == 0 else { return }
        }
        let (report, model, familyHead) = try ProbeStudy(config: config).runWithAttribution { eprint($0) }
        var attribution: [String: String] = [:], attributionTensors: [String: Tensor] = [:]
        if let familyHead {
            attribution["aidetect.attribution"] = String(decoding: try JSONEncoder().encode(AttributionFamily.allCases.map(\.rawValue)), as: UTF8.self)
            attributionTensors["attribution.weight"] = Tensor(familyHead.weight, shape: [familyHead.classes, familyHead.weight.count / familyHead.classes])
            attributionTensors["attribution.bias"] = Tensor(familyHead.bias)
        }
        let entry = try ModelRegistry.entry(backbone)
        try saveDetector(model, architecture: backbone, path: output, description: "frozen \(backbone) + linear probe trained on \((data as NSString).lastPathComponent) (seed \(seed))",
                         calibrator: report.calibrator, preprocessing: entry.preprocessing, halfPrecision: half,
                         extra: ["aidetect.name": "\(backbone).aidetect_probe_v1", "aidetect.label": ProbeStudy.label(backbone: backbone),
                                 "aidetect.card": report.cardFigures(card: ((card ?? "docs/model-card") as NSString).appendingPathComponent("MODEL_CARD.md")),
                                 "aidetect.training_data": Dataset.setNames(data), "aidetect.precision": precision.rawValue, "aidetect.split_seed": "\(seed)", "aidetect.split": Dataset.splitVersion,
                                 "aidetect.summary": String(format: "research baseline: %.1f%% accuracy and ROC-AUC %.3f on its test split, mean ROC-AUC %.3f on generators it never saw; unreliable on photos unlike its training data (see %@)",
                                                            (report.testCalibrated.accuracy * 100), report.testCalibrated.rocAUC ?? .nan, report.logoMeanAUC,
                                                            ((card ?? "docs/model-card") as NSString).appendingPathComponent("MODEL_CARD.md"))]
                            .merging(attribution) { a, _ in a }, extraTensors: attributionTensors)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("wrote \(output) (\(size) bytes); test ROC-AUC \(report.testCalibrated.rocAUC ?? .nan), LOGO mean ROC-AUC \(report.logoMeanAUC)")
        if let card {
            try FileManager.default.createDirectory(atPath: card, withIntermediateDirectories: true)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // A figure that could not be computed (no source column: no leave-one-source-out) is written as "nan".
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            var r = report
            r.config.data = data.split(separator: ",").map { ($0 as NSString).lastPathComponent }.joined(separator: ",")
            r.config.backboneWeights = (weights as NSString).lastPathComponent
            try enc.encode(r).write(to: URL(fileURLWithPath: (card as NSString).appendingPathComponent("model-card.json")))
            let sets = data.split(separator: ",").map { ($0 as NSString).lastPathComponent }.joined(separator: ",")
            let command = "aidetect train-probe --data \(sets) --backbone \(backbone) --seed \(seed)\(half ? " --half" : "")"
                + (precision == .fp32 ? "" : " --precision \(precision.rawValue)")
                + (augmentedViews > 0 ? " --augmented-views \(augmentedViews)" : "") + (balanceContent ? " --balance-content" : "")
            let md = ModelCard.markdown(r, command: command, modelFile: (output as NSString).lastPathComponent, modelBytes: size)
            try md.write(toFile: (card as NSString).appendingPathComponent("MODEL_CARD.md"), atomically: true, encoding: .utf8)
            print("wrote \(card)/MODEL_CARD.md and model-card.json")
        }
    }
}

struct ExtractHead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract-head",
        abstract: "Write only the head (and calibration metadata) of a probe model or a clip_patch_localiser, to rebuild it later with `import --head`.")
    @Option(help: "A model file written by train-probe.") var model: String
    @Option(help: "Output .safetensors holding the head tensors and the model's metadata.") var output: String

    func run() throws {
        let (tensors, meta) = try Safetensors.load(path: model)
        // A probe's head sits on a feature extractor; the CLIP patch localiser's on the frozen encoder's tokens.
        guard let arch = meta["aidetect.model"], let entry = try? ModelRegistry.entry(arch),
              let headKey = (entry.make(ModelOptions(classes: 1)) as? FeatureExtractor)?.headKey ?? (entry.name == "clip_patch_localiser" ? "head" : nil) else {
            throw ValidationError("\(model) is neither a probe model of a feature-extractor architecture nor a clip_patch_localiser")
        }
        let head = tensors.filter { $0.key.hasPrefix(headKey + ".") || $0.key.hasPrefix("attribution.") }
        guard !head.isEmpty else { throw ValidationError("\(model) has no '\(headKey).' tensors") }
        try Safetensors.save(head, metadata: meta, path: output)
        print("wrote \(output): \(head.keys.sorted().joined(separator: ", "))")
    }
}
