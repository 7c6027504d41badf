import Explain
import Foundation
import Imaging
import Journal

/// The evidence of a review as one self-contained HTML file (no scripts, no external resources: images inline as
/// data URIs) that a journalist can attach to a story or print; and the same printed to PDF by headless Chromium.
public enum ReviewExport {
    /// One reviewed image: the store's item, its evidence report (when made) and a JPEG of the image (when readable).
    public struct Entry: Sendable {
        public var item: ReviewItem
        public var report: Analyzer.Report?
        public var jpeg: [UInt8]?
        /// Why the evidence is missing, when it is.
        public var problem: String?
        /// The report's heat-map and region overlays as (caption, JPEG), once `compacted`.
        public var overlays: [(caption: String, jpeg: [UInt8])]?
        public init(item: ReviewItem, report: Analyzer.Report?, jpeg: [UInt8]?, problem: String? = nil) {
            self.item = item
            self.report = report
            self.jpeg = jpeg
            self.problem = problem
        }
    }

    /// The entry with its overlays re-encoded as JPEG (a fifth of the PNGs' size) and the report's base64 PNGs
    /// dropped: an export of hundreds of images stays a few hundred kilobytes each.
    public static func compacted(_ entry: Entry) -> Entry {
        var e = entry
        guard var r = e.report else { return e }
        var overlays: [(String, [UInt8])] = []
        func jpeg(_ base64: String) -> [UInt8]? {
            guard let data = Data(base64Encoded: base64), let image = try? ImageDecoder().decode(data: [UInt8](data), name: "overlay").image else { return nil }
            return ImageEncoder.jpeg(image, quality: 80)
        }
        for m in r.heatmaps {
            if let j = jpeg(m.overlayPNG) { overlays.append(("\(m.method) heat map of \(m.model): where the model found its evidence", j)) }
        }
        if let l = r.localisation {
            if l.result.containsAIRegion, let j = jpeg(l.overlayPNG) {
                overlays.append(("AI regions marked by \(l.result.model) (\(l.result.regions.count) region(s), \(String(format: "%.0f%%", l.result.maskedFraction * 100)) of the image)", j))
            }
            r.localisation?.maskPNG = ""
            r.localisation?.overlayPNG = ""
        }
        for i in r.heatmaps.indices { r.heatmaps[i].overlayPNG = "" }
        e.report = r
        e.overlays = overlays
        return e
    }

    /// What the page says about a localiser's reliability, for the export too.
    static func localiserCaveat(_ result: LocalisationResult) -> String {
        var s = result.fitted ? "" : " Its threshold was not fitted on validation data: treat the regions as a rough guide."
        if let f = result.figures {
            if let p = f["testPristineFlagged"], let q = f["testSplicedFlagged"] {
                s += String(format: " On its test split it marked regions in %.0f%% of untouched images and in %.0f%% of images with a pasted AI region", p * 100, q * 100)
                s += f["testPixelF1"].map { String(format: " (pixel F1 %.2f).", $0) } ?? "."
            } else if let p = f["pristineFlagged"] {
                s += String(format: " On the untouched validation images its threshold was fitted on, it marked regions in %.0f%%.", p * 100)
            }
        }
        return s
    }

    static func esc(_ s: String) -> String {
        var o = ""
        o.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }
    static func pct(_ p: Double?) -> String { p.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
    static let labelNames = ["ai": "AI-made", "real": "real", "unsure": "cannot tell"]

    /// The report: a summary table, then per image its picture, heat map and AI-region overlays, the verdict and
    /// each model's score, the provenance evidence, and the reviewer's label and note.
    public static func html(_ entries: [Entry], title: String = "aidetect review", generated: Date = Date(), caveat: String) -> String {
        let when = ISO8601DateFormatter().string(from: generated)
        var h = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(esc(title))</title>
        <style>
          body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b; margin: 0 auto; padding: 1rem; max-width: 1000px; }
          h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin: 0 0 .4rem; }
          table { border-collapse: collapse; width: 100%; margin: .4rem 0; } td, th { border-bottom: 1px solid #ccc; padding: .25rem .4rem; text-align: left; vertical-align: top; }
          td { overflow-wrap: anywhere; } td.num { white-space: nowrap; }
          .item { border: 1px solid #ccc; border-radius: 8px; padding: .8rem; margin: 1rem 0; break-inside: avoid; page-break-inside: avoid; }
          .pics { display: flex; flex-wrap: wrap; gap: .5rem; } .pics figure { margin: 0; flex: 1 1 220px; min-width: 0; }
          .pics img { max-width: 100%; max-height: 360px; display: block; border-radius: 4px; } figcaption { font-size: .8rem; color: #555; }
          .band { font-weight: 700; padding: .1rem .4rem; border-radius: 4px; color: #fff; }
          .likely-AI { background: #b3261e; } .likely-real { background: #1e6b35; } .uncertain { background: #8a5a00; }
          .label { font-weight: 700; } .note { white-space: pre-wrap; border-left: 4px solid #888; padding: .2rem .6rem; background: #f6f6f6; }
          .muted { color: #555; font-size: .85rem; } code { overflow-wrap: anywhere; }
        </style></head><body>
        <h1>\(esc(title))</h1>
        <p class="muted">Exported \(esc(when)) by aidetect. \(entries.count) image(s). \(esc(caveat))</p>
        <table><caption class="muted">Summary: the detector's verdict and the reviewer's label</caption>
        <tr><th>#</th><th>Image</th><th>P(AI)</th><th>Detector</th><th>Reviewer</th></tr>

        """
        for (n, e) in entries.enumerated() {
            h += "<tr><td>\(n + 1)</td><td><a href=\"#item-\(e.item.id)\">\(esc(e.item.name))</a></td><td>\(pct(e.report?.ensemble.probability ?? e.item.probability))</td>"
            h += "<td>\(esc(e.report?.fused.verdict ?? e.item.verdict ?? e.item.error ?? "–"))</td><td>\(esc(e.item.label.flatMap { labelNames[$0] } ?? "not labelled"))</td></tr>\n"
        }
        h += "</table>\n"
        for (n, e) in entries.enumerated() {
            let i = e.item
            h += "<section class=\"item\" id=\"item-\(i.id)\"><h2>\(n + 1). \(esc(i.name))</h2>\n"
            if let sha = i.sha256 { h += "<p class=\"muted\">SHA-256 <code>\(esc(sha))</code></p>\n" }
            h += "<div class=\"pics\">"
            if let j = e.jpeg { h += "<figure><img alt=\"\(esc(i.name))\" src=\"data:image/jpeg;base64,\(Data(j).base64EncodedString())\"><figcaption>The image</figcaption></figure>" }
            for o in e.overlays ?? compacted(e).overlays ?? [] {
                h += "<figure><img alt=\"\(esc(o.caption))\" src=\"data:image/jpeg;base64,\(Data(o.jpeg).base64EncodedString())\"><figcaption>\(esc(o.caption))</figcaption></figure>"
            }
            h += "</div>\n"
            if let r = e.report {
                h += "<p><span class=\"band \(esc(r.fused.verdict))\">\(esc(r.fused.verdict))</span> Combined P(AI) \(pct(r.ensemble.probability)): \(esc(r.fused.reason ?? r.reason)). \(esc(r.file.format)) \(r.file.width)×\(r.file.height).</p>\n"
                h += "<table><tr><th>Model</th><th>P(AI)</th><th>Verdict</th><th>AUC on unseen generators</th><th>False alarms on real images</th></tr>"
                for m in r.models {
                    h += "<tr><td>\(esc(m.label)) <span class=\"muted\">\(esc(m.name))\(m.calibrated ? "" : ", uncalibrated")</span></td><td class=\"num\">\(pct(m.probability))</td><td>\(esc(m.verdict))</td>"
                    h += "<td>\(m.figures?.heldOutAUC.map { String(format: "%.3f", $0) } ?? "–")</td><td>\(pct(m.figures?.realFalseAlarmRate))</td></tr>"
                }
                h += "</table>\n"
                if let l = r.localisation {
                    h += l.result.containsAIRegion
                        ? "<p>AI regions: \(l.result.regions.map { "(\($0.x), \($0.y)) \($0.width)×\($0.height) score \(String(format: "%.2f", $0.score))" }.joined(separator: "; ")).</p>\n"
                        : "<p>AI regions: none found by \(esc(l.result.model)) (score \(String(format: "%.3f", l.result.score)) below its threshold \(String(format: "%.3f", l.result.threshold))).</p>\n"
                    h += "<p class=\"muted\">\(esc(localiserCaveat(l.result).trimmingCharacters(in: .whitespaces)))</p>\n"
                }
                h += "<p><strong>Provenance evidence</strong></p><ul>"
                for p in r.provenance.evidence {
                    h += "<li><strong>\(esc(p.source))</strong> (\(esc(p.direction.rawValue))\(p.strength > 0 ? String(format: ", strength %.2f", p.strength) : "")): \(esc(p.finding))<br><span class=\"muted\">\(esc(p.explanation))</span></li>"
                }
                h += "</ul>\n"
                if !r.warnings.isEmpty { h += "<ul class=\"muted\">" + r.warnings.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n" }
            } else if let err = i.error {
                h += "<p>Could not be analysed: \(esc(err))</p>\n"
            } else {
                h += "<p>Detector: \(esc(i.verdict ?? "–")), P(AI) \(pct(i.probability)). The full evidence could not be made\(e.problem.map { ": " + esc($0) } ?? "").</p>\n"
            }
            h += "<p>Reviewer's label: <span class=\"label\">\(esc(i.label.flatMap { labelNames[$0] } ?? "not labelled"))</span>\(i.reviewedAt.map { " <span class=\"muted\">(\(esc($0)))</span>" } ?? "")</p>\n"
            if let note = i.note { h += "<div class=\"note\">\(esc(note))</div>\n" }
            h += "</section>\n"
        }
        h += "<p class=\"muted\">A detector's score is evidence, not proof. Provenance metadata can be stripped or forged; its absence is not evidence of a real photo.</p>\n</body></html>\n"
        return h
    }

    public enum PDFError: Error, LocalizedError {
        case noChromium
        case failed(String)
        var isMissing: Bool { if case .noChromium = self { return true } else { return false } }
        public var errorDescription: String? {
            switch self {
            case .noChromium: return "PDF export needs Chromium (apt-get install chromium); the HTML export works without it"
            case .failed(let why): return "Chromium could not print the report: \(why)"
            }
        }
    }

    /// Chromium, where installed (`$AIDETECT_CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on PATH).
    public static var chromium: String? {
        if let c = ProcessInfo.processInfo.environment["AIDETECT_CHROMIUM"], FileManager.default.isExecutableFile(atPath: c) { return c }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for n in ["chromium", "chromium-browser", "google-chrome"] {
            for d in dirs where FileManager.default.isExecutableFile(atPath: "\(d)/\(n)") { return "\(d)/\(n)" }
        }
        return nil
    }

    /// Prints `html` to PDF with headless Chromium (A4, no header or footer), within `timeout` seconds.
    public static func pdf(_ html: String, timeout: Double = 120) throws -> Data {
        guard let chromium else { throw PDFError.noChromium }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aidetect-pdf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("report.html"), out = dir.appendingPathComponent("report.pdf")
        try Data(html.utf8).write(to: page)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        // The report holds no script (every value is escaped) and loads nothing; Chromium is kept off the network.
        // (Turning JavaScript off with --blink-settings=scriptEnabled=false stops headless printing altogether.)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-pdf-header-footer",
                       "--disable-extensions", "--disable-background-networking",
                       "--user-data-dir=\(dir.appendingPathComponent("profile").path)", "--print-to-pdf=\(out.path)", page.absoluteString]
        let errors = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errors
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        // Chromium's stderr is read while it runs (a full pipe would stall it).
        let drained = LockedData()
        errors.fileHandleForReading.readabilityHandler = { h in drained.append(h.availableData) }
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        defer { errors.fileHandleForReading.readabilityHandler = nil }
        if p.isRunning {
            p.terminate()
            let grace = Date().addingTimeInterval(5)
            while p.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.05) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            throw PDFError.failed("timed out after \(Int(timeout)) s")
        }
        guard let data = try? Data(contentsOf: out), data.starts(with: Array("%PDF".utf8)) else {
            let tail = String(decoding: drained.get().suffix(400), as: UTF8.self)
            throw PDFError.failed("exit \(p.terminationStatus), no PDF written" + (tail.isEmpty ? "" : ": " + tail))
        }
        return data
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var d = Data()
    func append(_ x: Data) { lock.withLock { d.append(x) } }
    func get() -> Data { lock.withLock { d } }
}
