import CTorch
import Foundation

/// Element types, with LibTorch's ScalarType codes.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, int16 = 2, int32 = 3, int64 = 4
    case float16 = 5, float32 = 6, float64 = 7, bool = 11, bfloat16 = 15

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .int16, .float16, .bfloat16: return 2
        case .int32, .float32: return 4
        case .int64, .float64: return 8
        }
    }
    public var isFloatingPoint: Bool { [.float16, .float32, .float64, .bfloat16].contains(self) }

    /// The safetensors / NumPy-style name ("F32", "I64", ...).
    public var safetensorsName: String {
        switch self {
        case .uint8: return "U8"
        case .int8: return "I8"
        case .int16: return "I16"
        case .int32: return "I32"
        case .int64: return "I64"
        case .float16: return "F16"
        case .float32: return "F32"
        case .float64: return "F64"
        case .bool: return "BOOL"
        case .bfloat16: return "BF16"
        }
    }
    public init?(safetensorsName: String) {
        guard let d = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = d
    }
    public var description: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .int16: return "int16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .float16: return "float16"
        case .float32: return "float32"
        case .float64: return "float64"
        case .bool: return "bool"
        case .bfloat16: return "bfloat16"
        }
    }
}

/// Where a tensor lives.
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    var code: (Int32, Int32) {
        switch self {
        case .cpu: return (0, 0)
        case .cuda(let i): return (1, Int32(i))
        }
    }
    /// Where models run: `AIDETECT_DEVICE` (what `--device` sets) `cpu`, `cuda` or `auto` (the default): CUDA device 0 when
    /// the CUDA libraries are installed (`scripts/fetch_libtorch.sh cuda`) and a GPU is visible, otherwise the CPU.
    public static var best: Device {
        let choice = ProcessInfo.processInfo.environment["AIDETECT_DEVICE"]?.lowercased() ?? "auto"
        if choice == "cpu" { return .cpu }
        return Runtime.cudaAvailable ? .cuda(0) : .cpu
    }
    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case .cuda(let i): return "cuda:\(i)"
        }
    }
}

/// Swift scalar types that map onto a `DType`.
public protocol TensorElement: Sendable {
    static var dtype: DType { get }
    init(fromDouble value: Double)
}
extension Float: TensorElement {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
}
extension Double: TensorElement {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
}
extension Int64: TensorElement {
    public static var dtype: DType { .int64 }
    public init(fromDouble value: Double) { self = Int64(value) }
}
extension Int32: TensorElement {
    public static var dtype: DType { .int32 }
    public init(fromDouble value: Double) { self = Int32(value) }
}
extension UInt8: TensorElement {
    public static var dtype: DType { .uint8 }
    public init(fromDouble value: Double) { self = UInt8(value) }
}
extension Int8: TensorElement {
    public static var dtype: DType { .int8 }
    public init(fromDouble value: Double) { self = Int8(value) }
}
extension Int16: TensorElement {
    public static var dtype: DType { .int16 }
    public init(fromDouble value: Double) { self = Int16(value) }
}
extension Bool: TensorElement {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 }
}
