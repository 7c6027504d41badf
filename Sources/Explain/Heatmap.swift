import Foundation
import Imaging

/// A single-channel float map over an image (row-major, `height` x `width`), e.g. a Grad-CAM or saliency map.
/// Values are the method's raw output (not normalised); `png()`/`overlay(on:)` normalise for display.
public struct Heatmap: Sendable, Equatable {
    public let name: String
    public let width: Int
    public let height: Int
    public var values: [Float]

    public init(name: String, width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "Heatmap: \(values.count) values for \(width)x\(height)")
        self.name = name
        self.width = width
        self.height = height
        self.values = values
    }

    public subscript(x: Int, y: Int) -> Float { values[y * width + x] }

    /// Smallest and largest finite value (0, 0 for an empty or all-NaN map).
    public var range: (min: Float, max: Float) {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where v.isFinite { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        return lo <= hi ? (lo, hi) : (0, 0)
    }

    /// Values scaled to [0, 1] for display: from the minimum to the `clip` quantile (default 99.5%, so that a few
    /// extreme gradients do not leave the rest dark); a constant map becomes all 0.
    public func normalized(clip: Double = 0.995) -> [Float] {
        let finite = values.filter(\.isFinite).sorted()
        guard let lo = finite.first else { return values.map { _ in 0 } }
        let hi = finite[min(finite.count - 1, Int(Double(finite.count - 1) * clip))]
        let top = hi > lo ? hi : finite.last!
        let span = top - lo
        return values.map { $0.isFinite && span > 0 ? min(1, ($0 - lo) / span) : 0 }
    }

    /// The map as a colour image (a perceptually ordered dark-blue -> red -> yellow ramp).
    public func colorImage() -> Image {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for (i, v) in normalized().enumerated() {
            let (r, g, b) = Colormap.color(v)
            px[3 * i] = r; px[3 * i + 1] = g; px[3 * i + 2] = b
        }
        return Image(width: width, height: height, pixels: px)
    }

    /// The colour map blended over `image` (resized to the map's size if it differs); `alpha` is the map's weight
    /// where the map is strongest, fading with the normalised value so low evidence leaves the image visible.
    public func overlay(on image: Image, alpha: Float = 0.6) -> Image {
        let base = image.width == width && image.height == height ? image : image.resized(width: width, height: height)
        let norm = normalized()
        var px = base.pixels
        for i in 0..<(width * height) {
            let v = norm[i]
            let (r, g, b) = Colormap.color(v)
            let a = alpha * (0.25 + 0.75 * v)
            px[3 * i] = UInt8((Float(px[3 * i]) * (1 - a) + Float(r) * a).rounded())
            px[3 * i + 1] = UInt8((Float(px[3 * i + 1]) * (1 - a) + Float(g) * a).rounded())
            px[3 * i + 2] = UInt8((Float(px[3 * i + 2]) * (1 - a) + Float(b) * a).rounded())
        }
        return Image(width: width, height: height, pixels: px)
    }

    /// The raw values as a NumPy `.npy` file (version 1.0, little-endian float32, shape (height, width)).
    public func npy() -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(height), \(width)), }"
        // Magic (6) + version (2) + length (2) + header + "\n" must be a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var d = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let n = UInt16(header.utf8.count)
        d.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        d.append(Data(header.utf8))
        values.withUnsafeBufferPointer { buf in
            for v in buf { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        }
        return d
    }

    /// Reads back a float32 2-D `.npy` written by `npy()` (or NumPy).
    public static func readNPY(_ data: Data, name: String = "npy") throws -> Heatmap {
        let bytes = [UInt8](data)
        guard bytes.count >= 10, bytes[0] == 0x93, String(decoding: bytes[1..<6], as: UTF8.self) == "NUMPY" else {
            throw HeatmapError.notNPY("missing the NUMPY magic")
        }
        let len = Int(bytes[8]) | Int(bytes[9]) << 8
        guard bytes.count >= 10 + len else { throw HeatmapError.notNPY("header longer than the file") }
        let header = String(decoding: bytes[10..<(10 + len)], as: UTF8.self)
        guard header.contains("'<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw HeatmapError.notNPY("only C-order float32 arrays are read")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 2 else { throw HeatmapError.notNPY("shape \(dims) is not 2-D") }
        let count = dims[0] * dims[1], start = 10 + len
        guard bytes.count == start + 4 * count else { throw HeatmapError.notNPY("\(bytes.count - start) data bytes for \(count) floats") }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let o = start + 4 * i
            let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            values[i] = Float(bitPattern: bits)
        }
        return Heatmap(name: name, width: dims[1], height: dims[0], values: values)
    }
}

public enum HeatmapError: Error, LocalizedError, Equatable {
    case notNPY(String)
    public var errorDescription: String? {
        switch self { case .notNPY(let why): return "not a readable .npy heat map: \(why)" }
    }
}

/// A compact colour ramp (black-blue -> purple -> red -> orange -> light yellow, like matplotlib's "inferno").
enum Colormap {
    static let stops: [(Float, Float, Float)] = [
        (0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66), (245, 125, 21), (250, 193, 39), (252, 255, 164),
    ]
    static func color(_ v: Float) -> (UInt8, UInt8, UInt8) {
        let t = Swift.min(Swift.max(v.isFinite ? v : 0, 0), 1) * Float(stops.count - 1)
        let i = Swift.min(Int(t), stops.count - 2), f = t - Float(i)
        let a = stops[i], b = stops[i + 1]
        return (UInt8((a.0 + (b.0 - a.0) * f).rounded()), UInt8((a.1 + (b.1 - a.1) * f).rounded()), UInt8((a.2 + (b.2 - a.2) * f).rounded()))
    }
}
