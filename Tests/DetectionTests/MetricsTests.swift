import Foundation
import Testing
@testable import Detection

struct MetricsTests {
    @Test func handComputedMetrics() throws {
        let p = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1], y = [1, 1, 1, 0, 0, 0]
        let m = BinaryMetrics(probabilities: p, labels: y, threshold: 0.5, bins: 2)
        #expect((m.truePositives, m.falsePositives, m.trueNegatives, m.falseNegatives) == (2, 1, 2, 1))
        #expect(abs(m.accuracy - 4.0 / 6) < 1e-12)
        #expect(abs(m.precision - 2.0 / 3) < 1e-12 && abs(m.recall - 2.0 / 3) < 1e-12 && abs(m.f1 - 2.0 / 3) < 1e-12)
        #expect(abs(try #require(m.rocAUC) - 8.0 / 9) < 1e-12)
        #expect(abs(try #require(m.averagePrecision) - 11.0 / 12) < 1e-12)
        #expect(abs(m.brier - 0.145) < 1e-12)
        #expect(abs(m.ece - 1.0 / 12) < 1e-12)
        #expect(m.reliability.count == 2 && m.reliability[1].count == 3)
    }

    @Test func tiesAndDegenerateCases() {
        let tied = BinaryMetrics(probabilities: [0.5, 0.5, 0.5, 0.5], labels: [1, 0, 1, 0])
        #expect(tied.rocAUC == 0.5)
        #expect(tied.averagePrecision == 0.5)
        let onlyReal = BinaryMetrics(probabilities: [0.2, 0.7], labels: [0, 0])
        #expect(onlyReal.rocAUC == nil && onlyReal.averagePrecision == nil)
        #expect(onlyReal.precision == 0 && onlyReal.accuracy == 0.5)
        let perfect = BinaryMetrics(probabilities: [0.1, 0.2, 0.8, 0.9], labels: [0, 0, 1, 1])
        #expect(perfect.rocAUC == 1 && perfect.averagePrecision == 1 && perfect.f1 == 1)
    }

    /// A systematically overconfident model (true P = sigmoid(z / 3)): each calibrator, fitted on one half,
    /// lowers the expected calibration error on the other half.
    @Test("calibration lowers ECE", arguments: Calibrator.Method.allCases)
    func calibrationLowersECE(_ method: Calibrator.Method) {
        var rng = SplitMix(seed: 11)
        var z: [Double] = [], y: [Int] = []
        for _ in 0..<4000 {
            let u1 = max(rng.uniform(), 1e-12), u2 = rng.uniform()
            let logit = 3 * (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
            z.append(logit)
            y.append(rng.uniform() < 1 / (1 + Foundation.exp(-logit / 3)) ? 1 : 0)
        }
        let fitZ = Array(z[..<2000]), fitY = Array(y[..<2000]), testZ = Array(z[2000...]), testY = Array(y[2000...])
        let raw = BinaryMetrics(probabilities: testZ.map { 1 / (1 + Foundation.exp(-$0)) }, labels: testY)
        let cal = Calibrator.fit(method, logits: fitZ, labels: fitY)
        let after = BinaryMetrics(probabilities: testZ.map { cal.probability(logit: $0) }, labels: testY)
        #expect(raw.ece > 0.08, "the synthetic model should be miscalibrated (ECE \(raw.ece))")
        #expect(after.ece < raw.ece / 2, "\(method): ECE \(raw.ece) -> \(after.ece)")
        if case .temperature(let t) = cal { #expect(abs(t - 3) < 0.5, "temperature \(t)") }
        if case .platt(let a, _) = cal { #expect(abs(a - 1.0 / 3) < 0.08, "Platt slope \(a)") }
        // Calibration keeps the ranking (AUC unchanged up to isotonic ties).
        #expect(abs((after.rocAUC ?? 0) - (raw.rocAUC ?? 0)) < 0.01)
    }
}

/// A tiny deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
