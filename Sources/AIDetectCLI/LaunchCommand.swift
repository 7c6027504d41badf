import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `aidetect launch --nproc N -- train ...`: starts N ranks of a distributed command on this machine (and, with
/// --nnodes/--node-rank, this machine's share of a run across several), the way `torchrun` does for PyTorch.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run N processes of a distributed command (train, train-probe) on this machine.",
        discussion: """
            Each process gets $AIDETECT_WORLD_SIZE, $AIDETECT_RANK and $AIDETECT_MASTER (and $AIDETECT_THREADS = cores / N \
            unless set). Rank 0's standard output is shown; every rank's standard error is shown prefixed by its rank. \
            If one process fails, the others are stopped and launch exits with its status. Across machines: run \
            `aidetect launch --nnodes M --node-rank K --master HOST0:PORT --nproc N -- train ...` on each machine K.
            Example: aidetect launch --nproc 2 -- train --model cifake_cnn --data set.tar --output runs/a
            """)
    @Option(help: "Processes on this machine.") var nproc = 2
    @Option(help: "Machines taking part.") var nnodes = 1
    @Option(help: "This machine's index, 0..<nnodes (machine 0 runs rank 0).") var nodeRank = 0
    @Option(help: "Rank 0's HOST:PORT; default: 127.0.0.1 and a free port (one machine only).") var master: String?
    @Argument(parsing: .postTerminator, help: "The aidetect command and its options, after --.") var command: [String] = []

    func validate() throws {
        guard nproc >= 1, nnodes >= 1 else { throw ValidationError("--nproc and --nnodes must be at least 1") }
        guard (0..<nnodes).contains(nodeRank) else { throw ValidationError("--node-rank must be in 0..<\(nnodes)") }
        guard nnodes == 1 || master != nil else { throw ValidationError("--nnodes \(nnodes) needs --master HOST:PORT (machine 0's address)") }
        guard let first = command.first else { throw ValidationError("give the command after --, e.g. aidetect launch --nproc 2 -- train ...") }
        guard ["train", "train-probe"].contains(first) else { throw ValidationError("launch runs train or train-probe, not '\(first)'") }
    }

    func run() throws {
        let world = nproc * nnodes
        let address = try master ?? "127.0.0.1:\(Self.freePort())"
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / nproc)
        var children: [Process] = []
        for local in 0..<nproc {
            let rank = nodeRank * nproc + local
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = command
            var env = ProcessInfo.processInfo.environment
            env["AIDETECT_WORLD_SIZE"] = String(world)
            env["AIDETECT_RANK"] = String(rank)
            env["AIDETECT_MASTER"] = address
            if env["AIDETECT_THREADS"] == nil { env["AIDETECT_THREADS"] = String(threads) }
            p.environment = env
            if rank != 0 { p.standardOutput = FileHandle.nullDevice }
            let errors = Pipe()
            p.standardError = errors
            let pending = LineBuffer(prefix: "[rank \(rank)] ")
            errors.fileHandleForReading.readabilityHandler = { h in
                let data = h.availableData
                if data.isEmpty { h.readabilityHandler = nil }
                FileHandle.standardError.write(pending.lines(data, final: data.isEmpty))
            }
            try p.run()
            children.append(p)
        }
        eprint("launch: \(nproc) process(es) of \(world), meeting at \(address)")
        // Forward SIGINT/SIGTERM to the ranks; stop the others as soon as one fails.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { for c in children where c.isRunning { kill(c.processIdentifier, sig) } }
            s.resume()
            sources.append(s)
        }
        var status: Int32 = 0
        while children.contains(where: \.isRunning) {
            if status == 0, let failed = children.first(where: { !$0.isRunning && $0.terminationStatus != 0 }) {
                status = failed.terminationStatus
                eprint("launch: a rank exited with status \(status); stopping the others")
                for c in children where c.isRunning { c.terminate() }
            }
            usleep(100_000)
        }
        if status == 0 { status = children.map(\.terminationStatus).first { $0 != 0 } ?? 0 }
        withExtendedLifetime(sources) {}
        if status != 0 { throw ExitCode(status) }
    }

    /// A TCP port free on the loopback interface right now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("launch: no socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ValidationError("launch: could not find a free port; give --master HOST:PORT") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Whole lines of a child's output, each prefixed (a partial line waits for the rest).
final class LineBuffer: @unchecked Sendable {
    private var rest = Data()
    private let prefix: Data
    private let lock = NSLock()
    init(prefix: String) { self.prefix = Data(prefix.utf8) }
    func lines(_ data: Data, final: Bool) -> Data {
        lock.lock()
        defer { lock.unlock() }
        rest.append(data)
        var out = Data()
        while let nl = rest.firstIndex(of: 10) {
            out += prefix + rest[rest.startIndex...nl]
            rest = Data(rest[rest.index(after: nl)...])
        }
        if final && !rest.isEmpty {
            out += prefix + rest + Data("\n".utf8)
            rest = Data()
        }
        return out
    }
}
