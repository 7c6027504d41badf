import ArgumentParser
import Detection
import Foundation
import Hummingbird
import Imaging
import Journal
import Server

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The web page and REST API: open http://HOST:PORT/ in a browser, or POST images to /api/v1/analyze.",
        discussion: "Models are loaded once and shared. Limits: --max-body (413), --max-pixels (413), --concurrency inference slots with a --queue of waiting requests (503 + Retry-After beyond), --timeout seconds per request (503). Nothing is written to disk and uploaded bytes never reach the logs.")
    @Option(help: "Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every network interface).") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Models, comma-separated: 'default' (the CLIP probe when installed, else the bundled model), 'bundled', 'clip', or model files.") var models = "default"
    @Option(help: "Largest request body in bytes.") var maxBody = 50 << 20
    @Option(help: "Largest image in pixels (checked before decoding).") var maxPixels = ImageLimits.default.maxPixels
    @Option(help: ArgumentHelp("Inference slots; the default is the number of CPU cores.", valueName: "n")) var concurrency = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Requests that may wait for a slot.") var queue = 64
    @Option(help: "Seconds per request.") var timeout = 30.0
    @Option(help: "Seconds a connection may send nothing (unfinished headers, a stalled upload, an unused keep-alive) before it is closed.") var idleTimeout = 30.0
    @Option(help: "On SIGTERM/SIGINT: seconds of answering new requests with 503 (and /healthz with 503 draining) before the listener closes; accepted requests always finish.") var drainSeconds = 2.0
    @Option(help: "A localiser model file (localise train): the API marks AI regions when asked (localise=true) and the page shows them.") var localiser: String?
    @Option(help: "A review store (SQLite; created if absent): adds the review page at /review and its API (see `aidetect review`).") var review: String?
    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard maxBody > 0, maxPixels > 0, concurrency > 0, queue >= 0, timeout > 0, drainSeconds >= 0, idleTimeout > 0 else {
            throw ValidationError("--max-body, --max-pixels, --concurrency, --timeout and --idle-timeout must be positive, --queue and --drain-seconds at least 0")
        }
    }

    func run() throws {
        runtime.apply()
        let analyzer: Analyzer
        do {
            analyzer = try Analyzer.load(models: models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                                         limits: ImageLimits(maxBytes: maxBody, maxPixels: maxPixels), localiser: localiser)
        } catch {
            eprint("error: \(error.localizedDescription)")
            throw ExitCode(4)
        }
        var c = ServerConfiguration()
        c.host = host; c.port = port; c.maxBodyBytes = maxBody; c.concurrency = concurrency; c.maxQueue = queue; c.requestTimeout = timeout
        c.idleTimeout = idleTimeout
        if let review {
            do { c.review = try ReviewStore(path: review) } catch {
                eprint("error: \(error.localizedDescription)")
                throw ExitCode(4)
            }
        }
        let drain = DrainState()
        let app = buildApplication(analyzer: analyzer, configuration: c, drain: drain)
        eprint("aidetect serve: http://\(host):\(port)/ (\(analyzer.names.joined(separator: ", ")))")
        if let review { eprint("review page: http://\(host):\(port)/review (store \(review))") }
        for why in analyzer.detectors.compactMap(\.selectionNote) { eprint(why) }
        let done = DispatchSemaphore(value: 0)
        let failure = LockedError()
        Task {
            do { try await runDraining(app, drain: drain, drainSeconds: drainSeconds) { eprint("aidetect serve: \($0)") } } catch { failure.set(error) }
            done.signal()
        }
        done.wait()
        if let e = failure.get() { throw e }
    }
}

final class LockedError: @unchecked Sendable {
    private let lock = NSLock()
    private var e: (any Error)?
    func set(_ x: any Error) { lock.withLock { e = x } }
    func get() -> (any Error)? { lock.withLock { e } }
}
