import Detection
import Foundation

/// Prints scan results as they arrive: an aligned table, JSON Lines or CSV.
final class ScanOutput {
    enum Format { case table, jsonLines, csv }
    let format: Format
    let detectors: [Detector]
    var detector: Detector { detectors[0] }
    var modelName: String { detectors.count == 1 ? detector.name : "ensemble(" + detectors.map(\.name).joined(separator: "+") + ")" }
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
    private(set) var count = 0, failed = 0, flagged = 0

    init(format: Format, detectors: [Detector]) {
        self.format = format
        self.detectors = detectors
    }

    func begin() {
        switch format {
        case .table:
            for d in detectors {
                if d.isPlaceholder {
                    print("NOTE: model '\(d.name)' is an untrained PLACEHOLDER: its scores carry no information.")
                }
                print("model: \(d.name) (\(d.entry.summary)) from \((d.path as NSString).lastPathComponent)")
                if let note = d.metadata["aidetect.summary"] { print("note: \(note)") }
            }
            if detectors.count > 1 { print("P(AI) is the mean of the models' calibrated scores (shown in brackets).") }
            print(pad("P(AI)", 7) + "  " + pad("verdict", 11) + "  " + pad("format", 6) + "  " + pad("size", 11) + "  file")
        case .csv:
            print("path,format,width,height,probability,verdict,views,error_kind,error,model,placeholder,scores")
        case .jsonLines:
            break
        }
    }

    func write(_ r: ScanResult) {
        count += 1
        if r.error != nil { failed += 1 }
        if r.verdict == .likelyAI { flagged += 1 }
        switch format {
        case .table:
            if let e = r.error {
                print(pad("-", 7) + "  " + pad("error", 11) + "  " + pad(r.format ?? "-", 6) + "  " + pad("-", 11) + "  \(e)")
            } else {
                let p = String(format: "%.3f", r.probability ?? 0)
                let each = r.scores.map { s in "  [" + detectors.map { String(format: "%.3f", s[$0.name] ?? .nan) }.joined(separator: " ") + "]" } ?? ""
                print(pad(p, 7) + "  " + pad(r.verdict?.rawValue ?? "-", 11) + "  " + pad(r.format ?? "-", 6) + "  "
                      + pad("\(r.width ?? 0)x\(r.height ?? 0)", 11) + "  \(r.path)" + each)
            }
        case .csv:
            let fields: [String] = [
                r.path, r.format ?? "", r.width.map(String.init) ?? "", r.height.map(String.init) ?? "",
                r.probability.map { String(format: "%.6f", $0) } ?? "", r.verdict?.rawValue ?? "", r.views.map(String.init) ?? "",
                r.errorKind ?? "", r.error ?? "", modelName, detectors.contains(where: \.isPlaceholder) ? "true" : "false",
                r.scores.map { s in s.keys.sorted().map { "\($0)=\(String(format: "%.6f", s[$0]!))" }.joined(separator: ";") } ?? "",
            ]
            print(fields.map(csvField).joined(separator: ","))
        case .jsonLines:
            var object = (try? JSONSerialization.jsonObject(with: encoder.encode(r))) as? [String: Any] ?? [:]
            object["model"] = modelName
            object["placeholder"] = detectors.contains(where: \.isPlaceholder)
            if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: d, as: UTF8.self))
            }
        }
        fflush(nil)
    }

    func end() {
        if format == .table {
            print("\(count) file(s): \(flagged) likely AI-generated, \(failed) could not be analysed.")
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    private func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
