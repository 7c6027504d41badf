import Foundation
import Torch

/// Helpers shared by the test targets: numeric comparison, fixture lookup, data-dependent skips.
public enum TestSupport {
    /// The largest absolute difference and whether `actual` is within `atol + rtol * |expected|` everywhere.
    public static func allClose(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-4, atol: Double = 1e-5)
        -> (ok: Bool, maxAbs: Double, message: String) {
        guard actual.shape == expected.shape else {
            return (false, .infinity, "shape \(actual.shape) != expected \(expected.shape)")
        }
        let a: [Double] = actual.toArray(), e: [Double] = expected.toArray()
        var worst = 0.0, ok = true, firstBad = -1
        for i in a.indices {
            let d = Swift.abs(a[i] - e[i])
            if a[i].isNaN != e[i].isNaN { ok = false; if firstBad < 0 { firstBad = i }; continue }
            if d > worst { worst = d }
            if d > atol + rtol * Swift.abs(e[i]) { ok = false; if firstBad < 0 { firstBad = i } }
        }
        let msg = ok ? "max |diff| \(worst)" :
            "max |diff| \(worst); first mismatch at flat index \(firstBad): \(a[firstBad]) vs \(e[firstBad])"
        return (ok, worst, msg)
    }

    /// ../shared/data relative to the repository (or $AIDETECT_DATA), if present.
    public static var sharedData: URL? {
        if let env = ProcessInfo.processInfo.environment["AIDETECT_DATA"], FileManager.default.fileExists(atPath: env) {
            return URL(fileURLWithPath: env)
        }
        let repo = repositoryRoot
        let candidate = repo.deletingLastPathComponent().appendingPathComponent("shared/data")
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }

    /// Whether ../shared/data (or $AIDETECT_DATA) is present: the condition a data-dependent test passes to
    /// `.enabled(if:)`, so that `swift test` lists it as skipped, with its reason, on a checkout without the data.
    public static var hasSharedData: Bool { sharedData != nil }

    /// The package root (found from this source file's location).
    public static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `aidetect` executable built beside the running test binary (`swift build --build-tests`, whatever the
    /// scratch path: `make test-asan` builds into .build-asan), else `.build/debug/aidetect`.
    public static var aidetectExecutable: URL {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aidetect")
        if FileManager.default.isExecutableFile(atPath: sibling.path) { return sibling }
        return repositoryRoot.appendingPathComponent(".build/debug/aidetect")
    }

    /// A path under the pip cache that scripts/fetch_pretrained.sh fills (nil when not fetched).
    public static func cached(_ relative: String) -> URL? {
        let u = repositoryRoot.appendingPathComponent(".cache").appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: u.path) ? u : nil
    }

    /// Whether `.cache/<relative>` is present (scripts/fetch_pretrained.sh fetched it): for `.enabled(if:)`.
    public static func hasCached(_ relative: String) -> Bool { cached(relative) != nil }

    /// The default detector's architecture and committed head (as the Makefile's `models/clip-probe.safetensors`
    /// rule assembles it with the CLIP encoder from PyPI).
    public static let defaultCLIPHead = (architecture: "clip_vit_b16_layers", head: "models/clip_vit_b16_layers.head.safetensors")
}

extension TestSupport {
    /// A committed fixture: Tests/<target>/Fixtures/<name>.
    public static func fixture(_ target: String, _ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/\(target)/Fixtures/\(name)").path
    }
    /// Loads a committed safetensors fixture (traps with a clear message if missing: run scripts/make_fixtures.py).
    public static func loadFixture(_ target: String, _ name: String) -> [String: Tensor] {
        let path = fixture(target, name)
        do { return try Safetensors.load(path: path).tensors } catch {
            preconditionFailure("fixture \(path) unreadable (\(error)); regenerate with /usr/bin/python3 scripts/make_fixtures.py")
        }
    }
}
