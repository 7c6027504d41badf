import Foundation
import Imaging

/// The `dwtDct` invisible watermark of the public invisible-watermark method (PyPI `invisible-watermark` 0.2.0,
/// `EmbedMaxDct`), which the Stable Diffusion 1.x reference scripts ("StableDiffusionV1", 136 bits) and the SDXL
/// pipelines (48 bits, 0xB3EC907BB19E) embed: the U plane (OpenCV 8-bit YUV) cropped to a multiple of 4, one Haar
/// DWT level, the approximation band cut into 4x4 blocks; in each block the largest-magnitude coefficient after
/// the first carries bit `block index mod length` by its remainder modulo the step (36): below half a step = 0,
/// above = 1. Bits are averaged over all blocks that carry them (mean * 255 > 127). Despite the method's name, that
/// implementation quantises the approximation coefficients themselves (no DCT is taken), and so does this one. Checked against files written by the reference
/// encoder (scripts/make_watermark_fixtures.py).
///
/// The SDXL pipeline hands the encoder RGB pixels where it expects BGR, so its "U" plane is computed from red
/// instead of blue; both layouts are tried. A payload matches only when at most `maxErrors(bits:)` bits differ,
/// and the report states the probability that random bits would match that well.
public enum InvisibleWatermark {
    public struct Payload: Sendable, Equatable {
        public var name: String
        public var bits: [UInt8]
        public static let stableDiffusionV1 = Payload(name: "Stable Diffusion 1.x (\"StableDiffusionV1\")",
                                                      bits: Array("StableDiffusionV1".utf8).flatMap { b in (0..<8).map { UInt8((b >> (7 - $0)) & 1) } })
        public static let sdxl = Payload(name: "SDXL (0xB3EC907BB19E)", bits: (0..<48).map { UInt8((0xB3EC_907B_B19E as UInt64) >> (47 - $0) & 1) })
        public static let known = [stableDiffusionV1, sdxl]
    }
    /// Which channel order the encoder was given: `.rgb` (correct), or `.swapped` (RGB data treated as BGR, as the
    /// SDXL pipelines do).
    public enum Layout: String, Sendable, Codable, CaseIterable { case rgb, swapped }

    public struct Check: Sendable, Codable, Equatable {
        public var payload: String
        public var layout: Layout
        public var bits: Int
        /// The bits read ("0"/"1", as many as the payload has).
        public var decoded: String
        public var bitErrors: Int
        public var bitErrorRate: Double
        /// Probability that random bits have at most `maxErrors` errors (the match threshold) against this payload.
        public var falseMatchProbability: Double
        public var matched: Bool
    }
    public struct Finding: Sendable, Codable, Equatable {
        /// Every payload x layout tried, best (fewest errors) first.
        public var checks: [Check]
        public var match: Check? { checks.first(where: \.matched) }
        /// Blocks whose carrier (largest coefficient after the first) is below 1 in magnitude (flat areas: they read as 0 bits).
        public var flatBlockShare: Double
    }

    public static let step = 36.0
    static let blockSize = 4

    /// The largest number of bit errors that still counts as a match: 15 % of the bits.
    public static func maxErrors(bits: Int) -> Int { bits * 15 / 100 }

    /// P(at most k of n fair coin flips differ from a fixed word) = sum_{i<=k} C(n, i) / 2^n.
    public static func falseMatchProbability(bits n: Int, maxErrors k: Int) -> Double {
        var total = 0.0, c = 1.0  // C(n, 0)
        for i in 0...max(0, k) {
            if i > 0 { c = c * Double(n - i + 1) / Double(i) }
            total += c
        }
        return min(1, total / pow(2, Double(n)))
    }

    /// The U plane exactly as OpenCV's 8-bit BGR2YUV makes it (fixed point, 14 fractional bits: Y rounded first,
    /// then U = 0.492 (B - Y) + 128, rounded and clamped) of the image cropped to a multiple of 4 in each direction.
    static func uPlane(_ image: Image, layout: Layout) -> (u: [Double], width: Int, height: Int) {
        let w = image.width / 4 * 4, h = image.height / 4 * 4
        var u = [Double](repeating: 0, count: w * h)
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<h {
                for x in 0..<w {
                    let o = (y * image.width + x) * 3
                    var r = Int(p[o]), b = Int(p[o + 2])
                    let g = Int(p[o + 1])
                    if layout == .swapped { swap(&r, &b) }
                    let luma = (r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14
                    u[y * w + x] = Double(min(255, max(0, ((b - luma) * 8061 + (128 << 14) + (1 << 13)) >> 14)))
                }
            }
        }
        return (u, w, h)
    }

    /// Index (1...15) of the largest-magnitude coefficient after the first; the first such on ties.
    static func carrier(_ d: [Double]) -> Int {
        var best = 1
        for i in 2..<16 where abs(d[i]) > abs(d[best]) { best = i }
        return best
    }

    /// Haar approximation band (each 2x2 sum / 2) of a plane, and its 4x4 blocks in row-major order.
    static func blocks(_ u: [Double], width w: Int, height h: Int) -> (ca: [Double], cw: Int, ch: Int, rows: Int, cols: Int) {
        let cw = w / 2, ch = h / 2
        // As PyWavelets computes it (pairs of rows, then pairs of columns, each h * a + h * b with h = 1/sqrt(2)), so
        // coefficients that sit exactly on a multiple of the step round the same way as in the reference decoder.
        let hf = 0.7071067811865476
        var rows = [Double](repeating: 0, count: cw * 2 * ch)
        for y in 0..<ch { for x in 0..<w { rows[y * w + x] = hf * u[2 * y * w + x] + hf * u[(2 * y + 1) * w + x] } }
        var ca = [Double](repeating: 0, count: cw * ch)
        for y in 0..<ch { for x in 0..<cw { ca[y * cw + x] = hf * rows[y * w + 2 * x] + hf * rows[y * w + 2 * x + 1] } }
        return (ca, cw, ch, ch / blockSize, cw / blockSize)
    }

    /// Reads every known payload in both layouts. Nil when the image has fewer blocks than the longest payload.
    public static func detect(_ image: Image, payloads: [Payload] = Payload.known) -> Finding? {
        var checks: [Check] = []
        var flat = 0, total = 0
        for layout in Layout.allCases {
            let (u, w, h) = uPlane(image, layout: layout)
            let b = blocks(u, width: w, height: h)
            let count = b.rows * b.cols
            guard count >= (payloads.map(\.bits.count).max() ?? 1) else { return nil }
            // One bit reading per block.
            var readings = [UInt8](repeating: 0, count: count)
            var block = [Double](repeating: 0, count: 16)
            for bi in 0..<b.rows {
                for bj in 0..<b.cols {
                    for y in 0..<4 { for x in 0..<4 { block[y * 4 + x] = b.ca[(bi * 4 + y) * b.cw + bj * 4 + x] } }
                    let v = abs(block[carrier(block)])
                    if layout == .rgb { total += 1; if v < 1 { flat += 1 } }
                    readings[bi * b.cols + bj] = v.truncatingRemainder(dividingBy: step) > 0.5 * step ? 1 : 0
                }
            }
            for p in payloads {
                let n = p.bits.count
                var ones = [Int](repeating: 0, count: n), seen = [Int](repeating: 0, count: n)
                for (i, r) in readings.enumerated() { ones[i % n] += Int(r); seen[i % n] += 1 }
                // The reference decoder: mean score * 255 > 127.
                let decoded = (0..<n).map { Double(ones[$0]) / Double(max(1, seen[$0])) * 255 > 127 ? UInt8(1) : 0 }
                let errors = zip(decoded, p.bits).filter { $0 != $1 }.count
                let k = maxErrors(bits: n)
                checks.append(Check(payload: p.name, layout: layout, bits: n, decoded: decoded.map(String.init).joined(), bitErrors: errors, bitErrorRate: Double(errors) / Double(n),
                                    falseMatchProbability: falseMatchProbability(bits: n, maxErrors: k), matched: errors <= k))
            }
        }
        checks.sort { $0.bitErrorRate < $1.bitErrorRate }
        return Finding(checks: checks, flatBlockShare: Double(flat) / Double(max(1, total)))
    }

    /// Our encoder (for tests and for marking our own outputs): embeds `payload` with the same transform, changing
    /// only the U plane's Haar approximation (Y and V kept), and returns the 8-bit image. Unlike the reference
    /// encoder it inverts the DWT exactly (the reference swaps the horizontal and vertical detail bands on the way
    /// back, which the decoder never reads) and keeps each carrier the largest coefficient of its block.
    public static func embed(_ payload: Payload, in image: Image, layout: Layout = .rgb, step: Double = step) -> Image {
        let w = image.width / 4 * 4, h = image.height / 4 * 4
        // Float YUV of the cropped area.
        var yP = [Double](repeating: 0, count: w * h), uP = yP, vP = yP
        for y in 0..<h {
            for x in 0..<w {
                let o = (y * image.width + x) * 3
                var r = Double(image.pixels[o]), b = Double(image.pixels[o + 2])
                if layout == .swapped { swap(&r, &b) }
                let luma = 0.299 * r + 0.587 * Double(image.pixels[o + 1]) + 0.114 * b
                yP[y * w + x] = luma
                uP[y * w + x] = 0.492 * (b - luma) + 128
                vP[y * w + x] = 0.877 * (r - luma) + 128
            }
        }
        let bl = blocks(uP, width: w, height: h)
        var ca = bl.ca
        var block = [Double](repeating: 0, count: 16)
        let n = payload.bits.count
        for bi in 0..<bl.rows {
            for bj in 0..<bl.cols {
                for y in 0..<4 { for x in 0..<4 { block[y * 4 + x] = ca[(bi * 4 + y) * bl.cw + bj * 4 + x] } }
                let pos = carrier(block)
                let bit = Double(payload.bits[(bi * bl.cols + bj) % n])
                var m = (abs(block[pos]) / step).rounded(.down)
                // Unlike the reference, keep the carrier the block's largest coefficient by a margin (the reference
                // may lower it below a neighbour, and its own decoder then reads the wrong coefficient).
                let others = (1..<16).filter { $0 != pos }.map { abs(block[$0]) }.max() ?? 0
                while (m + 0.25 + 0.5 * bit) * step < others + 6 { m += 1 }
                let value = (m + 0.25 + 0.5 * bit) * step
                ca[(bi * 4 + pos / 4) * bl.cw + bj * 4 + pos % 4] = block[pos] >= 0 ? value : -value
            }
        }
        // Inverse Haar on the approximation only: each pixel of a 2x2 cell moves by half its coefficient's change.
        var out = image.pixels
        for y in 0..<h {
            for x in 0..<w {
                let c = (y / 2) * bl.cw + x / 2
                let u = uP[y * w + x] + (ca[c] - bl.ca[c]) / 2
                let luma = yP[y * w + x], v = vP[y * w + x]
                var b = luma + (u - 128) / 0.492, r = luma + (v - 128) / 0.877
                let g = (luma - 0.299 * r - 0.114 * b) / 0.587
                if layout == .swapped { swap(&r, &b) }
                let o = (y * image.width + x) * 3
                out[o] = UInt8(min(255, max(0, r.rounded())))
                out[o + 1] = UInt8(min(255, max(0, g.rounded())))
                out[o + 2] = UInt8(min(255, max(0, b.rounded())))
            }
        }
        return Image(width: image.width, height: image.height, pixels: out)
    }
}

extension ProvenanceReport {
    /// Looks for the Stable Diffusion / SDXL invisible watermark in the decoded pixels; a match is strong AI
    /// evidence, no match is no evidence either way (the mark is easy to remove and most generators never add it).
    public mutating func checkWatermark(_ image: Image) {
        guard let f = InvisibleWatermark.detect(image) else { return }
        watermark = f
        if let m = f.match {
            evidence.append(Evidence(source: "invisible watermark", finding: "\(m.payload) dwtDct watermark, \(m.bitErrors)/\(m.bits) bits wrong",
                                     direction: .ai, strength: 0.9,
                                     explanation: String(format: "The invisible watermark that the %@ pipelines embed in their outputs (%@ channel order). Random pixels would match this well with probability %.1e.",
                                                         m.payload.hasPrefix("SDXL") ? "SDXL" : "Stable Diffusion 1.x", m.layout == .rgb ? "RGB" : "red/blue swapped",
                                                         m.falseMatchProbability)))
        }
    }
}
