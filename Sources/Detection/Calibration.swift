import Foundation

/// Maps a model's logit to a calibrated P(AI), fitted on a validation split.
public enum Calibrator: Sendable, Codable, Equatable {
    case identity
    /// Platt scaling (study 001): P = sigmoid(a * logit + b).
    case platt(a: Double, b: Double)
    /// Temperature scaling: P = sigmoid(logit / t).
    case temperature(Double)
    /// Isotonic regression: a non-decreasing step function of the logit (pool-adjacent-violators).
    case isotonic(thresholds: [Double], values: [Double])

    public func probability(logit z: Double) -> Double {
        switch self {
        case .identity: return sigmoid(z)
        case .platt(let a, let b): return sigmoid(a * z + b)
        case .temperature(let t): return sigmoid(z / t)
        case .isotonic(let xs, let ys):
            guard !xs.isEmpty else { return sigmoid(z) }
            if z <= xs[0] { return ys[0] }
            if z >= xs[xs.count - 1] { return ys[ys.count - 1] }
            var lo = 0, hi = xs.count - 1
            while hi - lo > 1 {
                let m = (lo + hi) / 2
                if xs[m] <= z { lo = m } else { hi = m }
            }
            let t = (z - xs[lo]) / max(xs[hi] - xs[lo], 1e-12)
            return ys[lo] + t * (ys[hi] - ys[lo])
        }
    }

    public enum Method: String, Sendable, CaseIterable, Codable { case platt, temperature, isotonic }

    /// Fits `method` to logits and 0/1 labels (1 = AI-generated).
    public static func fit(_ method: Method, logits z: [Double], labels y: [Int]) -> Calibrator {
        precondition(z.count == y.count && !z.isEmpty, "Calibrator.fit: need matching, non-empty logits and labels")
        switch method {
        case .platt: return fitPlatt(z, y)
        case .temperature: return fitTemperature(z, y)
        case .isotonic: return fitIsotonic(z, y)
        }
    }

    /// Platt's method with his smoothed targets, by Newton's method on (a, b).
    static func fitPlatt(_ z: [Double], _ y: [Int]) -> Calibrator {
        let np = Double(y.filter { $0 == 1 }.count), nn = Double(y.count) - np
        let hi = (np + 1) / (np + 2), lo = 1 / (nn + 2)
        let t = y.map { $0 == 1 ? hi : lo }
        func loss(_ a: Double, _ b: Double) -> Double {
            zip(z, t).map { zi, ti in
                let f = a * zi + b
                // log(1 + e^f) - t f, computed stably
                return (f > 0 ? f + Foundation.log1p(Foundation.exp(-f)) : Foundation.log1p(Foundation.exp(f))) - ti * f
            }.reduce(0, +)
        }
        // Newton's method with backtracking (Lin, Lin & Weng 2007).
        var a = 0.0, b = Foundation.log((np + 1) / (nn + 1))
        var current = loss(a, b)
        for _ in 0..<100 {
            var g0 = 0.0, g1 = 0.0, h00 = 1e-12, h01 = 0.0, h11 = 1e-12
            for i in z.indices {
                let p = sigmoid(a * z[i] + b), d = p - t[i], w = p * (1 - p)
                g0 += d * z[i]; g1 += d
                h00 += w * z[i] * z[i]; h01 += w * z[i]; h11 += w
            }
            let det = h00 * h11 - h01 * h01
            guard abs(det) > 1e-18, abs(g0) + abs(g1) > 1e-9 else { break }
            let da = (h11 * g0 - h01 * g1) / det, db = (h00 * g1 - h01 * g0) / det
            var step = 1.0
            while step > 1e-10 {
                let candidate = loss(a - step * da, b - step * db)
                if candidate < current + 1e-12 {
                    a -= step * da; b -= step * db; current = candidate
                    break
                }
                step /= 2
            }
            if step <= 1e-10 || abs(step * da) + abs(step * db) < 1e-10 { break }
        }
        return .platt(a: a, b: b)
    }

    /// Temperature minimising the negative log-likelihood (golden-section search on log t).
    static func fitTemperature(_ z: [Double], _ y: [Int]) -> Calibrator {
        func nll(_ logT: Double) -> Double {
            let t = Foundation.exp(logT)
            return zip(z, y).map { zi, yi in
                let p = min(max(sigmoid(zi / t), 1e-12), 1 - 1e-12)
                return yi == 1 ? -Foundation.log(p) : -Foundation.log(1 - p)
            }.reduce(0, +)
        }
        var lo = -5.0, hi = 5.0
        let g = (5.0.squareRoot() - 1) / 2
        for _ in 0..<100 {
            let a = hi - g * (hi - lo), b = lo + g * (hi - lo)
            if nll(a) < nll(b) { hi = b } else { lo = a }
        }
        return .temperature(Foundation.exp((lo + hi) / 2))
    }

    /// Pool-adjacent-violators on the labels ordered by logit.
    static func fitIsotonic(_ z: [Double], _ y: [Int]) -> Calibrator {
        let order = z.indices.sorted { z[$0] < z[$1] }
        var blocks: [(x: Double, sum: Double, n: Double)] = []
        for i in order {
            blocks.append((z[i], Double(y[i]), 1))
            while blocks.count > 1 && blocks[blocks.count - 2].sum / blocks[blocks.count - 2].n > blocks[blocks.count - 1].sum / blocks[blocks.count - 1].n {
                let last = blocks.removeLast()
                let prev = blocks.removeLast()
                blocks.append(((prev.x * prev.n + last.x * last.n) / (prev.n + last.n), prev.sum + last.sum, prev.n + last.n))
            }
        }
        // Keep probabilities off exactly 0/1 so a verdict never claims certainty from a finite sample.
        let xs = blocks.map(\.x), ys = blocks.map { min(max($0.sum / $0.n, 0.001), 0.999) }
        return .isotonic(thresholds: xs, values: ys)
    }
}

@inline(__always) func sigmoid(_ z: Double) -> Double { 1 / (1 + Foundation.exp(-z)) }
