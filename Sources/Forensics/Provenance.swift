import Foundation

/// One piece of provenance evidence.
public struct Evidence: Sendable, Codable, Equatable {
    public enum Direction: String, Sendable, Codable { case ai, real, neutral }
    /// Where it was found: "C2PA", "XMP", "PNG text", "EXIF", "JPEG", "ICC", "file".
    public var source: String
    public var finding: String
    public var direction: Direction
    /// How much it should move a reader, 0...1 (0 = context only). Metadata can be stripped or forged, so camera
    /// EXIF stays weak; generator parameters and a C2PA "created" action are strong (the latter is unvalidated).
    public var strength: Double
    public var explanation: String
}

/// Everything the file's metadata says about where it came from, and the evidence list drawn from it.
public struct ProvenanceReport: Sendable, Codable, Equatable {
    public var format: String
    public var exif: EXIF?
    /// Selected XMP properties (provenance-related and tool names).
    public var xmp: [String: String] = [:]
    /// PNG text keywords present (values are summarised in the evidence, prompts are not repeated).
    public var textKeys: [String] = []
    public var c2pa: C2PAManifest?
    public var jpegQuality: Int?
    public var jpegStandardTables: Bool?
    public var iccDescription: String?
    /// The generator named by the metadata, if any ("ComfyUI (sd_xl_turbo_1.0_fp16.safetensors)", "DALL-E", ...).
    public var generator: String?
    public var evidence: [Evidence] = []
    public var problems: [String] = []
    /// The invisible-watermark reading of the decoded pixels (`checkWatermark`), when it was run.
    public var watermark: InvisibleWatermark.Finding?

    /// Reads the metadata of a file's bytes. Never throws and never traps: malformed parts become `problems`.
    public static func analyze(_ data: [UInt8]) -> ProvenanceReport {
        let blocks = MetadataBlocks.read(data)
        var r = ProvenanceReport(format: blocks.format)
        r.problems = blocks.problems
        r.textKeys = blocks.text.map(\.key)
        r.exif = blocks.exif.lazy.compactMap { EXIF($0) }.first
        if let t = blocks.quantTables.first.map({ _ in estimateJPEGQuality(blocks.quantTables) }) ?? nil {
            r.jpegQuality = t.quality
            r.jpegStandardTables = t.exact
        }
        r.iccDescription = blocks.icc.flatMap { Forensics.iccDescription($0) }
        let xmps = blocks.xmp.map(XMP.init)
        for x in xmps {
            for (k, v) in x.properties where Self.xmpKeys.contains(k) { r.xmp[k] = v }
        }
        for j in blocks.jumbf where r.c2pa == nil {
            guard let store = JUMBFBox.c2paStore(j), var manifest = C2PAManifest(store: store) else { continue }
            manifest.validations = C2PAValidator.validate(store: store, jumbf: j, asset: data)
            manifest.validation = manifest.validations.last?.verdict.rawValue ?? "not validated"
            r.c2pa = manifest
        }
        if !blocks.jumbf.isEmpty && r.c2pa == nil { r.problems.append("C2PA/JUMBF data present but no readable manifest store") }
        r.collectEvidence(blocks: blocks, xmps: xmps)
        return r
    }

    /// Reads a file (at most `maxBytes`).
    public static func analyze(path: String, maxBytes: Int = 50 << 20) throws -> ProvenanceReport {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path), let size = a[.size] as? Int else {
            throw ForensicsError.unreadable(path: path, reason: "cannot read the file")
        }
        guard size <= maxBytes else { throw ForensicsError.unreadable(path: path, reason: "\(size) bytes is over the \(maxBytes)-byte limit") }
        guard let d = FileManager.default.contents(atPath: path) else { throw ForensicsError.unreadable(path: path, reason: "cannot read the file") }
        return analyze([UInt8](d))
    }

    static let xmpKeys: Set<String> = ["Iptc4xmpExt:DigitalSourceType", "plus:DigitalSourceType", "xmp:CreatorTool", "photoshop:Credit",
                                       "dc:creator", "xmpMM:History", "tiff:Make", "tiff:Model", "photoshop:Source", "dc:source"]

    mutating func add(_ source: String, _ finding: String, _ direction: Evidence.Direction, _ strength: Double, _ explanation: String) {
        evidence.append(Evidence(source: source, finding: finding, direction: direction, strength: strength, explanation: explanation))
    }

    /// IPTC digital source types of generative AI: trainedAlgorithmicMedia and its composite (algorithmicMedia is made
    /// by an algorithm without training data, procedural, not generative AI).
    static func isGenerative(_ digitalSourceType: String?) -> Bool {
        guard let dst = digitalSourceType else { return false }
        return dst.hasPrefix("trainedAlgorithmicMedia") || dst.hasPrefix("compositeWithTrainedAlgorithmicMedia")
    }

    mutating func collectEvidence(blocks: MetadataBlocks, xmps: [XMP]) {
        // C2PA.
        if let c = c2pa {
            // Only a valid manifest (signature, chain, assertions and the binding to these bytes checked, the signer
            // trusted) is strong evidence; a cryptographically sound one from an unknown signer is moderate; a broken
            // one is reported as a problem and weighs nothing.
            let active = c.validations.last
            let signatureNote: String
            var weight = 1.0
            switch active?.verdict {
            case .valid?: signatureNote = "Its signature, certificate chain and binding to these bytes were validated (signer \(active?.signer ?? "?"))."
            case .untrustedSigner?:
                signatureNote = "Its signature and its binding to these bytes check out, but the signer (\(active?.signer ?? "?")) is on no trust list known here."
                weight = 0.5
            case .bindingNotChecked?:
                signatureNote = "Its signature checks out, but its binding to the file's bytes is of a kind not checked here."
                weight = 0.5
            case .invalid? where active?.isIntact == true:
                // Intact (signature and binding check out), but the certificate has expired and no verified time-stamp
                // shows it was valid when signing: no worse than an unknown signer.
                signatureNote = "Its signature and its binding to these bytes check out, but the signing certificate has expired and no verified time-stamp proves it was valid at signing."
                weight = 0.5
                problems.append("C2PA manifest \(c.label): signing certificate expired (no verified time-stamp)")
            case .invalid?:
                signatureNote = "Validation FAILED (\(active?.failures.joined(separator: ", ") ?? "")): the file or the manifest was changed after signing."
                weight = 0.1
                problems.append("C2PA manifest \(c.label) is invalid: \(active?.failures.joined(separator: ", ") ?? "")")
            case nil: signatureNote = c.signaturePresent ? "Its signature could not be validated." : "It carries no signature."; weight = 0.5
            }
            // Only actions of assertions the signed claims vouch for count (a box added to the store afterwards, which
            // the data hash does not cover, is ignored), from manifests that are intact, and a statement of generation
            // is not hidden by another "created" action listed before it.
            let vouched = c.validations.isEmpty ? c.actions : c.actions.filter { a in
                guard let label = a.assertion, let v = c.validations.first(where: { $0.manifest == a.manifest }) else { return false }
                return v.isIntact && v.verifiedAssertions.contains(label)
            }
            let creations = vouched.filter { $0.action == "c2pa.created" }
            if let created = creations.first(where: { Self.isGenerative($0.digitalSourceType) }) ?? creations.first,
               let dst = created.digitalSourceType {
                let ai = Self.isGenerative(dst)
                add("C2PA", "c2pa.created with digitalSourceType \(dst)\(created.softwareAgent.map { " by \($0)" } ?? "")", ai ? .ai : .neutral,
                    ai ? 0.9 * weight : 0.1,
                    "The content credential says how the content was made. " + signatureNote)
                if ai { generator = generator ?? created.softwareAgent ?? c.claimGenerator }
            } else {
                add("C2PA", "manifest \(c.label) by \(c.claimGenerator ?? "unknown tool"): actions \(c.actions.map(\.action).joined(separator: ", "))", .neutral, 0.1,
                    "A content credential without a creation statement records editing history only. " + signatureNote)
            }
        }
        // XMP / IPTC.
        for x in xmps {
            if let dst = x.digitalSourceType {
                let ai = Self.isGenerative(dst)
                add("XMP", "IPTC DigitalSourceType \(dst)", ai ? .ai : .neutral, ai ? 0.85 : 0.1,
                    ai ? "The IPTC field marks the image as generated\(dst.hasPrefix("composite") ? " in part" : ""); unsigned metadata can be edited."
                       : "Unsigned metadata; it can be edited.")
            }
            if let tool = x.creatorTool, let g = Self.knownGenerator(tool) {
                add("XMP", "CreatorTool \(tool)", .ai, 0.7, "The tool that wrote the file is a known image generator.")
                generator = generator ?? g
            }
        }
        // PNG text chunks written by generators.
        for (key, value) in blocks.text {
            switch key {
            case "parameters":
                let p = Self.a1111(value)
                add("PNG text", "Stable Diffusion web UI parameters (\(p.map { "\($0.key) \($0.value)" }.sorted().prefix(4).joined(separator: ", ")))", .ai, 0.9,
                    "Generation parameters (prompt, sampler, steps, seed) written by the AUTOMATIC1111/Forge web UI.")
                generator = generator ?? "Stable Diffusion web UI" + (p["Model"].map { " (\($0))" } ?? "")
            case "prompt", "workflow":
                let models = Self.comfyModels(value)
                guard !models.isEmpty || value.contains("class_type") || value.contains("\"nodes\"") else { continue }
                if !evidence.contains(where: { $0.finding.hasPrefix("ComfyUI") }) {
                    add("PNG text", "ComfyUI graph (\(key))\(models.isEmpty ? "" : ": " + models.joined(separator: ", "))", .ai, 0.9,
                        "The node graph that generated the image, saved by ComfyUI.")
                    generator = generator ?? "ComfyUI" + (models.isEmpty ? "" : " (\(models.joined(separator: ", ")))")
                }
            case "Software", "Comment", "Description", "Source", "Title":
                if let g = Self.knownGenerator(value) {
                    add("PNG text", "\(key): \(value.prefix(80))", .ai, 0.7, "A text field names a known image generator.")
                    generator = generator ?? g
                }
            default: break
            }
        }
        // EXIF.
        if let e = exif {
            if let note = e.makerNote, note.hasPrefix("OpenAI--ImageGeneration") {
                add("EXIF", "MakerNote \(note.prefix(60))", .ai, 0.85, "DALL-E writes its generation id into the MakerNote.")
                generator = generator ?? "DALL-E (OpenAI)"
            }
            if let uc = e.userComment {
                if uc.contains("Steps:") && uc.contains("Sampler:") {
                    add("EXIF", "UserComment holds Stable Diffusion web UI parameters", .ai, 0.9, "Generation parameters saved into a JPEG by the web UI.")
                    generator = generator ?? "Stable Diffusion web UI" + (Self.a1111(uc)["Model"].map { " (\($0))" } ?? "")
                } else if let g = Self.knownGenerator(uc) {
                    add("EXIF", "UserComment: \(uc.prefix(60))", .ai, 0.7, "The comment names a known image generator.")
                    generator = generator ?? g
                }
            }
            if let sw = e.software {
                if let g = Self.knownGenerator(sw) {
                    add("EXIF", "Software: \(sw)", .ai, 0.7, "The writing software is a known image generator.")
                    generator = generator ?? g
                } else {
                    add("EXIF", "Software: \(sw)", .neutral, 0, "An editor or converter touched the file; that says nothing about how the picture was made.")
                }
            }
            // ComfyUI writes its graphs into EXIF Make/Model of WebP files ("workflow:{...}", "prompt:{...}").
            let graphs = [e.make, e.model, e.imageDescription].compactMap { $0 }.filter { $0.hasPrefix("workflow:") || $0.hasPrefix("prompt:") }
            if !graphs.isEmpty {
                let models = Array(Set(graphs.flatMap { Self.comfyModels(String($0.drop(while: { $0 != ":" }).dropFirst())) })).sorted()
                add("EXIF", "ComfyUI graph in EXIF\(models.isEmpty ? "" : ": " + models.joined(separator: ", "))", .ai, 0.9,
                    "The node graph that generated the image, saved by ComfyUI into the EXIF text fields.")
                generator = generator ?? "ComfyUI" + (models.isEmpty ? "" : " (\(models.joined(separator: ", ")))")
            } else if e.namesACamera {
                add("EXIF", "camera \([e.make, e.model].compactMap { $0 }.joined(separator: " "))\(e.dateTimeOriginal.map { ", taken \($0)" } ?? "")", .real, 0.2,
                    "Camera metadata fits a photograph, but it is easily copied into any file: weak evidence only.")
            }
        }
        if let q = jpegQuality {
            add("JPEG", "quality about \(q)\(jpegStandardTables == true ? " (standard libjpeg tables)" : "")", .neutral, 0,
                "The file was last saved as JPEG at this quality; low qualities erase the fine traces detectors use.")
        }
        if evidence.isEmpty {
            add("file", "no provenance metadata", .neutral, 0,
                "Nothing in the file says how it was made. Absence of metadata is not evidence of a real photo: most sites strip it.")
        }
    }

    /// Known generator names in free text.
    static func knownGenerator(_ s: String) -> String? {
        let l = s.lowercased()
        let known: [(String, String)] = [("midjourney", "Midjourney"), ("dall-e", "DALL-E"), ("dall·e", "DALL-E"), ("openai", "OpenAI"),
                                         ("stable diffusion", "Stable Diffusion"), ("comfyui", "ComfyUI"), ("novelai", "NovelAI"),
                                         ("firefly", "Adobe Firefly"), ("imagen", "Google Imagen"), ("invokeai", "InvokeAI"),
                                         ("leonardo.ai", "Leonardo.Ai"), ("ideogram", "Ideogram"), ("flux", "FLUX"), ("gpt-4o", "GPT-4o")]
        return known.first { l.contains($0.0) }?.1
    }

    /// "key: value" pairs of an AUTOMATIC1111 parameters block (the line after the prompt lines).
    static func a1111(_ s: String) -> [String: String] {
        guard let line = s.split(separator: "\n").last(where: { $0.contains("Steps:") }) else { return [:] }
        var out: [String: String] = [:]
        for part in line.split(separator: ",") {
            let kv = part.split(separator: ":", maxSplits: 1)
            if kv.count == 2 { out[kv[0].trimmingCharacters(in: .whitespaces)] = kv[1].trimmingCharacters(in: .whitespaces) }
        }
        return out
    }

    /// Checkpoint, UNet and LoRA/hypernetwork file names in a ComfyUI graph (API "prompt" or editor "workflow").
    static func comfyModels(_ json: String) -> [String] {
        guard json.utf8.count < 8 << 20, let obj = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return [] }
        var names: [String] = []
        func visit(_ v: Any, depth: Int) {
            guard depth < 32, names.count < 16 else { return }
            if let d = v as? [String: Any] {
                for (k, x) in d {
                    if ["ckpt_name", "unet_name", "lora_name", "hypernetwork_name", "model_name"].contains(k), let s = x as? String, !names.contains(s) { names.append(s) }
                    visit(x, depth: depth + 1)
                }
                // Editor graph: CheckpointLoader nodes keep the file in widgets_values.
                if let type = d["type"] as? String, type.contains("Loader"), let w = d["widgets_values"] as? [Any] {
                    for s in w.compactMap({ $0 as? String }) where [".safetensors", ".ckpt", ".pt", ".pth"].contains(where: { s.hasSuffix($0) }) && !names.contains(s) {
                        names.append(s)
                    }
                }
            } else if let a = v as? [Any] {
                for x in a { visit(x, depth: depth + 1) }
            }
        }
        visit(obj, depth: 0)
        return names.sorted()
    }

    /// The strongest AI-leaning evidence (0 when none).
    public var aiStrength: Double { evidence.filter { $0.direction == .ai }.map(\.strength).max() ?? 0 }
}

/// A verdict that combines provenance evidence with a learned model's calibrated probability. Strong AI
/// provenance (>= 0.8) decides "likely-AI" on its own; otherwise the model's band stands. Real-leaning metadata
/// is reported but never turns a verdict to "real", and missing metadata counts for nothing.
public struct FusedVerdict: Sendable, Codable, Equatable {
    public var verdict: String
    public var basis: String
    public var modelProbability: Double?
    public var provenanceStrength: Double
    /// Why, for people (set by callers that know more than the probability, e.g. that models disagree).
    public var reason: String?

    public init(modelProbability p: Double?, provenance: ProvenanceReport, lower: Double = 0.3, upper: Double = 0.7) {
        modelProbability = p
        provenanceStrength = provenance.aiStrength
        let modelBand = p.map { $0 > upper ? "likely-AI" : $0 < lower ? "likely-real" : "uncertain" }
        if provenance.aiStrength >= 0.8 {
            verdict = "likely-AI"
            basis = modelBand == "likely-AI" ? "provenance and model" : "provenance"
        } else {
            verdict = modelBand ?? "uncertain"
            basis = p == nil ? "none" : "model"
        }
    }
}

extension ProvenanceReport {
    /// A short block for people: what was found and what it means (`aidetect provenance` without `--json`).
    public func summary(file: String) -> String {
        var lines = ["\(file) (\(format))"]
        let ai = evidence.filter { $0.direction == .ai }.sorted { $0.strength > $1.strength }
        let real = evidence.filter { $0.direction == .real }
        if let g = generator { lines.append("  generator named in the metadata: \(g)") }
        if let c2pa {
            lines.append("  C2PA manifest present (\(c2pa.claimGenerator ?? "unknown tool")): \(c2pa.validation)"
                         + (c2pa.validations.last.map { v in v.failures.isEmpty ? "" : " (\(v.failures.joined(separator: ", ")))" } ?? ""))
        }
        func strengthWord(_ s: Double) -> String { s >= 0.8 ? "strong" : s >= 0.4 ? "moderate" : s > 0 ? "weak" : "context" }
        for e in evidence {
            lines.append("  - \(e.direction == .ai ? "points to AI" : e.direction == .real ? "points to a camera" : "context")"
                         + (e.direction == .neutral ? "" : " (\(strengthWord(e.strength)))") + ", \(e.source): \(e.finding)")
        }
        if let w = watermark {
            if let m = w.match {
                lines.append("  - invisible watermark: '\(m.payload)' read with \(m.bitErrors)/\(m.bits) bit errors (chance of a false match \(String(format: "%.1g", m.falseMatchProbability)))")
            } else {
                lines.append("  - invisible watermark: none of the \(w.checks.count) known marks found")
            }
        }
        for p in problems { lines.append("  ! \(p)") }
        let meaning: String
        if let top = ai.first, top.strength >= 0.8 {
            meaning = "the metadata says this file was made by an AI generator (\(top.source)); metadata can be forged, but rarely is to claim AI."
        } else if !ai.isEmpty {
            meaning = "some metadata hints at AI tools; not conclusive on its own."
        } else if !real.isEmpty {
            meaning = "the metadata looks like a camera's; it is easily copied or edited, so it is weak evidence of a real photo."
        } else {
            meaning = "no provenance evidence either way; missing metadata is not evidence of a real photo (most sites strip it)."
        }
        lines.append("  what it means: " + meaning)
        return lines.joined(separator: "\n")
    }
}
