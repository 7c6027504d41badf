import Detection
import Foundation

/// Prints scan results as they arrive: an aligned table, JSON Lines, CSV, or a self-contained HTML page (reports).
final class ScanOutput {
    enum Format { case table, jsonLines, csv, html }
    let format: Format
    /// The models' display names (unique: two files of one architecture are told apart), in score order.
    let names: [String]
    let modelName: String
    /// Some model is an untrained placeholder.
    let placeholder: Bool
    /// Which model `default` picked and why (one per model named `default`).
    let selectionNotes: [String]
    /// The table's lines above the column header (models, notes).
    let header: [String]
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
    private(set) var count = 0, failed = 0, flagged = 0, uncertain = 0, real = 0, disagreements = 0, outOfScope = 0

    convenience init(format: Format, detectors: [Detector], stacker: Stacker? = nil) {
        let names = Detector.displayNames(detectors)
        var header: [String] = []
        for (d, name) in zip(detectors, names) {
            if d.isPlaceholder { header.append("NOTE: model '\(name)' is an untrained PLACEHOLDER: its scores carry no information.") }
            header.append("model: \(name) (\(d.entry.summary)) from \((d.path as NSString).lastPathComponent)")
            if let why = d.selectionNote { header.append(why) }
            if let note = d.metadata["aidetect.summary"] { header.append("note: \(note)") }
        }
        if detectors.count > 1 {
            if let stacker {
                header.append(String(format: "combined: P(AI) from a stacker fitted for these models on %@ (ROC-AUC %.3f on %d validation images); each model's score in brackets; where they disagree the verdict is uncertain.",
                                     stacker.fittedOn, stacker.validationAUC ?? .nan, stacker.validationImages))
            } else {
                let p = Judgement.primary(heldOutAUC: detectors.map { $0.figures?.heldOutAUC })
                header.append("combined: P(AI) is \(names[p])'s score (the best held-out figure; no stacker is fitted for these models); each model's score in brackets; where they disagree the verdict is uncertain.")
            }
        }
        self.init(format: format, names: names, placeholder: detectors.contains(where: \.isPlaceholder),
                  selectionNotes: detectors.compactMap(\.selectionNote), header: header)
    }

    /// Output for results that were recorded earlier (a journal's report): the models are known by name only.
    init(format: Format, names: [String], placeholder: Bool, selectionNotes: [String], header: [String]) {
        self.format = format
        self.names = names
        modelName = names.count == 1 ? names[0] : "ensemble(" + names.joined(separator: "+") + ")"
        self.placeholder = placeholder
        self.selectionNotes = selectionNotes
        self.header = header
    }

    static let csvHeader = "path,format,width,height,probability,verdict,views,error_kind,error,model,placeholder,scores,disagreement,out_of_scope,reason,family,family_probability"

    func begin() {
        switch format {
        case .table:
            for line in header { print(line) }
            print("caveat: \(Reliability.caveat)")
            print(pad("P(AI)", 7) + "  " + pad("verdict", 11) + "  " + pad("format", 6) + "  " + pad("size", 11) + "  file")
        case .csv:
            print(Self.csvHeader)
        case .jsonLines:
            break
        case .html:
            print("""
                <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <title>aidetect report</title><style>body{font:15px/1.4 system-ui,sans-serif;margin:1rem}table{border-collapse:collapse}
                td,th{border-bottom:1px solid #ccc;padding:.2rem .5rem;text-align:left}.likely-AI{color:#b3261e}.likely-real{color:#1e6b35}
                .uncertain{color:#8a5a00}</style></head><body><h1>aidetect report</h1>
                """)
            for line in header { print("<p>\(html(line))</p>") }
            print("<p><strong>\(html(Reliability.caveat))</strong></p>")
            print("<table><tr><th>file</th><th>P(AI)</th><th>verdict</th><th>format</th><th>size</th><th>reason or error</th></tr>")
        }
    }

    func write(_ r: ScanResult) {
        count += 1
        if r.error != nil { failed += 1 }
        if r.verdict == .likelyAI { flagged += 1 }
        if r.verdict == .uncertain { uncertain += 1 }
        if r.verdict == .likelyReal { real += 1 }
        if r.disagreement == true { disagreements += 1 }
        if r.outOfScope != nil { outOfScope += 1 }
        switch format {
        case .table:
            if let e = r.error {
                print(pad("-", 7) + "  " + pad("error", 11) + "  " + pad(r.format ?? "-", 6) + "  " + pad("-", 11) + "  \(e)")
            } else {
                let p = String(format: "%.3f", r.probability ?? 0)
                let each = r.scores.map { s in "  [" + zip(names, s).map { "\($0) \(String(format: "%.3f", $1))" }.joined(separator: " | ") + "]" } ?? ""
                let why = r.outOfScope.map { "  (\($0.reason))" } ?? (r.disagreement == true ? "  (models disagree)" : "")
                let family = r.family.map { "  {family: \($0) \(String(format: "%.2f", r.familyProbability ?? .nan))}" } ?? ""
                print(pad(p, 7) + "  " + pad(r.verdict?.rawValue ?? "-", 11) + "  " + pad(r.format ?? "-", 6) + "  "
                      + pad("\(r.width ?? 0)x\(r.height ?? 0)", 11) + "  \(r.path)" + each + why + family)
            }
        case .csv:
            let fields: [String] = [
                r.path, r.format ?? "", r.width.map(String.init) ?? "", r.height.map(String.init) ?? "",
                r.probability.map { String(format: "%.6f", $0) } ?? "", r.verdict?.rawValue ?? "", r.views.map(String.init) ?? "",
                r.errorKind ?? "", r.error ?? "", modelName, placeholder ? "true" : "false",
                r.scores.map { s in zip(names, s).map { "\($0)=\(String(format: "%.6f", $1))" }.joined(separator: ";") } ?? "",
                r.disagreement.map { $0 ? "true" : "false" } ?? "", r.outOfScope?.rawValue ?? "", r.reason ?? "",
                r.family ?? "", r.familyProbability.map { String(format: "%.6f", $0) } ?? "",
            ]
            print(fields.map(csvField).joined(separator: ","))
        case .jsonLines:
            var object = (try? JSONSerialization.jsonObject(with: encoder.encode(r))) as? [String: Any] ?? [:]
            object["model"] = modelName
            object["placeholder"] = placeholder
            // Scores by unique display name (the names are unique, so no model is dropped); "models" keeps the order.
            if let s = r.scores {
                object["scores"] = Dictionary(uniqueKeysWithValues: zip(names, s))
                object["models"] = names
            }
            if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: d, as: UTF8.self))
            }
        case .html:
            let size = r.width.map { "\($0)x\(r.height ?? 0)" } ?? ""
            print("<tr><td>\(html(r.path))</td><td>\(r.probability.map { String(format: "%.3f", $0) } ?? "")</td>"
                  + "<td class=\"\(r.verdict?.rawValue ?? "")\">\(r.verdict?.rawValue ?? "error")</td><td>\(html(r.format ?? ""))</td><td>\(size)</td>"
                  + "<td>\(html(r.error ?? r.reason ?? ""))</td></tr>")
        }
        fflush(nil)
    }

    /// The closing summary: a line for the table, trailing `#` comment lines for CSV (after the data, so the header
    /// stays the first line), one last JSON record `{"summary": ..., "caveat": ...}` for JSON Lines.
    func end() {
        let counts: [String: Int] = ["files": count, "likely_ai": flagged, "uncertain": uncertain, "likely_real": real, "errors": failed,
                                     "disagreements": disagreements, "out_of_scope": outOfScope]
        let line = "\(count) file(s): \(flagged) likely AI-generated, \(uncertain) uncertain, \(real) likely real, \(failed) could not be analysed"
            + (names.count > 1 ? "; models disagreed on \(disagreements)" : "") + (outOfScope > 0 ? "; \(outOfScope) outside what the models can judge" : "") + "."
        switch format {
        case .table:
            print(line)
        case .csv:
            for why in selectionNotes { print("# model: " + why) }
            print("# summary: " + line)
            print("# caveat: " + Reliability.caveat)
        case .jsonLines:
            var object: [String: Any] = ["summary": counts, "model": modelName, "caveat": Reliability.caveat]
            if !selectionNotes.isEmpty { object["selection"] = selectionNotes }
            if let d = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: d, as: UTF8.self))
            }
        case .html:
            print("</table><p>\(html(line))</p></body></html>")
        }
    }

    private func html(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    private func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
