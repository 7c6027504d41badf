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
    }
}

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a freshly initialised (untrained) model file for an architecture.")
    @Argument(help: "Registry name (see `aidetect models`).") var architecture: String
    @Option(help: "Output .safetensors path.") var output: String
    @Option(help: "Random seed for the initial weights.") var seed: UInt64 = 0
    @Option(help: "Output logits (1 = binary detector).") var classes: Int = 1
    @Flag(help: "Mark the file as a placeholder (its scores carry no information).") var placeholder = false

    func run() throws {
        Runtime.manualSeed(seed)
        let model = try ModelRegistry.create(architecture, options: ModelOptions(classes: classes))
        try saveDetector(model, architecture: architecture, path: output, classes: classes, placeholder: placeholder,
                         description: placeholder ? "PLACEHOLDER: untrained \(architecture) (seed \(seed)); scores carry no information"
                                                  : "untrained \(architecture) (seed \(seed))")
        print("wrote \(output): \(architecture), \(model.parameterCount) parameters")
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

    func run() throws {
        let entry = try ModelRegistry.entry(architecture)
        let n = classes ?? entry.defaultClasses
        let model = entry.make(ModelOptions(classes: n))
        let sd: [String: Tensor]
        var extra: [String: String] = [:]
        if checkpoint.lowercased().hasSuffix(".onnx") {
            guard model is CLIPProbe else { throw ValidationError("ONNX import is supported for --architecture clip_vit_b16 only") }
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
        try saveDetector(model, architecture: architecture, path: output, classes: n,
                         description: "imported from \((checkpoint as NSString).lastPathComponent)", extra: extra)
        print("wrote \(output): \(architecture), \(model.parameterCount) parameters from \(sd.count) tensors")
    }
}
