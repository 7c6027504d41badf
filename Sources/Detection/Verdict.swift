/// The three-way answer shown to people: never a bare yes/no.
public enum Verdict: String, Sendable, Codable {
    case likelyReal = "likely-real"
    case uncertain
    case likelyAI = "likely-AI"

    /// Bands on P(AI): below `low` likely real, above `high` likely AI, uncertain between.
    public init(probability p: Double, low: Double = 0.3, high: Double = 0.7) {
        self = p < low ? .likelyReal : (p > high ? .likelyAI : .uncertain)
    }
}
