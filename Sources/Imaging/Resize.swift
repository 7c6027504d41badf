import Foundation

/// Resampling filters, as PIL's `Image.resize` defines them (antialiased when shrinking).
public enum ResizeFilter: String, Sendable, CaseIterable, Codable {
    case bilinear, bicubic, lanczos, area

    var support: Double {
        switch self {
        case .area: return 0.5
        case .bilinear: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }
    func weight(_ x: Double) -> Double {
        switch self {
        case .area:
            return (x > -0.5 && x <= 0.5) ? 1 : 0
        case .bilinear:
            let a = Swift.abs(x)
            return a < 1 ? 1 - a : 0
        case .bicubic:
            // Keys cubic with a = -0.5 (PIL).
            let a = -0.5, t = Swift.abs(x)
            if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
            if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
            return 0
        case .lanczos:
            func sinc(_ v: Double) -> Double { v == 0 ? 1 : Foundation.sin(Double.pi * v) / (Double.pi * v) }
            return (x > -3 && x < 3) ? sinc(x) * sinc(x / 3) : 0
        }
    }
}

extension Image {
    /// Resizes to `width` x `height` with a separable, antialiased filter (PIL's algorithm, float precision).
    public func resized(width ow: Int, height oh: Int, filter: ResizeFilter = .bilinear) -> Image {
        precondition(ow > 0 && oh > 0, "resized: target \(ow)x\(oh) must be positive")
        if ow == width && oh == height { return self }
        // Horizontal pass into floats, then vertical pass into bytes (row-vector accumulation, contiguous taps).
        let hx = Resampler(inSize: width, outSize: ow, filter: filter)
        let vy = Resampler(inSize: height, outSize: oh, filter: filter)
        let w = width, h = height
        var tmp = [Float](repeating: 0, count: ow * h * 3)
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        pixels.withUnsafeBufferPointer { src in
            tmp.withUnsafeMutableBufferPointer { tmp in
                hx.weights.withUnsafeBufferPointer { hw in
                    for y in 0..<h {
                        let row = y * w * 3
                        for x in 0..<ow {
                            let start = hx.starts[x], n = hx.counts[x], wo = x * hx.stride
                            var r: Float = 0, g: Float = 0, b: Float = 0
                            let p = src.baseAddress! + row + start * 3, wp = hw.baseAddress! + wo
                            for k in 0..<n {
                                let wk = wp[k], q = p + 3 &* k
                                r += wk * Float(q[0]); g += wk * Float(q[1]); b += wk * Float(q[2])
                            }
                            let d = (y * ow + x) * 3
                            tmp[d] = r; tmp[d + 1] = g; tmp[d + 2] = b
                        }
                    }
                }
            }
        }
        let rowLength = ow * 3
        var acc = [Float](repeating: 0, count: rowLength)
        tmp.withUnsafeBufferPointer { tmp in
            out.withUnsafeMutableBufferPointer { out in
                acc.withUnsafeMutableBufferPointer { acc in
                    vy.weights.withUnsafeBufferPointer { vw in
                        for y in 0..<oh {
                            let start = vy.starts[y], n = vy.counts[y], wo = y * vy.stride
                            let a = acc.baseAddress!
                            a.update(repeating: 0, count: rowLength)
                            for k in 0..<n {
                                let wk = vw[wo + k], t = tmp.baseAddress! + (start + k) * rowLength
                                for x in 0..<rowLength { a[x] += wk * t[x] }
                            }
                            let o = out.baseAddress! + y * rowLength
                            for x in 0..<rowLength {
                                let v = Swift.max(0, Swift.min(255, a[x]))
                                o[x] = UInt8(v + 0.5)   // v >= 0: round half up
                            }
                        }
                    }
                }
            }
        }
        return Image(width: ow, height: oh, pixels: out)
    }

    /// The factor (at most 1) that brings the longer side down to `side`.
    public func scale(toLongerSide side: Int) -> Double { Swift.min(1, Double(side) / Double(Swift.max(width, height))) }

    /// The image shrunk so that its longer side is at most `side` (each side `Int(side * scale)`, at least 1), or
    /// the image itself when it is already that small.
    public func resized(longerSideAtMost side: Int, filter: ResizeFilter = .area) -> Image {
        let scale = scale(toLongerSide: side)
        guard scale < 1 else { return self }
        return resized(width: Swift.max(1, Int(Double(width) * scale)), height: Swift.max(1, Int(Double(height) * scale)), filter: filter)
    }

    /// Resizes so the shorter side is `side`, keeping the aspect ratio.
    public func resized(shorterSide side: Int, filter: ResizeFilter = .bilinear) -> Image {
        let scale = Double(side) / Double(Swift.min(width, height))
        let w = Swift.max(1, Int((Double(width) * scale).rounded())), h = Swift.max(1, Int((Double(height) * scale).rounded()))
        return resized(width: width <= height ? side : w, height: height < width ? side : h, filter: filter)
    }
}

/// Per-output-pixel taps of a 1-D resampling, as PIL's precompute_coeffs: output `i` reads `counts[i]` inputs
/// from `starts[i]` with `weights[i * stride ..< i * stride + counts[i]]`.
struct Resampler {
    let starts: [Int]
    let counts: [Int]
    let weights: [Float]
    let stride: Int
    init(inSize: Int, outSize: Int, filter: ResizeFilter) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = Swift.max(scale, 1)
        let support = filter.support * filterScale
        var taps: [(Int, [Float])] = []
        taps.reserveCapacity(outSize)
        for i in 0..<outSize {
            let center = (Double(i) + 0.5) * scale
            let lo = Swift.max(Int(center - support + 0.5), 0)
            let hi = Swift.min(Int(center + support + 0.5), inSize)
            var ws: [Double] = []
            for x in lo..<Swift.max(hi, lo + 1) { ws.append(filter.weight((Double(x) - center + 0.5) / filterScale)) }
            let total = ws.reduce(0, +)
            taps.append((lo, ws.map { Float(total != 0 ? $0 / total : 0) }))
        }
        let stride = taps.map { $0.1.count }.max() ?? 1
        var weights = [Float](repeating: 0, count: stride * outSize)
        for (i, t) in taps.enumerated() { for (k, w) in t.1.enumerated() { weights[i * stride + k] = w } }
        starts = taps.map { $0.0 }
        counts = taps.map { $0.1.count }
        self.weights = weights
        self.stride = stride
    }
}
