import ArgumentParser
import Detection
import Foundation
import Imaging
import Journal
import Server

struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Review analysed images in the browser: label them, add notes, export the evidence as HTML or PDF.",
        discussion: """
            aidetect scan photos/ --json > results.jsonl
            aidetect review open results.jsonl          # then open http://127.0.0.1:8090/review
            aidetect review export --html report.html --pdf report.pdf

            The store (--store, SQLite) keeps the images' verdicts, their evidence once made, and your labels and notes; \\
            reopening it continues the review. Images added on the page are kept in the store.
            """,
        subcommands: [ReviewOpen.self, ReviewExportCommand.self],
        defaultSubcommand: ReviewOpen.self)
}

struct ReviewOpen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Import scan results (scan --json or --csv) into a review store and serve the review page at /review.")
    @Argument(help: "Results of `aidetect scan --json` (JSON Lines) or `--csv`; none: reopen the store as it is.") var results: [String] = []
    @Option(help: "The review store (SQLite; created if absent).") var store = "review.sqlite"
    @Option(help: "Folder that the results' relative paths start from (default: the current folder).") var root: String?
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8090
    @Option(help: "Models for the evidence, comma-separated (as serve --models).") var models = "default"
    @Option(help: "A localiser model file (localise train): the evidence then marks AI regions.") var localiser: String?
    @Option(help: "Seconds per analysis.") var timeout = 120.0
    @OptionGroup var runtime: RuntimeOptions

    func run() throws {
        let s: ReviewStore
        do { s = try ReviewStore(path: store) } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        for r in results {
            do { eprint("\(r): \(try s.importResults(r, root: root)) file(s) added to \(store)") } catch {
                eprint("error: \(error.localizedDescription)")
                throw ExitCode(2)
            }
        }
        var args = ["--host", host, "--port", String(port), "--models", models, "--review", store, "--timeout", String(timeout)]
        if let localiser { args += ["--localiser", localiser] }
        if let t = runtime.threads { args += ["--threads", String(t)] }
        if let p = runtime.precision { args += ["--precision", p] }
        if let d = runtime.device { args += ["--device", d] }
        var serve = try ServeCommand.parse(args)
        try serve.run()
    }
}

struct ReviewExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a review's labelled images (or all) with their evidence as one self-contained HTML file, and PDF through headless Chromium.")
    @Option(help: "The review store.") var store = "review.sqlite"
    @Option(help: "Write the HTML report here.") var html: String?
    @Option(help: "Write the PDF here (needs Chromium).") var pdf: String?
    @Flag(help: "Every image of the review, not only the labelled ones.") var all = false
    @Option(help: "Models for evidence not yet made (as serve --models).") var models = "default"
    @Option(help: "A localiser model file for evidence not yet made.") var localiser: String?
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard html != nil || pdf != nil else { throw ValidationError("give --html FILE, --pdf FILE or both") }
        guard FileManager.default.fileExists(atPath: store) else { throw ValidationError("\(store): no such review store (aidetect review open RESULTS --store \(store))") }
    }

    func run() throws {
        runtime.apply()
        let s = try ReviewStore(path: store)
        let analyzer = try Analyzer.load(models: models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                                         localiser: localiser)
        let (all, html, pdf) = (all, html, pdf)
        let done = DispatchSemaphore(value: 0)
        let failure = LockedError()
        Task {
            do {
                let entries = try await ReviewExport.entries(store: s, analyzer: analyzer, all: all)
                let page = ReviewExport.html(entries, caveat: Reliability.caveat)
                if let html {
                    try Data(page.utf8).write(to: URL(fileURLWithPath: html))
                    print("\(html): \(entries.count) image(s)")
                }
                if let pdf {
                    try ReviewExport.pdf(page).write(to: URL(fileURLWithPath: pdf))
                    print("\(pdf): \(entries.count) image(s)")
                }
            } catch { failure.set(error) }
            done.signal()
        }
        done.wait()
        if let e = failure.get() {
            eprint("error: \(e.localizedDescription)")
            throw ExitCode(1)
        }
    }
}
