import Foundation

/// A JUMBF box (ISO 19566-5): superboxes ('jumb') carry a description ('jumd': type UUID, label) and children.
public struct JUMBFBox: Sendable, Equatable {
    public var type: String
    public var label: String?
    /// The description's content type, as 4 printable characters of its UUID ("c2pa", "c2ma", "c2cl", "cbor", ...).
    public var contentType: String?
    public var payload: [UInt8]
    public var children: [JUMBFBox]
    /// Where the whole box (header included) lies in the bytes it was parsed from, and its header's size (8 or 16):
    /// what C2PA's hashed URIs hash.
    public var range: Range<Int> = 0..<0
    public var headerSize = 8

    /// Parses the boxes in `bytes` (at most `maxBoxes` in all, nesting depth 16).
    public static func parse(_ bytes: [UInt8]) -> [JUMBFBox] {
        var budget = 10_000
        return parse(Bytes(bytes), from: 0, to: bytes.count, depth: 0, budget: &budget)
    }

    static func parse(_ b: Bytes, from start: Int, to end: Int, depth: Int, budget: inout Int) -> [JUMBFBox] {
        var out: [JUMBFBox] = []
        var i = start
        while i + 8 <= end, budget > 0, depth < 16 {
            budget -= 1
            guard var size = b.u32(i), let type = b.ascii(i + 4, 4) else { break }
            var header = 8
            if size == 1 { guard let s = b.u64(i + 8) else { break }; size = s; header = 16 }
            if size == 0 { size = end - i }
            guard size >= header, size <= end - i else { break }
            var box = JUMBFBox(type: type, label: nil, contentType: nil, payload: [], children: [], range: i..<(i + size), headerSize: header)
            if type == "jumb" {
                box.children = parse(b, from: i + header, to: i + size, depth: depth + 1, budget: &budget)
                if let d = box.children.first, d.type == "jumd" {
                    // jumd: 16-byte type UUID, toggles byte, then a null-terminated label when toggles has bit 1.
                    let p = d.payload
                    if p.count >= 17 {
                        box.contentType = String(decoding: p[0..<4].map { (0x20...0x7E).contains($0) ? $0 : 0x3F }, as: UTF8.self)
                        if p[16] & 0x02 != 0, let z = p[17...].firstIndex(of: 0) { box.label = String(decoding: p[17..<z], as: UTF8.self) }
                    }
                }
            } else {
                box.payload = b.slice(i + header, size - header) ?? []
            }
            out.append(box)
            i += size
        }
        return out
    }

    /// The C2PA manifest store (the `c2pa` superbox) in the JUMBF of one file, parsed.
    public static func c2paStore(_ bytes: [UInt8]) -> JUMBFBox? { parse(bytes).first { $0.type == "jumb" && $0.label == "c2pa" } }
    /// A store's manifests, oldest first (the active one last).
    public var manifests: [JUMBFBox] { children.filter { $0.type == "jumb" && $0.label != nil } }

    public func child(label: String) -> JUMBFBox? { children.first { $0.label == label } }
    /// A manifest's claim: the CBOR bytes of its `c2pa.claim.v2` box, else of its `c2pa.claim` box.
    public var claimBytes: [UInt8]? { (child(label: "c2pa.claim.v2") ?? child(label: "c2pa.claim"))?.content("cbor") }
    /// The box without its own header (the description box and content boxes of a superbox): what a C2PA hashed
    /// URI hashes.
    public var contentRange: Range<Int> { (range.lowerBound + headerSize)..<range.upperBound }
    public func children(labelPrefix p: String) -> [JUMBFBox] { children.filter { $0.label?.hasPrefix(p) == true } }
    /// The first content box of the given type ('cbor', 'json', ...).
    public func content(_ type: String) -> [UInt8]? { children.first { $0.type == type }?.payload }
}

/// What a C2PA manifest store says: the active (last) manifest's claim generator, actions with their digital
/// source types, ingredients, and whether a signature is present. `ProvenanceReport` validates it
/// (`C2PAValidator`) and fills `validation` and `validations`.
public struct C2PAManifest: Sendable, Equatable, Codable {
    public struct Action: Sendable, Equatable, Codable {
        public var action: String
        public var digitalSourceType: String?
        public var softwareAgent: String?
        /// The manifest that states it.
        public var manifest: String?
        /// The assertion box it was read from (`c2pa.actions`, `c2pa.actions.v2`, ...): evidence only counts actions
        /// of assertions whose hashes the manifest's signed claim vouches for (`C2PAValidation.verifiedAssertions`).
        public var assertion: String?
    }
    public var label: String
    public var claimGenerator: String?
    /// Claim generators of every manifest in the store (the active one and its ingredients').
    public var claimGenerators: [String] = []
    public var title: String?
    public var format: String?
    public var actions: [Action] = []
    public var ingredients: [String] = []
    public var assertions: [String] = []
    public var signaturePresent = false
    public var signatureBytes = 0
    /// Printable names found in the signing certificates (organisation / common names), unverified.
    public var certificateNames: [String] = []
    /// The active manifest's verdict ("valid", "untrusted-signer", "invalid", "binding-not-checked"), or
    /// "not validated" before validation.
    public var validation = "not validated"
    /// Every manifest's validation (the active one last), with c2pa-rs-style status codes.
    public var validations: [C2PAValidation] = []
    public var manifestCount = 1

    /// Reads the active manifest from a C2PA manifest store (the JUMBF of one file).
    public init?(jumbf: [UInt8]) {
        guard let store = JUMBFBox.c2paStore(jumbf) else { return nil }
        self.init(store: store)
    }

    /// Reads the active manifest from a parsed manifest store (`JUMBFBox.c2paStore`).
    public init?(store: JUMBFBox) {
        let manifests = store.manifests
        guard let active = manifests.last, let label = active.label else { return nil }
        self.label = label
        manifestCount = manifests.count
        // Claim fields from the active manifest; actions and ingredients from every manifest in the store (an
        // edited file's active manifest often only says "converted", its ingredient's says "created").
        for (k, m) in manifests.enumerated() {
            let active = k == manifests.count - 1
            if let cbor = m.claimBytes.flatMap(CBOR.decode) {
                var generator = cbor["claim_generator"]?.string
                if generator == nil, let info = cbor["claim_generator_info"] {
                    let first = info.array?.first ?? info
                    generator = [first["name"]?.string, first["version"]?.string].compactMap { $0 }.joined(separator: " ").nilIfEmpty
                }
                if let generator, !claimGenerators.contains(generator) { claimGenerators.append(generator) }
                if active {
                    claimGenerator = generator
                    title = cbor["dc:title"]?.string
                    format = cbor["dc:format"]?.string
                }
            }
            if let store = m.child(label: "c2pa.assertions") {
                for a in store.children where a.type == "jumb" {
                    guard let l = a.label else { continue }
                    if active { assertions.append(l) }
                    if l.hasPrefix("c2pa.actions"), let cbor = a.content("cbor").flatMap(CBOR.decode), let list = cbor["actions"]?.array {
                        for item in list {
                            guard let name = item["action"]?.string else { continue }
                            var agent = item["softwareAgent"]?.string
                            if agent == nil, let sa = item["softwareAgent"] { agent = sa["name"]?.string }
                            let dst = item["digitalSourceType"]?.string ?? item["parameters"]?["digitalSourceType"]?.string
                            actions.append(Action(action: name, digitalSourceType: dst.map { $0.split(separator: "/").last.map(String.init) ?? $0 },
                                                  softwareAgent: agent, manifest: m.label, assertion: l))
                        }
                    }
                    if l.hasPrefix("c2pa.ingredient") && active {
                        let cbor = a.content("cbor").flatMap(CBOR.decode)
                        let json = a.content("json").flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
                        ingredients.append(cbor?["dc:title"]?.string ?? json?["dc:title"] as? String ?? l)
                    }
                }
            }
        }
        if let sig = active.child(label: "c2pa.signature"), let raw = sig.content("cbor") {
            signaturePresent = !raw.isEmpty
            signatureBytes = raw.count
            certificateNames = Self.certificateNames(raw)
        }
    }

    /// Organisation (2.5.4.10) and common-name (2.5.4.3) strings of DER certificates inside a COSE signature,
    /// found by their attribute OIDs; a hint for people, not a verified identity.
    static func certificateNames(_ b: [UInt8]) -> [String] {
        var names: [String] = []
        var i = 0
        while i + 7 < b.count && names.count < 12 {
            // 06 03 55 04 0A|03, then a string type (0C UTF8, 13 Printable, 14 T61, 16 IA5) and a short length.
            if b[i] == 0x06, b[i + 1] == 0x03, b[i + 2] == 0x55, b[i + 3] == 0x04, b[i + 4] == 0x0A || b[i + 4] == 0x03,
               [0x0C, 0x13, 0x14, 0x16].contains(b[i + 5]) {
                let n = Int(b[i + 6])
                if n < 128, i + 7 + n <= b.count {
                    let s = String(decoding: b[(i + 7)..<(i + 7 + n)], as: UTF8.self)
                    if !names.contains(s) { names.append(s) }
                }
            }
            i += 1
        }
        return names
    }

    /// The action that created the content, if any ("c2pa.created"), and its digital source type.
    public var created: Action? { actions.first { $0.action == "c2pa.created" } }
}
