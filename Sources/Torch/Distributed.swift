import CTorch
import Foundation

/// A group of processes that train together through LibTorch's distributed engine (c10d): a Gloo process group
/// whose members meet through a TCPStore served by rank 0. Collectives run on CPU tensors (CUDA tensors are
/// staged through the CPU by the callers in NN); every call blocks until all ranks have made it.
public final class ProcessGroup: @unchecked Sendable {
    let handle: ctorch_pg
    public let rank: Int
    public let worldSize: Int
    public let master: String

    public enum ReduceOp: Int32, Sendable { case sum = 0, max = 1, min = 2 }

    /// Where the group meets (`host:port`, rank 0's address) and who this process is; `timeout` (seconds) bounds
    /// the meeting and every collective, so a rank that died makes the others fail instead of hang.
    public init(master: String, rank: Int, worldSize: Int, timeout: Double = 1800) throws {
        guard let colon = master.lastIndex(of: ":"), let port = Int(master[master.index(after: colon)...]),
              (1..<65536).contains(port), colon > master.startIndex else {
            throw TorchError("--master must be HOST:PORT (rank 0's address and a free port), not \"\(master)\"")
        }
        guard worldSize >= 1, (0..<worldSize).contains(rank) else {
            throw TorchError("rank \(rank) is not in 0..<\(worldSize) (--rank, --world-size)")
        }
        let host = String(master[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var pg: ctorch_pg?
        try withTorchErrors {
            check(ctorch_pg_gloo(&pg, host, Int32(port), Int32(rank), Int32(worldSize), Int64(timeout * 1000)))
        }
        guard let pg else { throw TorchError("c10d: no process group for \(master)") }
        handle = pg
        self.rank = rank
        self.worldSize = worldSize
        self.master = master
    }
    deinit { ctorch_pg_free(handle) }

    /// In-place reduction of dense, contiguous CPU tensors across the group (one collective each).
    public func allReduce(_ tensors: [Tensor], op: ReduceOp = .sum) throws {
        try collective(tensors) { ctorch_pg_allreduce(handle, $0, $1, op.rawValue) }
    }

    /// In-place copy of `root`'s tensors to every rank.
    public func broadcast(_ tensors: [Tensor], root: Int = 0) throws {
        try collective(tensors) { ctorch_pg_broadcast(handle, $0, $1, Int32(root)) }
    }

    public func barrier() throws {
        try withTorchErrors { check(withExtendedLifetime(self) { ctorch_pg_barrier(handle) }) }
    }

    /// Publishes bytes under `key` in the group's store (any rank can read them with `value(for:)`).
    public func setValue(_ data: Data, for key: String) throws {
        try withTorchErrors {
            check(data.withUnsafeBytes { b in
                withExtendedLifetime(self) { ctorch_pg_store_set(handle, key, b.bindMemory(to: UInt8.self).baseAddress, Int64(b.count)) }
            })
        }
    }

    /// The bytes under `key`, waiting (up to the timeout) until some rank has set them.
    public func value(for key: String) throws -> Data {
        var p: UnsafeMutablePointer<UInt8>?
        var n: Int64 = 0
        try withTorchErrors { check(withExtendedLifetime(self) { ctorch_pg_store_get(handle, key, &p, &n) }) }
        guard let p else { return Data() }
        return Data(bytesNoCopy: p, count: Int(n), deallocator: .free)
    }

    private func collective(_ tensors: [Tensor], _ body: (UnsafePointer<ctorch_tensor?>, Int64) -> Int32) throws {
        guard !tensors.isEmpty else { return }
        for t in tensors where t.device != .cpu {
            throw TorchError("c10d (Gloo) collectives take CPU tensors; this one is on \(t.device)")
        }
        // One collective per tensor: c10d reads a list as copies of one tensor on several devices.
        try withTorchErrors {
            for t in tensors {
                var h: ctorch_tensor? = t.handle
                check(withExtendedLifetime((self, t)) { body(&h, 1) })
            }
        }
    }
}
