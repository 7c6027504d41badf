import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import AIDetectCLI
@testable import Detection
import Imaging

/// Runs the built `aidetect` executable (built by `swift build --build-tests`).
func runCLI(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let candidates = [
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aidetect"),
        TestSupport.repositoryRoot.appendingPathComponent(".build/debug/aidetect"),
    ]
    guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile)
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.currentDirectoryURL = TestSupport.repositoryRoot
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

struct CLITests {
    @Test func helpListsCommandsAndExitCodes() throws {
        let r = try runCLI(["--help"])
        #expect(r.status == 0)
        for s in ["scan", "info", "models", "init-model", "import", "explain", "Exit codes"] { #expect(r.stdout.contains(s), "help lacks \(s)") }
        let scanHelp = try runCLI(["scan", "--help"])
        for s in ["--model", "--json", "--csv", "--max-bytes", "--max-pixels", "--threads"] { #expect(scanHelp.stdout.contains(s)) }
    }

    @Test func badArgumentsGiveUsageErrors() throws {
        let r = try runCLI(["scan", "samples", "--json", "--csv"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("choose one of --json and --csv"))
        let t = try runCLI(["scan", "samples", "--threads", "0"])
        #expect(t.status == 64)
        let m = try runCLI(["scan", "samples", "--model", "/nonexistent.safetensors"])
        #expect(m.status == 4)
        #expect(m.stderr.contains("/nonexistent.safetensors"))
    }

    @Test func scanSamplesAsJSONContinuesPastBadFiles() throws {
        let r = try runCLI(["scan", "samples", "--json"])
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == 7)
        let broken = rows.first { ($0["path"] as? String)?.hasSuffix("broken-truncated.jpg") == true }
        #expect(broken?["errorKind"] as? String == "truncated")
        let scored = rows.filter { $0["probability"] != nil }
        #expect(scored.count == 6)
        for s in scored {
            let p = s["probability"] as! Double
            #expect(p >= 0 && p <= 1)
            #expect(s["placeholder"] as? Bool == false)
            #expect((s["model"] as? String)?.hasPrefix("efficientnet_lite0") == true)
        }
        #expect(r.status & 2 == 2, "a failed file sets bit 2 of the exit code")
    }

    /// `explain` writes the maps of each method at the image's size and keeps going past a broken file.
    @Test func explainWritesMapsAndContinuesPastBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("explain-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runCLI(["explain", "samples/broken-truncated.jpg", "samples/real-earth-apollo17.jpg",
                            "--method", "gradcam,saliency", "--output", dir])
        #expect(r.status == 2, "a failed file gives exit code 2")
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == 2)
        #expect((rows[0]["error"] as? String)?.contains("broken-truncated.jpg") == true)
        let maps = rows[1]["maps"] as? [[String: Any]] ?? []
        #expect(maps.compactMap { $0["map"] as? String } == ["gradcam", "saliency+", "saliency-"])
        let original = try ImageDecoder().decode(path: "\(TestSupport.repositoryRoot.path)/samples/real-earth-apollo17.jpg").image
        let overlay = try ImageDecoder().decode(path: "\(dir)/real-earth-apollo17.gradcam.overlay.png").image
        #expect(overlay.width == original.width && overlay.height == original.height)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/real-earth-apollo17.saliency-.npy"))
        let bad = try runCLI(["explain", "samples/real-earth-apollo17.jpg", "--method", "magic"])
        #expect(bad.status == 64 && bad.stderr.contains("unknown method 'magic'"))
    }

    @Test func scanCSVAndTable() throws {
        let csv = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--csv"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("path,format,width,height,probability") == true)
        #expect(lines.count == 2)
        let table = try runCLI(["scan", "samples"])
        #expect(table.stdout.contains("efficientnet_lite0.aidetect_probe_v1"))
        #expect(table.stdout.contains("MODEL_CARD.md"))
        #expect(table.stdout.contains("7 file(s)"))
    }

    @Test func infoDescribesFiles() throws {
        let r = try runCLI(["info", "Tests/ImagingTests/Fixtures/orient6.jpg", "Tests/ImagingTests/Fixtures/adobergb.jpg", "samples/broken-truncated.jpg"])
        #expect(r.stdout.contains("EXIF orientation 6 applied"))
        #expect(r.stdout.contains("converted to sRGB"))
        #expect(r.stdout.contains("truncated"))
        #expect(r.status == 2)
    }

    @Test func initAndImportWriteLoadableModels() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.safetensors").path
        let r = try runCLI(["init-model", "lenet_baseline", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try Detector(path: out)
        #expect(d.entry.name == "lenet_baseline" && !d.isPlaceholder)
        let imported = dir.appendingPathComponent("imp.safetensors").path
        let i = try runCLI(["import", "Tests/ModelsTests/Fixtures/ckpt_zip.pt", "--architecture", "resnet20", "--output", imported])
        // The fixture is a ResNet-8 with extra tensors: a clear error, not a crash.
        #expect(i.status != 0)
        #expect(i.stderr.contains("checkpoint"))
    }

    @Test func scannerKeepsGoingAndStreams() throws {
        let detector = try Detector.loadDefault()
        let scanner = Scanner(decoder: ImageDecoder(), detector: detector)
        var results: [ScanResult] = []
        scanner.walk(TestSupport.repositoryRoot.appendingPathComponent("samples").path) { results.append($0) }
        #expect(results.count == 7)
        #expect(results.filter { $0.error != nil }.count == 1)
        scanner.walk("/nonexistent-folder") { results.append($0) }
        #expect(results.last?.errorKind == "unreadable")
    }

    @Test func verdictBands() {
        #expect(Verdict(probability: 0.1) == .likelyReal)
        #expect(Verdict(probability: 0.5) == .uncertain)
        #expect(Verdict(probability: 0.9) == .likelyAI)
    }
}

struct TrainEvalCLITests {
    /// train -> eval -> calibrate through the command line on a tiny synthetic set.
    @Test func trainEvaluateCalibrate() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cli-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (label, gen, v) in [("real", "flat", 60), ("fake", "bright", 190)] {
            let d = root.appendingPathComponent("data/\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<12 {
                let img = Image(width: 32, height: 32, fill: (UInt8(v + i), UInt8(v), UInt8(v - i)))
                try Data(ImageEncoder.png(img)).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        try Data("junk".utf8).write(to: root.appendingPathComponent("data/fake/bright/broken.png"))
        let data = root.appendingPathComponent("data").path, out = root.appendingPathComponent("run").path
        let t = try runCLI(["train", "--model", "cifake_cnn", "--data", data, "--output", out, "--epochs", "2", "--batch-size", "8",
                            "--conv-layers", "1", "--filters", "4", "--dense", "8", "--augment", "none"])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stdout.contains("epoch 2/2"))
        let e = try runCLI(["eval", "--model", out + "/best.safetensors", "--data", data, "--output", root.appendingPathComponent("eval").path])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("ROC-AUC") && e.stdout.contains("1 unreadable"))
        let html = try String(contentsOfFile: root.appendingPathComponent("eval/evaluation.html").path, encoding: .utf8)
        #expect(html.contains("<svg") && !html.contains("http://cdn") && !html.contains("<script src"))
        let c = try runCLI(["calibrate", "--model", out + "/best.safetensors", "--data", data, "--method", "temperature",
                            "--output", root.appendingPathComponent("cal.safetensors").path])
        #expect(c.status == 0, "\(c.stderr)")
        let d = try Detector(path: root.appendingPathComponent("cal.safetensors").path)
        if case .temperature = d.calibrator {} else { Issue.record("calibration not stored: \(d.calibrator)") }
        let bad = try runCLI(["train", "--model", "nope", "--data", data, "--output", out])
        #expect(bad.status == 64)
    }
}

struct EnsembleScanTests {
    @Test func severalModelsAndEnsemble() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = dir.appendingPathComponent("lenet.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", m, "--placeholder"]).status == 0)
        let r = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", "default,\(m)", "--json"])
        let row = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let scores = try #require(row["scores"] as? [String: Double])
        #expect(scores.count == 2)
        let p = try #require(row["probability"] as? Double)
        #expect(abs(p - scores.values.reduce(0, +) / 2) < 1e-9)
        #expect(row["placeholder"] as? Bool == true, "an ensemble with a placeholder says so")
        #expect(try runCLI(["scan", "samples", "--model", m, "--models", m]).status == 64)
    }
}
