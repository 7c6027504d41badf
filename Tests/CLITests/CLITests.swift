import ArgumentParser
import Foundation
import Testing
import TestSupport
@testable import AIDetectCLI
@testable import Detection
import Imaging

/// The first line of a command's output (a JSON Lines scan of one file: its record, before the summary record).
func firstLine(_ s: String) -> String { s.split(separator: "\n").first.map(String.init) ?? "" }

/// Runs the built `aidetect` executable (built by `swift build --build-tests`).
/// `default` is pinned to the bundled model (`AIDETECT_DEFAULT=bundled`) so that results do not depend on whether
/// this checkout has the CLIP probe; `environment` adds or overrides variables (an empty value removes one).
func runCLI(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let exe = TestSupport.aidetectExecutable
    guard FileManager.default.isExecutableFile(atPath: exe.path) else {
        throw CocoaError(.fileNoSuchFile)
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.currentDirectoryURL = TestSupport.repositoryRoot
    var env = ProcessInfo.processInfo.environment
    env["AIDETECT_DEFAULT"] = "bundled"
    for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
    p.environment = env
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
        // Issue 13: precision and device are checked up front, with what is allowed.
        let p = try runCLI(["scan", "samples", "--precision", "int4"])
        #expect(p.status == 64)
        #expect(p.stderr.contains("fp32, bf16, int8 or file"))
        let d = try runCLI(["scan", "samples", "--device", "tpu"])
        #expect(d.status == 64)
        #expect(d.stderr.contains("cpu, cuda or auto"))
        let bad = try runCLI(["scan", "samples/real-earth-apollo17.jpg"], environment: ["AIDETECT_PRECISION": "half"])
        #expect(bad.status == 4)
        #expect(bad.stderr.contains("AIDETECT_PRECISION=half"))
    }

    /// Issue 13: `--version` names the engine (LibTorch 2.x from the wheel) and why CUDA is or is not used; `--device cuda`
    /// without a GPU is refused with that reason; `--device cpu` and `--precision int8` scan.
    @Test func versionDeviceAndPrecision() throws {
        let v = try runCLI(["--version"])
        #expect(v.status == 0)
        #expect(v.stdout.contains("LibTorch 2."), "\(v.stdout)")
        #expect(v.stdout.contains("CUDA: "))
        let cuda = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--device", "cuda"])
        if v.stdout.contains("CUDA: available") {
            #expect(cuda.status == 0 || cuda.status == 1)
        } else {
            #expect(cuda.status == 64)
            #expect(cuda.stderr.contains("no CUDA device"))
        }
        for flags in [["--device", "cpu"], ["--precision", "int8"], ["--precision", "file"]] {
            let r = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--json"] + flags)
            #expect(r.status == 0 || r.status == 1, "\(flags): \(r.stderr)")
            #expect(r.stdout.contains("\"probability\""), "\(flags): \(r.stdout)")
        }
    }

    /// One way to name models: `default` everywhere (any case, spaces in lists), "did you mean" for typos, "no such
    /// file" for a missing one; exit codes in `--help`; a typed-wrong command is caught; an empty folder exits 5 and
    /// skipped non-image files are counted.
    @Test func modelNamesExitCodesAndEmptyScans() throws {
        let help = try runCLI(["--help"]), scanHelp = try runCLI(["scan", "--help"])
        for h in [help.stdout, scanHelp.stdout] {
            let flat = h.split(whereSeparator: \.isWhitespace).joined(separator: " ")   // help text is wrapped
            #expect(flat.contains("4 the model could not be loaded") && flat.contains("5 no image found"))
        }
        func probability(_ r: (status: Int32, stdout: String, stderr: String)) -> Double? {
            (try? JSONSerialization.jsonObject(with: Data(firstLine(r.stdout).utf8)) as? [String: Any])?["probability"] as? Double
        }
        let byName = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--model", "default", "--json"])
        let bundled = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--json"])
        #expect(byName.status == bundled.status && probability(byName) != nil && probability(byName) == probability(bundled), "\(byName.stderr)")
        let spaced = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--models", "default, DEFAULT", "--csv"])
        #expect(spaced.status != 4, "\(spaced.stderr)")
        let typo = try runCLI(["scan", "samples", "--model", "defualt"])
        #expect(typo.status == 4 && typo.stderr.contains("no model 'defualt': no such file (did you mean 'default'?)"), "\(typo.stderr)")
        let missing = try runCLI(["scan", "samples", "--models", "default,/nowhere/x.safetensors"])
        #expect(missing.status == 4 && missing.stderr.contains("no model '/nowhere/x.safetensors': no such file"), "\(missing.stderr)")
        let command = try runCLI(["provenence", "samples/fake-sdxl-turbo.png"])
        #expect(command.status == 64 && command.stderr.contains("did you mean 'aidetect provenance'"), "\(command.stderr)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("notes".utf8).write(to: dir.appendingPathComponent("readme.txt"))
        let empty = try runCLI(["scan", dir.path])
        #expect(empty.status == 5, "\(empty.stderr)")
        #expect(empty.stderr.contains("no image found") && empty.stderr.contains("1 file(s) without an image extension were skipped"))
    }

    @Test func scanSamplesAsJSONContinuesPastBadFiles() throws {
        let r = try runCLI(["scan", "samples", "--json"])
        let records = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        // One record per file, then the summary record.
        let rows = records.filter { $0["path"] != nil }
        #expect(rows.count == 7 && records.count == 8 && (records.last?["summary"] as? [String: Int])?["files"] == 7)
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
        #expect(lines.count == 5, "header, the row, the model, summary and caveat comments")
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
        #expect(d.entry.name == "lenet_baseline")
        #expect(d.isPlaceholder, "an untrained init-model file is a placeholder, --placeholder or not")
        let imported = dir.appendingPathComponent("imp.safetensors").path
        let i = try runCLI(["import", "Tests/ModelsTests/Fixtures/ckpt_zip.pt", "--architecture", "resnet20", "--output", imported])
        // The fixture is a ResNet-8 with extra tensors: a clear error, not a crash.
        #expect(i.status != 0)
        #expect(i.stderr.contains("checkpoint"))
    }

    @Test func scannerKeepsGoingAndStreams() throws {
        let detector = try Detector.loadDefault()
        var scanner = Scanner(decoder: ImageDecoder(), detector: detector)
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
        // All images: its own training data (warned), one unreadable file (named, exit 2, the others scored).
        let e = try runCLI(["eval", "--model", out + "/best.safetensors", "--data", data, "--split", "all", "--output", root.appendingPathComponent("eval").path])
        #expect(e.status == 2, "\(e.stderr)")
        #expect(e.stdout.contains("ROC-AUC") && e.stdout.contains("1 unreadable") && e.stdout.contains("24 images"))
        #expect(e.stderr.contains("warning:") && e.stderr.contains("do not measure generalisation") && e.stderr.contains("broken.png"))
        // The default is the test split the model never saw: no warning; exit 2 only if the broken file is in it.
        let testIds = try Dataset.load(data).standardSplit(seed: 0).test.samples.map(\.id)
        let plain = try runCLI(["eval", "--model", out + "/best.safetensors", "--data", data + "/"])
        #expect(plain.status == (testIds.contains { $0.hasSuffix("broken.png") } ? 2 : 0), "\(plain.stderr)")
        #expect(plain.stdout.contains("test split, split seed 0") && plain.stdout.contains("\(testIds.count - (testIds.contains { $0.hasSuffix("broken.png") } ? 1 : 0)) images"))
        #expect(!plain.stderr.contains("warning:"))
        let reseeded = try runCLI(["eval", "--model", out + "/best.safetensors", "--data", data, "--split-seed", "1"])
        #expect(reseeded.stderr.contains("use --split-seed 0"), "\(reseeded.stderr)")
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
        let row = try #require(try JSONSerialization.jsonObject(with: Data(firstLine(r.stdout).utf8)) as? [String: Any])
        let scores = try #require(row["scores"] as? [String: Double])
        #expect(scores.count == 2)
        let p = try #require(row["probability"] as? Double)
        // No stacker is fitted for this pair: the model with the best held-out figure (the bundled one; the
        // placeholder has no card) answers, never the mean.
        let bundled = try #require(scores.first { !$0.key.contains("lenet") }?.value)
        #expect(abs(p - bundled) < 1e-9)
        #expect(row["placeholder"] as? Bool == true, "an ensemble with a placeholder says so")
        #expect(try runCLI(["scan", "samples", "--model", m, "--models", m]).status == 64)
    }

    /// Two files of one architecture carry the same name: `--models a,b` scores both, each under a name of its own
    /// (ensembles are kept by position, not by name); without a stacker and without cards the first one's score stands.
    @Test func twoModelsOfOneArchitectureAreBothScored() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ens-same-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.safetensors").path, b = dir.appendingPathComponent("b.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", a, "--seed", "1"]).status == 0)
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", b, "--seed", "2"]).status == 0)
        func row(_ args: [String]) throws -> [String: Any] {
            let r = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--json"] + args)
            return try #require(try JSONSerialization.jsonObject(with: Data(firstLine(r.stdout).utf8)) as? [String: Any], "\(r.stderr)")
        }
        let pa = try #require(try row(["--model", a])["probability"] as? Double)
        let pb = try #require(try row(["--model", b])["probability"] as? Double)
        #expect(abs(pa - pb) > 1e-6, "differently seeded models score differently, so dropping one would show")
        let ensemble = try row(["--models", "\(a),\(b)"])
        let scores = try #require(ensemble["scores"] as? [String: Double])
        #expect(scores.count == 2)
        #expect(ensemble["models"] as? [String] == ["lenet_baseline (a.safetensors)", "lenet_baseline (b.safetensors)"])
        #expect(abs((scores["lenet_baseline (a.safetensors)"] ?? .nan) - pa) < 1e-6)
        #expect(abs((scores["lenet_baseline (b.safetensors)"] ?? .nan) - pb) < 1e-6)
        let p = try #require(ensemble["probability"] as? Double)
        #expect(abs(p - pa) < 1e-6, "no stacker and no card figures: the first model's score stands, not the mean")
    }

    /// The library behind `--models`: the scanner keeps its models by position and names them apart.
    @Test func scannerKeepsModelsThatShareANameByPosition() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ens-lib-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.safetensors").path, b = dir.appendingPathComponent("b.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", a, "--seed", "3"]).status == 0)
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", b, "--seed", "4"]).status == 0)
        let da = try Detector(path: a), db = try Detector(path: b)
        #expect(da.name == db.name)
        let scanner = Scanner(decoder: ImageDecoder(), detectors: [da, db])
        #expect(scanner.names == ["\(da.name) (a.safetensors)", "\(db.name) (b.safetensors)"])
        #expect(Detector.displayNames([da, da]) == ["\(da.name) (a.safetensors)", "\(da.name) (a.safetensors) #2"])
        #expect(Detector.displayNames([da]) == [da.name])
        let file = TestSupport.repositoryRoot.appendingPathComponent("samples/real-earth-apollo17.jpg").path
        let image = try ImageDecoder().decode(path: file).image
        let expected = [da.score(image).probability, db.score(image).probability]
        let r = scanner.scan(file: file)
        let scores = try #require(r.scores)
        #expect(scores.count == 2)
        for (s, e) in zip(scores, expected) { #expect(abs(s - e) < 1e-9) }
        #expect(abs((r.probability ?? .nan) - expected[0]) < 1e-9, "no stacker, no card figures: the first model's score")
        // A stacker fitted for exactly these two files combines them.
        let stacker = Stacker(models: [.init(name: "a", digest: try ContentDigest.file(path: a)), .init(name: "b", digest: try ContentDigest.file(path: b))],
                              weights: [0.5, 2], bias: 0.25, fittedOn: "test", validationImages: 0, validationAUC: nil, memberAUC: [nil, nil])
        let stacked = Scanner(decoder: ImageDecoder(), detectors: [da, db], stacker: .some(stacker)).scan(file: file)
        #expect(abs((stacked.probability ?? .nan) - stacker.probability(expected)) < 1e-9)
        let swapped = Scanner(decoder: ImageDecoder(), detectors: [db, da], stacker: .some(Stacker.matching([stacker], digests: [db, da].map { try? ContentDigest.file(path: $0.path) }))).scan(file: file)
        #expect(abs((swapped.probability ?? .nan) - expected[1]) < 1e-9, "a stacker fitted for (a, b) does not apply to (b, a)")
    }

    /// `aidetect stack` fits a stacker on the validation split; `scan` finds it in the models folder and uses it.
    @Test func stackCommandFitsAndScanUsesIt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stack-\(UUID().uuidString)")
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (label, gen, v) in [("real", "dark", 60), ("fake", "bright", 190)] {
            let d = dir.appendingPathComponent("toy/\(label)/\(gen)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            for i in 0..<20 {
                var img = Image(width: 32, height: 32, fill: (UInt8(v + i), UInt8(v), UInt8(v - i)))
                for y in 0..<32 { for x in 0..<32 where (x * 7 + y * 3 + i) % 5 == 0 { img.pixels[(y * 32 + x) * 3] = UInt8(v - 40) } }
                try Data(ImageEncoder.png(img)).write(to: d.appendingPathComponent("\(i).png"))
            }
        }
        let data = dir.appendingPathComponent("toy").path
        let a = models.appendingPathComponent("a.safetensors").path, b = models.appendingPathComponent("b.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", a, "--seed", "5"]).status == 0)
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", b, "--seed", "6"]).status == 0)
        let out = models.appendingPathComponent("ab.stacker.json").path
        let bad = try runCLI(["stack", "--models", "\(a),\(b)", "--data", data, "--output", models.appendingPathComponent("ab.json").path])
        #expect(bad.status == 64 && bad.stderr.contains(".stacker.json"), "\(bad.stderr)")
        let r = try runCLI(["stack", "--models", "\(a),\(b)", "--data", data, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("stacker on") && r.stdout.contains("ROC-AUC"), "\(r.stdout)")
        let s = try Stacker.read(out)
        #expect(s.weights.count == 2 && s.validationImages > 0 && s.weights.allSatisfy(\.isFinite))
        #expect(s.models.map(\.digest) == [try ContentDigest.file(path: a), try ContentDigest.file(path: b)])
        // scan looks in the models folder of AIDETECT_CLIP_MODEL's location (the folders `default` searches).
        let env = ["AIDETECT_CLIP_MODEL": models.appendingPathComponent("absent.safetensors").path]
        let scan = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", "\(a),\(b)", "--json"], environment: env)
        let row = try #require(try JSONSerialization.jsonObject(with: Data(firstLine(scan.stdout).utf8)) as? [String: Any], "\(scan.stderr)")
        let scores = try #require(row["scores"] as? [String: Double])
        let ordered = [scores["lenet_baseline (a.safetensors)"] ?? .nan, scores["lenet_baseline (b.safetensors)"] ?? .nan]
        #expect(abs((row["probability"] as? Double ?? .nan) - s.probability(ordered)) < 1e-6)
        let table = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", "\(a),\(b)"], environment: env)
        #expect(table.stdout.contains("combined: P(AI) from a stacker"), "\(table.stdout)")
    }

    /// `init-model` writes random weights: scanning with the file warns that it is a placeholder, in every format.
    @Test func untrainedInitModelScansWithPlaceholderWarning() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("init-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = dir.appendingPathComponent("untrained.safetensors").path
        let w = try runCLI(["init-model", "lenet_baseline", "--output", m])
        #expect(w.status == 0, "\(w.stderr)")
        let table = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--model", m])
        #expect(table.stdout.contains("NOTE: model 'lenet_baseline' is an untrained PLACEHOLDER"), "\(table.stdout)")
        let json = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--model", m, "--json"])
        let row = try #require(try JSONSerialization.jsonObject(with: Data(firstLine(json.stdout).utf8)) as? [String: Any], "\(json.stderr)")
        #expect(row["placeholder"] as? Bool == true)
        let csv = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--model", m, "--csv"])
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.count == 4 && lines[1].contains(",lenet_baseline,true,"), "\(csv.stdout)")
        // The bundled model is trained: no warning.
        let trained = try runCLI(["scan", "samples/real-earth-apollo17.jpg"])
        #expect(!trained.stdout.contains("PLACEHOLDER"))
        // The old flag is still accepted.
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", m, "--placeholder"]).status == 0)
    }
}
