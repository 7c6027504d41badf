import CTorch

// Shape, view and indexing operations.

extension Tensor {
    private func withShape(_ s: [Int], _ f: (UnsafeMutablePointer<ctorch_tensor?>, UnsafePointer<Int64>?, Int64) -> Int32) -> Tensor {
        let v = s.map { Int64($0) }
        return withExtendedLifetime(self) { Tensor.make { out in v.withUnsafeBufferPointer { f(out, $0.baseAddress, Int64($0.count)) } } }
    }
    /// A tensor with the same data in `shape` (one entry may be -1).
    public func reshaped(_ shape: [Int]) -> Tensor { withShape(shape) { ctorch_reshape($0, handle, $1, $2) } }
    public func reshaped(_ shape: Int...) -> Tensor { reshaped(shape) }
    public func permuted(_ dims: [Int]) -> Tensor { withShape(dims) { ctorch_permute($0, handle, $1, $2) } }
    public func permuted(_ dims: Int...) -> Tensor { permuted(dims) }
    public func transposed(_ d0: Int, _ d1: Int) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_transpose($0, handle, Int64(d0), Int64(d1)) } }
    }
    /// Broadcast view to `shape` (-1 keeps a dimension).
    public func expanded(_ shape: [Int]) -> Tensor { withShape(shape) { ctorch_expand($0, handle, $1, $2) } }
    public func repeated(_ reps: [Int]) -> Tensor { withShape(reps) { ctorch_repeat($0, handle, $1, $2) } }
    public func flipped(_ dims: [Int]) -> Tensor { withShape(dims) { ctorch_flip($0, handle, $1, $2) } }
    public func squeezed(axis: Int? = nil) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_squeeze($0, handle, Int64(axis ?? 0), axis == nil ? 1 : 0) } }
    }
    public func unsqueezed(axis: Int) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_unsqueeze($0, handle, Int64(axis)) } }
    }
    public func flattened(start: Int = 0, end: Int = -1) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_flatten($0, handle, Int64(start), Int64(end)) } }
    }
    public func rolled(shifts: [Int], axes: [Int]) -> Tensor {
        precondition(shifts.count == axes.count, "rolled: shifts and axes differ in length")
        let s = shifts.map { Int64($0) }, d = axes.map { Int64($0) }
        return withExtendedLifetime(self) { Tensor.make { ctorch_roll($0, handle, s, d, Int64(s.count)) } }
    }

    /// Elements `start..<end` (step `step`) along `axis`; negative bounds count from the end.
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        withExtendedLifetime(self) {
            Tensor.make { ctorch_slice($0, handle, Int64(axis), Int64(start), Int64(end ?? Int(Int64.max)), Int64(step)) }
        }
    }
    /// Index `index` of `axis`, removing that axis.
    public func select(axis: Int, index: Int) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_select($0, handle, Int64(axis), Int64(index)) } }
    }
    public subscript(index: Int) -> Tensor { select(axis: 0, index: index) }
    public subscript(range: Range<Int>) -> Tensor { slice(axis: 0, start: range.lowerBound, end: range.upperBound) }
    /// Rows of `axis` picked by an int64 index tensor.
    public func indexSelect(axis: Int, _ index: Tensor) -> Tensor {
        withExtendedLifetime((self, index)) { Tensor.make { ctorch_index_select($0, handle, Int64(axis), index.handle) } }
    }
    public func gather(axis: Int, _ index: Tensor) -> Tensor {
        withExtendedLifetime((self, index)) { Tensor.make { ctorch_gather($0, handle, Int64(axis), index.handle) } }
    }
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        withExtendedLifetime((self, mask)) { Tensor.make { ctorch_masked_fill($0, handle, mask.handle, value) } }
    }
    /// Lower (or upper) triangle.
    public func tril(_ diagonal: Int = 0) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_tril($0, handle, Int64(diagonal), 0) } } }
    public func triu(_ diagonal: Int = 0) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_tril($0, handle, Int64(diagonal), 1) } } }
    public func oneHot(classes: Int) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_one_hot($0, handle, Int64(classes)) } } }

    /// Splits into `chunks` pieces along `axis` (the last may be smaller).
    public func chunked(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        let n = size(axis)
        let step = (n + chunks - 1) / chunks
        return stride(from: 0, to: n, by: Swift.max(step, 1)).map { slice(axis: axis, start: $0, end: Swift.min($0 + step, n)) }
    }

    public enum PadMode: Int32, Sendable { case constant = 0, reflect, replicate, circular }
    /// Pads as `torch.nn.functional.pad`: `pads` lists (before, after) pairs from the last dimension back.
    public func padded(_ pads: [Int], mode: PadMode = .constant, value: Double = 0) -> Tensor {
        let p = pads.map { Int64($0) }
        return withExtendedLifetime(self) { Tensor.make { out in p.withUnsafeBufferPointer { ctorch_pad(out, handle, $0.baseAddress, Int64($0.count), mode.rawValue, value) } } }
    }
}

/// Concatenates along an existing axis.
public func concatenated(_ tensors: [Tensor], axis: Int = 0) -> Tensor { joined(tensors, axis, stack: false) }
/// Stacks along a new axis.
public func stacked(_ tensors: [Tensor], axis: Int = 0) -> Tensor { joined(tensors, axis, stack: true) }

private func joined(_ tensors: [Tensor], _ axis: Int, stack: Bool) -> Tensor {
    precondition(!tensors.isEmpty, "concatenate/stack: no tensors given")
    return withExtendedLifetime(tensors) {
        let hs: [ctorch_tensor?] = tensors.map { $0.handle }
        return Tensor.make { out in hs.withUnsafeBufferPointer { ctorch_cat(out, $0.baseAddress, Int64($0.count), Int64(axis), stack ? 1 : 0) } }
    }
}

extension Tensor {
    /// A view with explicit sizes, strides (in elements) and storage offset, copied when `copy` is set.
    public func asStrided(shape: [Int], strides: [Int], offset: Int = 0, copy: Bool = true) -> Tensor {
        precondition(shape.count == strides.count, "asStrided: shape and strides differ in rank")
        let s = shape.map { Int64($0) }, st = strides.map { Int64($0) }
        return withExtendedLifetime(self) { Tensor.make { ctorch_as_strided($0, handle, s, st, Int64(s.count), Int64(offset), copy ? 1 : 0) } }
    }
}

extension Tensor {
    /// The most dimensions a tensor read from a file may have (LibTorch allows more; no model needs them).
    public static let maxFileRank = 32

    /// The element and byte counts of a tensor of `shape` and `dtype` described by an untrusted file, or nil when a
    /// dimension is negative, the rank exceeds `maxFileRank`, or either count overflows: file readers check this
    /// before trusting a shape (a product that wraps around would pass a size check and trap later).
    public static func checkedSize(shape: [Int], dtype: DType) -> (elements: Int, bytes: Int)? {
        guard shape.count <= maxFileRank else { return nil }
        // The product of the non-zero dimensions bounds every stride too (an empty tensor of [0, 2^40, 2^40]
        // has no elements but strides LibTorch cannot compute).
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: Swift.max(d, 1))
            guard !overflow else { return nil }
            n = p
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: dtype.size)
        if overflow { return nil }
        return shape.contains(0) ? (0, 0) : (n, bytes)
    }
}
