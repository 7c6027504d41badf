import CTorch

// Elementwise math, comparisons and reductions. Names follow PyTorch (terms of art).

extension Tensor {
    @inline(__always)
    func unary(_ op: Int) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_unary($0, Int32(op), handle) } }
    }
    @inline(__always)
    func binary(_ op: Int, _ other: Tensor) -> Tensor {
        withExtendedLifetime((self, other)) { Tensor.make { ctorch_binary($0, Int32(op), handle, other.handle) } }
    }
    @inline(__always)
    func binary(_ op: Int, _ s: Double) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_binary_scalar($0, Int32(op), handle, s) } }
    }

    public func neg() -> Tensor { unary(CTORCH_NEG) }
    public func abs() -> Tensor { unary(CTORCH_ABS) }
    public func exp() -> Tensor { unary(CTORCH_EXP) }
    public func log() -> Tensor { unary(CTORCH_LOG) }
    public func sqrt() -> Tensor { unary(CTORCH_SQRT) }
    public func rsqrt() -> Tensor { unary(CTORCH_RSQRT) }
    public func sin() -> Tensor { unary(CTORCH_SIN) }
    public func cos() -> Tensor { unary(CTORCH_COS) }
    public func tanh() -> Tensor { unary(CTORCH_TANH) }
    public func sigmoid() -> Tensor { unary(CTORCH_SIGMOID) }
    public func relu() -> Tensor { unary(CTORCH_RELU) }
    public func relu6() -> Tensor { unary(CTORCH_RELU6) }
    /// Exact (erf) GELU; `approximateTanh` selects the tanh form.
    public func gelu(approximateTanh: Bool = false) -> Tensor {
        unary(approximateTanh ? CTORCH_GELU_TANH : CTORCH_GELU)
    }
    /// x * sigmoid(1.702 x), the GELU approximation of OpenAI's CLIP.
    public func quickGelu() -> Tensor { unary(CTORCH_QUICK_GELU) }
    public func silu() -> Tensor { unary(CTORCH_SILU) }
    public func hardswish() -> Tensor { unary(CTORCH_HARDSWISH) }
    public func hardsigmoid() -> Tensor { unary(CTORCH_HARDSIGMOID) }
    public func softplus() -> Tensor { unary(CTORCH_SOFTPLUS) }
    public func logSigmoid() -> Tensor { unary(CTORCH_LOG_SIGMOID) }
    public func leakyRelu(_ slope: Double = 0.01) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_leaky_relu($0, handle, slope) } }
    }
    public func elu(alpha: Double = 1) -> Tensor {
        withExtendedLifetime(self) { Tensor.make { ctorch_elu($0, handle, alpha) } }
    }
    public func floor() -> Tensor { unary(CTORCH_FLOOR) }
    public func ceil() -> Tensor { unary(CTORCH_CEIL) }
    public func rounded() -> Tensor { unary(CTORCH_ROUND) }
    public func sign() -> Tensor { unary(CTORCH_SIGN) }
    public func square() -> Tensor { unary(CTORCH_SQUARE) }
    public func reciprocal() -> Tensor { unary(CTORCH_RECIPROCAL) }
    public func erf() -> Tensor { unary(CTORCH_ERF) }
    public func log1p() -> Tensor { unary(CTORCH_LOG1P) }
    public func isnan() -> Tensor { unary(CTORCH_ISNAN) }
    public func isfinite() -> Tensor { unary(CTORCH_ISFINITE) }
    public func logicalNot() -> Tensor { unary(CTORCH_LOGICAL_NOT) }
    /// A contiguous copy (or `self` viewed when already contiguous).
    public func contiguous() -> Tensor { unary(CTORCH_CONTIGUOUS) }
    /// A copy that keeps the autograd graph.
    public func cloned() -> Tensor { unary(CTORCH_CLONE) }
    /// The same data cut from the graph.
    public func detached() -> Tensor { unary(CTORCH_DETACH) }
    public func zerosLike() -> Tensor { unary(CTORCH_ZEROS_LIKE) }
    public func onesLike() -> Tensor { unary(CTORCH_ONES_LIKE) }
    public func randLike() -> Tensor { unary(CTORCH_RAND_LIKE) }
    public func randnLike() -> Tensor { unary(CTORCH_RANDN_LIKE) }

    public func pow(_ e: Double) -> Tensor { binary(CTORCH_POW, e) }
    public func pow(_ e: Tensor) -> Tensor { binary(CTORCH_POW, e) }
    public func maximum(_ o: Tensor) -> Tensor { binary(CTORCH_MAXIMUM, o) }
    public func minimum(_ o: Tensor) -> Tensor { binary(CTORCH_MINIMUM, o) }
    public func atan2(_ o: Tensor) -> Tensor { binary(CTORCH_ATAN2, o) }
    public func remainder(_ s: Double) -> Tensor { binary(CTORCH_REMAINDER, s) }
    public func floorDivided(by s: Double) -> Tensor { binary(CTORCH_FLOOR_DIVIDE, s) }
    /// Matrix product with broadcasting (torch.matmul).
    public func matmul(_ o: Tensor) -> Tensor { binary(CTORCH_MATMUL, o) }

    public func eq(_ o: Tensor) -> Tensor { binary(CTORCH_EQ, o) }
    public func ne(_ o: Tensor) -> Tensor { binary(CTORCH_NE, o) }
    public func lt(_ o: Tensor) -> Tensor { binary(CTORCH_LT, o) }
    public func le(_ o: Tensor) -> Tensor { binary(CTORCH_LE, o) }
    public func gt(_ o: Tensor) -> Tensor { binary(CTORCH_GT, o) }
    public func ge(_ o: Tensor) -> Tensor { binary(CTORCH_GE, o) }
    public func eq(_ s: Double) -> Tensor { binary(CTORCH_EQ, s) }
    public func ne(_ s: Double) -> Tensor { binary(CTORCH_NE, s) }
    public func lt(_ s: Double) -> Tensor { binary(CTORCH_LT, s) }
    public func le(_ s: Double) -> Tensor { binary(CTORCH_LE, s) }
    public func gt(_ s: Double) -> Tensor { binary(CTORCH_GT, s) }
    public func ge(_ s: Double) -> Tensor { binary(CTORCH_GE, s) }
    public func logicalAnd(_ o: Tensor) -> Tensor { binary(CTORCH_LOGICAL_AND, o) }
    public func logicalOr(_ o: Tensor) -> Tensor { binary(CTORCH_LOGICAL_OR, o) }

    /// Clamps into [min, max]; either bound may be omitted.
    public func clamped(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        withExtendedLifetime(self) {
            Tensor.make { ctorch_clamp($0, handle, lo ?? 0, hi ?? 0, lo == nil ? 0 : 1, hi == nil ? 0 : 1) }
        }
    }
    /// Elementwise `condition ? a : b`.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        withExtendedLifetime((condition, a, b)) { Tensor.make { ctorch_where($0, condition.handle, a.handle, b.handle) } }
    }

    // MARK: Operators

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.binary(CTORCH_ADD, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.binary(CTORCH_SUB, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.binary(CTORCH_MUL, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.binary(CTORCH_DIV, b) }
    public static func + (a: Tensor, s: Double) -> Tensor { a.binary(CTORCH_ADD, s) }
    public static func - (a: Tensor, s: Double) -> Tensor { a.binary(CTORCH_SUB, s) }
    public static func * (a: Tensor, s: Double) -> Tensor { a.binary(CTORCH_MUL, s) }
    public static func / (a: Tensor, s: Double) -> Tensor { a.binary(CTORCH_DIV, s) }
    public static func + (s: Double, a: Tensor) -> Tensor { a.binary(CTORCH_ADD, s) }
    public static func - (s: Double, a: Tensor) -> Tensor { a.binary(CTORCH_RSUB, s) }
    public static func * (s: Double, a: Tensor) -> Tensor { a.binary(CTORCH_MUL, s) }
    public static func / (s: Double, a: Tensor) -> Tensor { a.reciprocal() * s }
    public static prefix func - (a: Tensor) -> Tensor { a.neg() }

    // MARK: Reductions

    @inline(__always)
    func reduce(_ op: Int, _ dims: [Int], _ keepDims: Bool) -> Tensor {
        let d = dims.map { Int64($0) }
        return withExtendedLifetime(self) {
            Tensor.make { out in d.withUnsafeBufferPointer { ctorch_reduce(out, Int32(op), handle, $0.baseAddress, Int64($0.count), keepDims ? 1 : 0) } }
        }
    }
    /// Sum over `axes` (all elements when empty).
    public func sum(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_SUM, axes, keepDims) }
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }
    public func mean(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_MEAN, axes, keepDims) }
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }
    public func max(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_AMAX, axes, keepDims) }
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    public func min(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_AMIN, axes, keepDims) }
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> Tensor {
        reduce(CTORCH_ARGMAX, axis.map { [$0] } ?? [], keepDims)
    }
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> Tensor {
        reduce(CTORCH_ARGMIN, axis.map { [$0] } ?? [], keepDims)
    }
    public func prod(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_PROD, axes, keepDims) }
    /// Unbiased standard deviation.
    public func std(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_STD, axes, keepDims) }
    /// Unbiased variance.
    public func variance(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_VAR, axes, keepDims) }
    public func logsumexp(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_LOGSUMEXP, axes, keepDims) }
    /// L2 norm.
    public func norm(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_NORM2, axes, keepDims) }
    /// L1 norm.
    public func norm1(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_NORM1, axes, keepDims) }
    public func any(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_ANY, axes, keepDims) }
    public func all(axes: [Int] = [], keepDims: Bool = false) -> Tensor { reduce(CTORCH_ALL, axes, keepDims) }

    public func softmax(axis: Int) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_softmax($0, handle, Int64(axis), 0) } } }
    public func logSoftmax(axis: Int) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_softmax($0, handle, Int64(axis), 1) } } }
    public func cumsum(axis: Int) -> Tensor { withExtendedLifetime(self) { Tensor.make { ctorch_cumsum($0, handle, Int64(axis)) } } }

    /// Sorted values and their indices along `axis`.
    public func sorted(axis: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        var v: ctorch_tensor?, i: ctorch_tensor?
        let rc = withExtendedLifetime(self) { ctorch_sort(&v, &i, handle, Int64(axis), descending ? 1 : 0) }
        check(rc)
        return (Tensor(handle: v!), Tensor(handle: i!))
    }
    /// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix (torch.linalg.eigh).
    public func symmetricEigen() -> (values: Tensor, vectors: Tensor) {
        var v: ctorch_tensor?, e: ctorch_tensor?
        let rc = withExtendedLifetime(self) { ctorch_linalg_eigh(&v, &e, handle) }
        check(rc)
        return (Tensor(handle: v!), Tensor(handle: e!))
    }
    /// The `k` largest (or smallest) values along `axis`, sorted, with indices.
    public func topk(_ k: Int, axis: Int = -1, largest: Bool = true) -> (values: Tensor, indices: Tensor) {
        var v: ctorch_tensor?, i: ctorch_tensor?
        let rc = withExtendedLifetime(self) { ctorch_topk(&v, &i, handle, Int64(k), Int64(axis), largest ? 1 : 0) }
        check(rc)
        return (Tensor(handle: v!), Tensor(handle: i!))
    }

    // MARK: In place (for optimisers and initialisers; they bypass autograd when run under withNoGrad)

    /// self += alpha * other
    public func add_(_ other: Tensor, alpha: Double = 1) {
        check(withExtendedLifetime((self, other)) { ctorch_inplace(Int32(CTORCH_IP_ADD), handle, other.handle, nil, alpha) })
    }
    /// self *= other
    public func mul_(_ other: Tensor) {
        check(withExtendedLifetime((self, other)) { ctorch_inplace(Int32(CTORCH_IP_MUL), handle, other.handle, nil, 0) })
    }
    /// self <- other (broadcast, converting dtype)
    public func copy_(_ other: Tensor) {
        check(withExtendedLifetime((self, other)) { ctorch_inplace(Int32(CTORCH_IP_COPY), handle, other.handle, nil, 0) })
    }
    /// self += value * a * b
    public func addcmul_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        check(withExtendedLifetime((self, a, b)) { ctorch_inplace(Int32(CTORCH_IP_ADDCMUL), handle, a.handle, b.handle, value) })
    }
    /// self += value * a / b
    public func addcdiv_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        check(withExtendedLifetime((self, a, b)) { ctorch_inplace(Int32(CTORCH_IP_ADDCDIV), handle, a.handle, b.handle, value) })
    }
    /// self += weight * (end - self)
    public func lerp_(_ end: Tensor, weight: Double) {
        check(withExtendedLifetime((self, end)) { ctorch_inplace(Int32(CTORCH_IP_LERP), handle, end.handle, nil, weight) })
    }
    public func mul_(_ s: Double) { check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_MUL), handle, s, 0) }) }
    public func add_(_ s: Double) { check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_ADD), handle, s, 0) }) }
    public func fill_(_ s: Double) { check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_FILL), handle, s, 0) }) }
    public func uniform_(_ lo: Double, _ hi: Double) {
        check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_UNIFORM), handle, lo, hi) })
    }
    public func normal_(mean: Double = 0, std: Double = 1) {
        check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_NORMAL), handle, mean, std) })
    }
    public func bernoulli_(_ p: Double) {
        check(withExtendedLifetime(self) { ctorch_inplace_scalar(Int32(CTORCH_IPS_BERNOULLI), handle, p, 0) })
    }
    public func clamp_(min lo: Double, max hi: Double) { check(withExtendedLifetime(self) { ctorch_clamp_(handle, lo, hi) }) }
    public func zero_() { check(withExtendedLifetime(self) { ctorch_zero_(handle) }) }
    /// In-place ReLU, returning self (as torchvision's `ReLU(inplace=True)`: saves an allocation per call).
    @discardableResult
    public func relu_() -> Tensor { check(withExtendedLifetime(self) { ctorch_activation_(handle, 0) }); return self }
    /// In-place ReLU6, returning self.
    @discardableResult
    public func relu6_() -> Tensor { check(withExtendedLifetime(self) { ctorch_activation_(handle, 1) }); return self }
    /// self += other, returning self (autograd-safe where PyTorch's `+=` is).
    @discardableResult
    public func addInPlace(_ other: Tensor) -> Tensor { add_(other); return self }
}
