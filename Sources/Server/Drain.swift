import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// Whether the server is draining, and how many requests it is answering. On SIGTERM (or SIGINT) the server
/// drains: requests already accepted run to the end; new ones get 503 with Retry-After (a load balancer in front
/// retries them on another process, see deploy/); `/healthz` answers 503 `{"status": "draining"}` so that health
/// checks take the process out of rotation; after `drainSeconds` the listener closes and the process exits once
/// the last accepted request has been answered.
public final class DrainState: @unchecked Sendable {
    private let lock = NSLock()
    private var _draining = false
    private var _inFlight = 0
    public init() {}
    public var draining: Bool { lock.withLock { _draining } }
    public var inFlight: Int { lock.withLock { _inFlight } }
    /// Starts draining; false if it had already started.
    @discardableResult public func start() -> Bool {
        lock.withLock { defer { _draining = true }; return !_draining }
    }
    func enter() { lock.withLock { _inFlight += 1 } }
    func leave() { lock.withLock { _inFlight -= 1 } }
}

/// Refuses new work while draining (503, Retry-After, Connection: close), except health and metrics; counts the
/// requests in flight otherwise.
struct DrainMiddleware<Context: RequestContext>: RouterMiddleware {
    let drain: DrainState
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if drain.draining && path != "/healthz" && path != "/metrics" {
            throw APIError(status: .serviceUnavailable, message: "the server is shutting down; retry on another instance",
                           kind: "draining", headers: [.retryAfter: "1", .connection: "close"])
        }
        drain.enter()
        defer { drain.leave() }
        return try await next(request, context)
    }
}

/// Runs `app` until SIGTERM or SIGINT, then drains (see `DrainState`) for `drainSeconds` before closing the listener
/// and waiting for the requests in flight. A second signal stops at once.
public func runDraining(_ app: some ApplicationProtocol, drain: DrainState, drainSeconds: Double,
                        log: @escaping @Sendable (String) -> Void) async throws {
    let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: app.logger))
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    let sources = [SIGTERM, SIGINT].map { sig -> DispatchSourceSignal in
        let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        s.setEventHandler {
            guard drain.start() else {
                log("second signal: stopping now")
                exit(sig == SIGINT ? 130 : 143)
            }
            log("draining: new requests get 503 for \(drainSeconds) s, then the listener closes after \(drain.inFlight) request(s) in flight")
            Task {
                try? await Task.sleep(for: .milliseconds(Int(drainSeconds * 1000)))
                await group.triggerGracefulShutdown()
            }
        }
        s.resume()
        return s
    }
    defer { sources.forEach { $0.cancel() } }
    try await group.run()
    log("drained: every accepted request answered; exiting")
}
