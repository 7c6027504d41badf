import Foundation
import Torch

/// Data-parallel training on a c10d `ProcessGroup`: every rank runs forward and backward on its shard of the global
/// batch, then the gradients are summed over the group in flat buckets (one collective per ~25 MB instead of one
/// per parameter) and scaled, so that every rank applies the same update as one process on the whole batch.
extension ProcessGroup {
    /// Sums the gradients of `parameters` over the group and multiplies them by `scale` (parameters without a
    /// gradient on this rank contribute zeros, so every rank joins every collective). Tensors on a GPU are staged
    /// through the CPU (Gloo).
    public func allReduceGradients(_ parameters: [Tensor], scale: Double, bucketBytes: Int = 25 << 20) throws {
        let grads = parameters.map { ($0, $0.grad ?? $0.detached().zerosLike()) }
        try inBuckets(grads.map(\.1), bucketBytes: bucketBytes, reduce: { try allReduce([$0]) }) { i, reduced in
            let (p, g) = grads[i]
            if scale != 1 { reduced.mul_(scale) }
            p.grad = reduced.reshaped(g.shape).to(device: p.device)
        }
    }

    /// Copies rank `root`'s parameters and buffers (batch-norm statistics) of `module` to every rank.
    public func broadcast(module: Module, root: Int = 0) throws {
        let tensors = module.namedParameters().map(\.1) + module.namedBuffers().map(\.1)
        try inBuckets(tensors, bucketBytes: 25 << 20, reduce: { try broadcast([$0], root: root) }) { i, value in
            withNoGrad { tensors[i].copy_(value.reshaped(tensors[i].shape).to(device: tensors[i].device)) }
        }
    }

    /// Element-wise sums of `values` over the group (loss sums, counts; float64).
    public func allReduce(sums values: [Double]) throws -> [Double] {
        guard !values.isEmpty else { return [] }
        let t = Tensor(values)
        try allReduce([t])
        return t.toArray(Double.self)
    }

    /// Runs `reduce` on flat CPU copies of `tensors`, grouped into buckets of one dtype and at most `bucketBytes`
    /// (a tensor larger than that is a bucket of its own), and hands each tensor's reduced slice back in order.
    private func inBuckets(_ tensors: [Tensor], bucketBytes: Int, reduce: (Tensor) throws -> Void,
                           _ done: (Int, Tensor) -> Void) throws {
        var start = 0
        while start < tensors.count {
            let dtype = tensors[start].dtype
            var end = start, bytes = 0
            while end < tensors.count, tensors[end].dtype == dtype, end == start || bytes + tensors[end].count * dtype.size <= bucketBytes {
                bytes += tensors[end].count * dtype.size
                end += 1
            }
            let flat = concatenated(tensors[start..<end].map { $0.detached().reshaped([-1]).to(device: .cpu) }, axis: 0)
            try reduce(flat)
            var offset = 0
            for i in start..<end {
                let n = tensors[i].count
                done(i, flat.slice(axis: 0, start: offset, end: offset + n))
                offset += n
            }
            start = end
        }
    }
}
