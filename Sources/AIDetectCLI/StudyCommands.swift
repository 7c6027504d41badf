import ArgumentParser
import Detection
import Foundation
import Studies

struct Study: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce the studies' experiments (JSON, Markdown and HTML under --output; resumable).",
        subcommands: [CrossGenCommand.self, FewShotCommand.self, SearchCommand.self, BaselinesCommand.self, Img2ImgStudyCommand.self])
}

/// Options shared by the cross-generator and few-shot studies.
struct CrossGenOptions: ParsableArguments {
    @Option(help: "Data sources, comma-separated; each is a pool whose fakes are tested against its own reals.") var data: String
    @Option(help: "Fake generators to use, comma-separated (default: all with at least --minimum-images).") var generators: String?
    @Option var minimumImages = 50
    @Option(help: "Registry model.") var model = "cifake_cnn"
    @Option var convLayers = 3
    @Option var filters = 64
    @Option(help: "Dense sizes, comma-separated.") var dense = "128"
    @Option var inputSize = 32
    @Option(help: "At most this many images per generator.") var cap = 2000
    @Option(help: "Seeds, comma-separated.") var seeds = "0,1"
    @Option var epochs = 6
    @Option var batchSize = 64
    @Option(name: .customLong("lr")) var learningRate = 1e-3
    @Flag(help: "Train without the standard augmentation (flips only).") var noAugment = false

    func config() throws -> CrossGeneratorStudy.Config {
        var c = CrossGeneratorStudy.Config(data: data.split(separator: ",").map(String.init))
        c.generators = generators?.split(separator: ",").map(String.init) ?? []
        c.minimumImages = minimumImages; c.model = model; c.convLayers = convLayers; c.filters = filters
        c.dense = dense.split(separator: ",").compactMap { Int($0) }; c.inputSize = inputSize; c.cap = cap
        c.seeds = seeds.split(separator: ",").compactMap { UInt64($0) }
        guard !c.seeds.isEmpty else { throw ValidationError("--seeds needs at least one seed") }
        c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate; c.augment = !noAugment
        return c
    }
}

struct CrossGenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crossgen",
        abstract: "Train on each generator and test on all (table 4.1), and leave one generator out (table 4.2).")
    @OptionGroup var options: CrossGenOptions
    @Flag(help: "Skip the leave-one-out runs.") var noLeaveOneOut = false
    @Option(help: "Output folder.") var output = "results/crossgen"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var c = try options.config()
        c.leaveOneOut = !noLeaveOneOut
        var s = CrossGeneratorStudy(config: c, directory: output)
        s.log = { logLine($0) }
        let r = try s.run()
        print(CrossGeneratorStudy.markdown(r))
        print("\(Int(r.seconds)) s; \(output)/crossgen.{json,md,html}")
    }
}

struct FewShotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fewshot",
        abstract: "Fine-tune leave-one-out detectors with 0-1000 images of the held-out generator; accuracy against images (fig 4.2).")
    @OptionGroup var options: CrossGenOptions
    @Option(help: "Held-out generators, comma-separated.") var heldOut: String
    @Option(help: "Numbers of images, comma-separated.") var shots = "0,5,10,50,100,500,1000"
    @Option(help: "Fine-tuning epochs.") var fineTuneEpochs = 3
    @Option(help: "Fine-tuning learning rate.") var fineTuneLr = 3e-4
    @Option(help: "Output folder (share it with `study crossgen` to reuse its leave-one-out models).") var output = "results/crossgen"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var c = FewShotStudy.Config(crossgen: try options.config(), heldOut: heldOut.split(separator: ",").map(String.init))
        c.shots = shots.split(separator: ",").compactMap { Int($0) }
        c.epochs = fineTuneEpochs
        c.learningRate = fineTuneLr
        var s = FewShotStudy(config: c, directory: output)
        s.log = { logLine($0) }
        let r = try s.run()
        print(FewShotStudy.markdown(r))
        print("\(Int(r.seconds)) s; \(output)/fewshot.{json,md,svg,html}")
    }
}

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "The CIFAKE topology search: conv layers x filters, then dense sizes x layers on the best extractor (36 networks).")
    @Option(help: "Labelled data (folder, tar, tar.gz or CSV).") var data: String
    @Option var epochs = 5
    @Option var batchSize = 64
    @Option var seed: UInt64 = 0
    @Option(help: "Conv layers, comma-separated.") var convLayers = "1,2,3"
    @Option(help: "Filters, comma-separated.") var filters = "16,32,64,128"
    @Option(help: "Dense sizes, comma-separated.") var denseSizes = "32,64,128,256,512,1024,2048,4096"
    @Option(help: "Dense layer counts, comma-separated.") var denseLayers = "1,2,3"
    @Option(help: "At most this many images per generator, then balanced reals and fakes (default: the whole set).") var cap: Int?
    @Option var output = "results/search"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        func ints(_ s: String) -> [Int] { s.split(separator: ",").compactMap { Int($0) } }
        var s = TopologySearch(data: data, directory: output)
        s.settings.epochs = epochs; s.settings.batchSize = batchSize; s.settings.seed = seed; s.settings.cap = cap
        s.convLayers = ints(convLayers); s.filters = ints(filters); s.denseSizes = ints(denseSizes); s.denseLayers = ints(denseLayers)
        s.log = { logLine($0) }
        let r = try s.run()
        print((try? String(contentsOfFile: output + "/search.md", encoding: .utf8)) ?? "")
        print("best extractor \(r.best); \(Int(r.seconds)) s; \(output)/search.{json,md,html}")
    }
}

struct BaselinesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baselines",
        abstract: "MLP, LeNet-style CNN and the spectrum baseline (FFT ring average + logistic regression) on the same split.")
    @Option(help: "Labelled data (folder, tar, tar.gz or CSV).") var data: String
    @Option var epochs = 5
    @Option var batchSize = 64
    @Option var seed: UInt64 = 0
    @Option(help: "At most this many images per generator, then balanced reals and fakes (default: the whole set).") var cap: Int?
    @Option var output = "results/baselines"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var s = BaselineStudy(data: data, directory: output)
        s.settings.epochs = epochs; s.settings.batchSize = batchSize; s.settings.seed = seed; s.settings.cap = cap
        s.log = { logLine($0) }
        let r = try s.run()
        print((try? String(contentsOfFile: output + "/baselines.md", encoding: .utf8)) ?? "")
        print("\(Int(r.seconds)) s; \(output)/baselines.{json,md,html}")
    }
}

struct Img2ImgStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "img2img",
        abstract: "Study 004: a detector trained on img2img pairs (each fake beside the real it was made from) vs on unpaired data of the same size; detection by strength.",
        discussion: "DATA is the manifest.csv of `aidetect synth img2img`. Writes OUTPUT/img2img.{json,md,html}; runs resume.")
    @Option(help: "The img2img set's manifest.csv.") var data: String
    @Option(help: "Registry model.") var model = "resnet34"
    @Option var epochs = 10
    @Option var batchSize = 32
    @Option(name: .customLong("lr")) var learningRate = 1e-3
    @Option var patience = 3
    @Option(help: "Seeds, comma-separated (weights and batch order; the split stays).") var seeds = "0"
    @Option(help: "At most this many training pairs per arm.") var cap: Int?
    @Option var output = "results/img2img"
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        runtime.apply()
        var c = Img2ImgStudy.Config(data: data)
        c.model = model; c.epochs = epochs; c.batchSize = batchSize; c.learningRate = learningRate; c.patience = patience; c.cap = cap
        c.seeds = seeds.split(separator: ",").compactMap { UInt64($0) }
        guard !c.seeds.isEmpty else { throw ValidationError("--seeds needs at least one seed") }
        var s = Img2ImgStudy(config: c, directory: output)
        s.log = { logLine($0) }
        let r = try s.run()
        print(Img2ImgStudy.markdown(r))
        print("\(output)/img2img.{json,md,html}")
    }
}
