import ArgumentParser
import Detection
import Explain
import Foundation
import Imaging

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Heat maps of why a model scores images as it does (Grad-CAM, guided backprop, saliency, activations, rollout, FCN pixels).",
        discussion: """
            For each image and method writes OUTPUT/<name>.<map>.png (colour map), <name>.<map>.overlay.png (over the \
            image) and <name>.<map>.npy (raw float32, height x width), all at the image's resolution, and prints one \
            JSON line per image. A file that cannot be read or explained gets an error line; the others go on. \
            Exit code 2 if any file failed.
            """)

    @Argument(help: "Image files.") var paths: [String]
    @Option(name: .long, help: "Model file (.safetensors written by aidetect); default: the bundled model.") var model: String?
    @Option(help: "Methods, comma-separated: \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method = "gradcam"
    @Option(help: "Feature layer for gradcam/activation (default: the model's last stage; --list-layers shows them).") var layer: String?
    @Option(help: "Folder for the maps.") var output = "explain-out"
    @Flag(help: "Cut images larger than the model input into native-resolution tiles (full-detail maps).") var tile = false
    @Flag(help: "Explain the evidence for \"real\" instead of \"AI-generated\".") var real = false
    @Option(help: "What to write per map: png, overlay, npy (comma-separated).") var formats = "png,overlay,npy"
    @Flag(help: "Print the model's feature layers and exit.") var listLayers = false
    @OptionGroup var image: ImageOptions
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        for m in method.split(separator: ",") where ExplanationMethod(rawValue: String(m)) == nil {
            throw ValidationError("unknown method '\(m)'; choose from \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for f in formats.split(separator: ",") where !["png", "overlay", "npy"].contains(f) {
            throw ValidationError("unknown format '\(f)'; choose from png, overlay, npy")
        }
        if paths.isEmpty && !listLayers { throw ValidationError("give at least one image") }
    }

    func run() throws {
        runtime.apply()
        let detector: Detector
        do { detector = try Detector.load(model ?? "default") } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        var explainer = Explainer(detector: detector)
        explainer.tiled = tile
        explainer.sign = real ? -1 : 1
        if listLayers {
            for l in explainer.layers { print(l) }
            return
        }
        let methods = method.split(separator: ",").compactMap { ExplanationMethod(rawValue: String($0)) }
        let wanted = Set(formats.split(separator: ",").map(String.init))
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var failed = 0
        var usedNames: Set<String> = []
        for path in paths {
            var report: [String: Any] = ["file": path]
            do {
                let decoded = try image.decoder.decode(path: path)
                let im = decoded.image
                let score = detector.score(im)
                report["p_ai"] = score.probability
                var stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                if usedNames.contains(stem) { stem += "-\(usedNames.count)" }
                usedNames.insert(stem)
                var maps: [[String: Any]] = []
                for m in methods {
                    for map in try explainer.explain(im, method: m, layer: layer) {
                        let base = "\(output)/\(stem).\(map.name)"
                        var files: [String] = []
                        if wanted.contains("png") { try Data(ImageEncoder.png(map.colorImage())).write(to: URL(fileURLWithPath: base + ".png")); files.append(base + ".png") }
                        if wanted.contains("overlay") { try Data(ImageEncoder.png(map.overlay(on: im))).write(to: URL(fileURLWithPath: base + ".overlay.png")); files.append(base + ".overlay.png") }
                        if wanted.contains("npy") { try map.npy().write(to: URL(fileURLWithPath: base + ".npy")); files.append(base + ".npy") }
                        let (lo, hi) = map.range
                        maps.append(["map": map.name, "min": Double(lo), "max": Double(hi), "files": files])
                    }
                }
                report["maps"] = maps
            } catch {
                report["error"] = error.localizedDescription
                failed += 1
            }
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .withoutEscapingSlashes])
            logLine(String(decoding: data, as: UTF8.self))
        }
        if failed > 0 { throw ExitCode(2) }
    }
}
