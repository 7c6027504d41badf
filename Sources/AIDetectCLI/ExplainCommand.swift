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
            JSON line per image with the model, its P(AI), verdict and the maps. A file that cannot be read gets an \
            error line; a method that does not apply to the model (or fails) gets a warning in the line while the other \
            methods' maps are still written; the other files go on. Exit codes: 0 all maps written; 2 a file or a \
            method failed; 4 the model could not be loaded.
            """)

    @Argument(help: "Image files.") var paths: [String]
    @Option(name: .long, help: "Model file (.safetensors written by aidetect); default: the bundled model.") var model: String?
    @Option(help: "Methods, comma-separated: \(ExplanationMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method = "gradcam"
    @Option(help: "Feature layer for gradcam/activation (default: the model's last stage, for transformers the block before the last; --list-layers shows them).") var layer: String?
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
                let judgement = Judgement(scores: [score.probability], names: [detector.name], outOfScope: ContentCheck.standard.assess(im))
                report["p_ai"] = score.probability
                report["verdict"] = judgement.verdict.rawValue
                report["reason"] = judgement.reason
                report["model"] = detector.label
                report["legend"] = "colour from dark (least) through red to light yellow (most evidence for \(real ? "real" : "AI-generated")), scaled per map"
                var stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                if usedNames.contains(stem) { stem += "-\(usedNames.count)" }
                usedNames.insert(stem)
                var maps: [[String: Any]] = []
                var warnings: [String] = []
                for m in methods {
                    // Verdict first: a method that does not apply or fails is reported, and the other maps are still written.
                    if let why = explainer.inapplicability(of: m) {
                        warnings.append("\(m.rawValue) does not apply to \(detector.name): \(why)")
                        continue
                    }
                    let made: [Heatmap]
                    do { made = try explainer.explain(im, method: m, layer: layer) } catch {
                        warnings.append("\(m.rawValue): \(error.localizedDescription)")
                        continue
                    }
                    for map in made {
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
                if !warnings.isEmpty {
                    report["warnings"] = warnings
                    failed += 1
                }
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
