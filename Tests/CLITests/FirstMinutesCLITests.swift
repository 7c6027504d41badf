import Foundation
import Imaging
import Testing
import TestSupport
@testable import Detection

/// Issue 18 on the real commands: blank images come out "uncertain" with the reason, disagreement and the caveat
/// reach every output form, labelled ensemble scores, explain keeps the verdict and the other maps.
@Suite struct FirstMinutesCLITests {
    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("first-minutes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
    func jsonLines(_ s: String) -> [[String: Any]] {
        s.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func blankImagesAreUncertainWithTheReason() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, v) in [("grey", UInt8(128)), ("black", UInt8(0))] {
            try Data(ImageEncoder.png(Image(width: 1024, height: 1024, fill: (v, v, v)))).write(to: dir.appendingPathComponent("\(name).png"))
        }
        let r = try runCLI(["scan", dir.path, "--json"])
        let rows = jsonLines(r.stdout)
        let files = rows.filter { $0["path"] != nil }
        #expect(files.count == 2 && r.status == 0, "\(r.stdout) \(r.stderr)")
        for f in files {
            #expect(f["verdict"] as? String == "uncertain")
            #expect(f["outOfScope"] as? String == "too-little-content")
            #expect((f["reason"] as? String)?.contains("too little content") == true)
        }
        // The last record is the summary with the caveat.
        let summary = try #require(rows.last?["summary"] as? [String: Int])
        #expect(summary["files"] == 2 && summary["uncertain"] == 2 && summary["out_of_scope"] == 2)
        #expect((rows.last?["caveat"] as? String) == Reliability.caveat)
        let table = try runCLI(["scan", dir.path])
        #expect(table.stdout.contains("too little content") && table.stdout.contains("caveat: "))
        #expect(table.stdout.contains("2 file(s): 0 likely AI-generated, 2 uncertain"))
    }

    @Test func csvCarriesTheNewColumnsAndTrailingSummary() throws {
        let r = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--csv"])
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasSuffix(",scores,disagreement,out_of_scope,reason,family,family_probability") == true)
        // After the rows: which model `default` picked (here pinned by AIDETECT_DEFAULT), the summary, the caveat.
        #expect(lines.count == 5 && !lines[1].hasPrefix("#"), "\(r.stdout)")
        #expect(lines[2].hasPrefix("# model: default: ") && lines[3].hasPrefix("# summary: 1 file(s)") && lines[4] == "# caveat: " + Reliability.caveat)
    }

    /// Two models that disagree: the verdict is uncertain, the flag is set in JSON and CSV, and the table labels each
    /// bracketed score with its model.
    @Test func disagreeingModelsAreFlaggedEverywhere() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try Detector.loadDefault()
        let sure = dir.appendingPathComponent("sure-ai.safetensors").path, doubt = dir.appendingPathComponent("sure-real.safetensors").path
        // The bundled weights with calibrations that ignore the logit: one always says AI, the other real.
        var meta = base.metadata
        meta["aidetect.name"] = "always-ai"
        try saveDetector(base.model, architecture: base.entry.name, path: sure, description: "t", calibrator: .platt(a: 0, b: 10),
                         preprocessing: base.preprocessing, extra: meta)
        meta["aidetect.name"] = "always-real"
        try saveDetector(base.model, architecture: base.entry.name, path: doubt, description: "t", calibrator: .platt(a: 0, b: -10),
                         preprocessing: base.preprocessing, extra: meta)
        let models = "\(sure), \(doubt)"
        let json = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", models, "--json"])
        let row = try #require(jsonLines(json.stdout).first)
        #expect(row["disagreement"] as? Bool == true && row["verdict"] as? String == "uncertain", "\(json.stdout)")
        #expect((row["reason"] as? String)?.contains("models disagree") == true)
        #expect((jsonLines(json.stdout).last?["summary"] as? [String: Int])?["disagreements"] == 1)
        let csv = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", models, "--csv"])
        #expect(csv.stdout.split(separator: "\n")[1].contains(",true,,\"models disagree"), "\(csv.stdout)")
        let table = try runCLI(["scan", "samples/real-earth-apollo17.jpg", "--models", models])
        #expect(table.stdout.contains("[always-ai 1.000 | always-real 0.000]") && table.stdout.contains("(models disagree)"), "\(table.stdout)")
    }

    /// A method that does not apply (rollout on a CNN) is a warning; the verdict and the other maps are there.
    @Test func explainKeepsTheVerdictAndTheMapsThatApply() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runCLI(["explain", "samples/real-earth-apollo17.jpg", "--model", "bundled", "--method", "rollout,gradcam", "--output", dir.path])
        let row = try #require(jsonLines(r.stdout).first)
        #expect(r.status == 2)
        #expect(["likely-AI", "likely-real", "uncertain"].contains(row["verdict"] as? String ?? ""), "\(row)")
        #expect((row["warnings"] as? [String])?.first?.contains("rollout does not apply") == true)
        #expect((row["maps"] as? [[String: Any]])?.compactMap { $0["map"] as? String } == ["gradcam"])
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("real-earth-apollo17.gradcam.overlay.png").path))
        #expect(row["legend"] is String && row["model"] is String)
    }
}

@Suite struct ProvenanceSummaryCLITests {
    /// `provenance FILE` prints a readable block (what was found, what it means); `--json` the full report.
    @Test func readableByDefaultJSONOnRequest() throws {
        let r = try runCLI(["provenance", "samples/fake-sdxl-turbo.png", "samples/real-earth-apollo17.jpg"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("samples/fake-sdxl-turbo.png (png)") && r.stdout.contains("generator named in the metadata: ComfyUI"), "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "what it means: ").count == 3)
        #expect(r.stdout.contains("made by an AI generator"))
        #expect(!r.stdout.contains("{\""), "no JSON in the readable form")
        let j = try runCLI(["provenance", "samples/fake-sdxl-turbo.png", "--json"])
        let row = try #require(try JSONSerialization.jsonObject(with: Data(firstLine(j.stdout).utf8)) as? [String: Any])
        #expect((row["provenance"] as? [String: Any])?["generator"] is String)
        let typo = try runCLI(["provenance", "samples/fake-sdxl-turbo.png", "--model", "defualt"])
        #expect(typo.status == 4 && typo.stderr.contains("did you mean 'default'"))
    }
}

@Suite struct ReadmeTests {
    /// The README starts with the user's jobs and explains every column and key the scan writes (issue 18, point 8).
    @Test func readmeExplainsEveryOutputField() throws {
        let readme = try String(contentsOf: TestSupport.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let headings = readme.split(separator: "\n").filter { $0.hasPrefix("## ") }.map(String.init)
        let jobs = ["## Scan one image", "## Scan a folder to a CSV", "## Read the verdict", "## Run the server", "## Call the API", "## Output fields"]
        let positions = jobs.map { h in headings.firstIndex(of: h) }
        #expect(positions.allSatisfy { $0 != nil }, "\(headings)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "the user's jobs come in order")
        #expect((headings.firstIndex { $0.hasPrefix("## Research") } ?? 0) > (positions.last.flatMap { $0 } ?? .max), "research after the jobs")
        let fields = try #require(readme.range(of: "## Output fields")).upperBound
        let section = String(readme[fields...])
        let csv = try runCLI(["scan", "samples", "--models", "default,default", "--csv"])
        for column in try #require(csv.stdout.split(separator: "\n").first).split(separator: ",") {
            #expect(section.contains("`\(column)`"), "CSV column \(column) is not explained")
        }
        let json = try runCLI(["scan", "samples", "--models", "default,default", "--json"])
        var keys: Set<String> = []
        for line in json.stdout.split(separator: "\n") {
            if let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] { keys.formUnion(o.keys) }
        }
        #expect(keys.contains("summary") && keys.contains("disagreement"))
        for k in keys { #expect(section.contains("`\(k)`"), "JSON key \(k) is not explained") }
        // The top-level keys of the API's report.
        for k in ["file", "models", "ensemble", "disagreement", "outOfScope", "reason", "provenance", "fused", "heatmaps", "warnings", "caveat", "milliseconds"] {
            #expect(section.contains("`\(k)"), "report key \(k) is not explained")
        }
    }
}

@Suite struct DefaultModelTests {
    /// `default` is the CLIP probe when its file is found, else the bundled model, and the scan says which and why;
    /// `bundled` is always the bundled model; `clip` without the file names `make clip-model`.
    @Test func defaultPicksTheStrongestInstalledModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("default-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A stand-in file at the CLIP probe's location (what is tested is which file `default` resolves to).
        let stand = dir.appendingPathComponent("clip-probe.safetensors").path
        #expect(try runCLI(["init-model", "lenet_baseline", "--output", stand]).status == 0)
        let unset = ["AIDETECT_DEFAULT": ""]
        let found = try runCLI(["scan", "samples/fake-sdxl-turbo.png"], environment: unset.merging(["AIDETECT_CLIP_MODEL": stand]) { $1 })
        #expect(found.stdout.contains("model: lenet_baseline") && found.stdout.contains("default: lenet_baseline (the strongest model installed"), "\(found.stdout)")
        let missing = dir.appendingPathComponent("absent.safetensors").path
        let fallback = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--csv"], environment: unset.merging(["AIDETECT_CLIP_MODEL": missing]) { $1 })
        #expect(fallback.stdout.contains(",efficientnet_lite0.aidetect_probe_v1,"), "\(fallback.stdout)")
        #expect(fallback.stdout.contains("# model: default: EfficientNet-Lite0 probe, the fallback: the stronger CLIP probe is not installed (run `make clip-model`"), "\(fallback.stdout)")
        let bundled = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--model", "BUNDLED", "--json"], environment: unset.merging(["AIDETECT_CLIP_MODEL": stand]) { $1 })
        #expect(bundled.stdout.contains("efficientnet_lite0") && !bundled.stdout.contains("\"selection\""), "a named model carries no selection note")
        let clip = try runCLI(["scan", "samples/fake-sdxl-turbo.png", "--model", "clip"], environment: ["AIDETECT_CLIP_MODEL": missing])
        #expect(clip.status == 4 && clip.stderr.contains("make clip-model"), "\(clip.stderr)")
        let typo = try runCLI(["scan", "samples", "--model", "bundeld"])
        #expect(typo.status == 4 && typo.stderr.contains("did you mean 'bundled'?"))
    }
}
