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
        for s in ["scan", "info", "models", "init-model", "import", "Exit codes"] { #expect(r.stdout.contains(s), "help lacks \(s)") }
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
