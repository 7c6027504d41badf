import CTorch

/// An n-dimensional array backed by a LibTorch `at::Tensor`, with autograd.
///
/// `Tensor` is a reference type: copies share storage and graph, as in PyTorch. Operations never
/// throw; a shape or dtype error traps with LibTorch's message unless run inside `withTorchErrors`.
/// Images are NCHW.
/// ```swift
/// let x = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
/// let y = (x * 2 + 1).sum()      // 24
/// ```
public final class Tensor: @unchecked Sendable {
    /// The owned shim handle. Only pass it to the shim inside `withExtendedLifetime(self)`.
    let handle: ctorch_tensor

    init(handle: ctorch_tensor) { self.handle = handle }
    deinit { ctorch_tensor_free(handle) }

    // MARK: Creation

    /// A tensor holding a copy of `values` laid out row-major in `shape` (default: 1-D).
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]? = nil) {
        let s = (shape ?? [values.count]).map { Int64($0) }
        precondition(s.reduce(1, *) == Int64(values.count),
                     "Tensor: \(values.count) values do not fill shape \(shape ?? [])")
        var out: ctorch_tensor?
        let rc = values.withUnsafeBytes { buf in
            s.withUnsafeBufferPointer { sp in
                ctorch_from_data(&out, buf.baseAddress, buf.count, sp.baseAddress, Int64(sp.count), T.dtype.rawValue)
            }
        }
        check(rc)
        self.init(handle: out!)
    }

    /// A 0-dimensional tensor.
    public convenience init<T: TensorElement>(scalar: T) {
        var out: ctorch_tensor?
        let rc = withUnsafeBytes(of: scalar) { buf in
            ctorch_from_data(&out, buf.baseAddress, buf.count, nil, 0, T.dtype.rawValue)
        }
        check(rc)
        self.init(handle: out!)
    }

    /// A tensor over raw little-endian bytes of `dtype` (copied).
    public convenience init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) {
        let s = shape.map { Int64($0) }
        var out: ctorch_tensor?
        let rc = s.withUnsafeBufferPointer { sp in
            ctorch_from_data(&out, bytes.baseAddress, bytes.count, sp.baseAddress, Int64(sp.count), dtype.rawValue)
        }
        check(rc)
        self.init(handle: out!)
    }

    static func make(_ body: (UnsafeMutablePointer<ctorch_tensor?>) -> Int32) -> Tensor {
        var out: ctorch_tensor?
        let rc = body(&out)
        check(rc)
        return Tensor(handle: out!)
    }

    private static func new(kind: Int32, _ shape: [Int], _ dtype: DType, _ device: Device) -> Tensor {
        let s = shape.map { Int64($0) }
        let (dt, di) = device.code
        return make { out in s.withUnsafeBufferPointer { ctorch_fill_new(out, kind, $0.baseAddress, Int64($0.count), dtype.rawValue, dt, di) } }
    }
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor { new(kind: 0, shape, dtype, device) }
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor { new(kind: 1, shape, dtype, device) }
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor { new(kind: 2, shape, dtype, device) }
    /// Uniform on [0, 1).
    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor { new(kind: 3, shape, dtype, device) }
    /// Standard normal.
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor { new(kind: 4, shape, dtype, device) }
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let s = shape.map { Int64($0) }
        let (dt, di) = device.code
        return make { out in s.withUnsafeBufferPointer { ctorch_full(out, $0.baseAddress, Int64($0.count), value, dtype.rawValue, dt, di) } }
    }
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64) -> Tensor {
        make { ctorch_arange($0, start, end, step, dtype.rawValue) }
    }
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        make { ctorch_linspace($0, start, end, Int64(count), dtype.rawValue) }
    }
    public static func eye(_ n: Int, dtype: DType = .float32) -> Tensor { make { ctorch_eye($0, Int64(n), dtype.rawValue) } }
    /// Integers uniform in [low, high), int64.
    public static func randint(_ low: Int, _ high: Int, shape: [Int]) -> Tensor {
        let s = shape.map { Int64($0) }
        return make { out in s.withUnsafeBufferPointer { ctorch_randint(out, Int64(low), Int64(high), $0.baseAddress, Int64($0.count)) } }
    }
    /// A random permutation of 0..<n, int64.
    public static func randperm(_ n: Int) -> Tensor { make { ctorch_randperm($0, Int64(n)) } }

    // MARK: Properties

    public var isDefined: Bool { withExtendedLifetime(self) { ctorch_defined(handle) != 0 } }
    public var rank: Int { withExtendedLifetime(self) { Int(ctorch_dim(handle)) } }
    public var shape: [Int] {
        withExtendedLifetime(self) {
            var buf = [Int64](repeating: 0, count: 16)
            let n = Int(ctorch_sizes(handle, &buf, 16))
            if n > 16 {
                buf = [Int64](repeating: 0, count: n)
                _ = ctorch_sizes(handle, &buf, Int64(n))
            }
            return buf.prefix(n).map { Int($0) }
        }
    }
    public var strides: [Int] {
        withExtendedLifetime(self) {
            var buf = [Int64](repeating: 0, count: 32)
            let n = Int(ctorch_strides(handle, &buf, 32))
            return buf.prefix(n).map { Int($0) }
        }
    }
    /// Size of dimension `d` (negative counts from the end).
    public func size(_ d: Int) -> Int {
        let s = shape
        return s[d < 0 ? d + s.count : d]
    }
    public var count: Int { withExtendedLifetime(self) { Int(ctorch_numel(handle)) } }
    public var dtype: DType {
        withExtendedLifetime(self) {
            guard let d = DType(rawValue: ctorch_dtype(handle)) else { preconditionFailure("Tensor: unsupported dtype code \(ctorch_dtype(handle))") }
            return d
        }
    }
    public var device: Device {
        withExtendedLifetime(self) { ctorch_device_type(handle) == 1 ? .cuda(Int(ctorch_device_index(handle))) : .cpu }
    }
    public var isContiguous: Bool { withExtendedLifetime(self) { ctorch_is_contiguous(handle) != 0 } }

    // MARK: Data out

    /// The elements as a flat row-major array, converted to `T`.
    public func toArray<T: TensorElement>(_ type: T.Type = T.self) -> [T] {
        let t = self.dtype == T.dtype && self.device == .cpu ? self : self.to(T.dtype, device: .cpu)
        let n = t.count
        return [T](unsafeUninitializedCapacity: n) { buf, initialized in
            let rc = withExtendedLifetime(t) {
                ctorch_copy_data(t.handle, UnsafeMutableRawPointer(buf.baseAddress), n * MemoryLayout<T>.stride)
            }
            check(rc)
            initialized = n
        }
    }
    /// The raw bytes of a contiguous copy, in the tensor's dtype.
    public func bytes() -> [UInt8] {
        let n = count * dtype.size
        return [UInt8](unsafeUninitializedCapacity: n) { buf, initialized in
            let rc = withExtendedLifetime(self) { ctorch_copy_data(handle, UnsafeMutableRawPointer(buf.baseAddress), n) }
            check(rc)
            initialized = n
        }
    }
    /// The single element as a Double (the tensor must hold one element).
    public func item() -> Double {
        var v = 0.0
        check(withExtendedLifetime(self) { ctorch_item_double(handle, &v) })
        return v
    }
    public func itemInt() -> Int {
        var v: Int64 = 0
        check(withExtendedLifetime(self) { ctorch_item_int64(handle, &v) })
        return Int(v)
    }
    public var float: Float { Float(item()) }

    // MARK: Conversion

    public func to(_ dtype: DType, device: Device? = nil) -> Tensor {
        let (dt, di) = (device ?? self.device).code
        return withExtendedLifetime(self) { Tensor.make { ctorch_to($0, handle, dtype.rawValue, dt, di) } }
    }
    public func to(device: Device) -> Tensor { to(dtype, device: device) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        guard isDefined else { return "Tensor(undefined)" }
        let s = shape
        var text = "Tensor(shape: \(s), dtype: \(dtype)"
        if count <= 16 {
            let values: [Double] = toArray()
            text += ", values: \(values)"
        }
        return text + ")"
    }
}
