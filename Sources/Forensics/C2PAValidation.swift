import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// The validation of one manifest of a C2PA store, in the spirit of c2pa-rs: the claim's COSE signature
/// (swift-crypto), the signer's certificate chain (swift-certificates), the hashed URIs of every assertion the
/// claim lists, and, for the active manifest, the hard binding to the asset's bytes (`c2pa.hash.data`).
///
/// Status codes follow the C2PA specification's names (`claimSignature.validated`, `claimSignature.mismatch`,
/// `signingCredential.untrusted`, `assertion.hashedURI.mismatch`, `assertion.dataHash.mismatch`, `claim.missing`, ...).
public struct C2PAValidation: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable {
        /// Signature, chain, assertions and hard binding check out, and the signer chains to a trust anchor.
        case valid
        /// Everything checks out, but the signer is on no trust list this build knows (`AIDETECT_C2PA_TRUST`).
        case untrustedSigner = "untrusted-signer"
        /// Something failed: the content or the manifest was changed after signing, or the signature is broken.
        case invalid
        /// The signature and assertions check out, but the hard binding is of a kind this build does not check
        /// (box or BMFF hashes), so the manifest is not tied to these bytes.
        case bindingNotChecked = "binding-not-checked"
    }
    /// The manifest's label (`urn:uuid:...`).
    public var manifest: String
    public var active: Bool
    public var verdict: Verdict
    /// Every check's status code, failures first.
    public var codes: [String]
    /// The signing certificate's subject and issuer (as the certificate states them).
    public var signer: String?
    public var issuer: String?
    /// The COSE algorithm ("ES256", "PS256", ...).
    public var algorithm: String?
    /// Labels of the assertions the claim lists whose hashes check out: only these are evidence.
    public var verifiedAssertions: [String] = []
    /// Signature and bindings hold (valid, untrusted signer, binding not checked, or invalid only because the
    /// certificate has expired): what the manifest states may be read as the signer's statement.
    public var isIntact: Bool { verdict != .invalid || failures == ["signingCredential.expired"] }
    /// The time a time-stamp token in the signature states (its authority's signature is not checked).
    public var timeStamp: Date?

    /// The failure codes (those that make the manifest invalid).
    public var failures: [String] { codes.filter { C2PAValidator.failureCodes.contains($0) } }
}

public enum C2PAValidator {
    /// Codes that make a manifest invalid.
    static let failureCodes: Set<String> = [
        "claim.missing", "claim.malformed", "claimSignature.missing", "claimSignature.mismatch", "claimSignature.malformed",
        "signingCredential.invalid", "signingCredential.expired", "algorithm.unsupported",
        "assertion.missing", "assertion.hashedURI.mismatch", "assertion.dataHash.mismatch", "assertion.dataHash.malformed",
        "hardBindings.missing", "ingredient.hashedURI.mismatch",
    ]

    /// Certificates whose chains count as trusted: the PEM file named by `AIDETECT_C2PA_TRUST` (none by default:
    /// there is no offline copy of the C2PA trust list, so signers are reported untrusted unless a user supplies one).
    static let trustAnchors: [SignerCertificate] = {
        guard let path = ProcessInfo.processInfo.environment["AIDETECT_C2PA_TRUST"],
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return anchors(pem: text)
    }()

    /// Certificates from PEM text (unparseable blocks are skipped).
    static func anchors(pem: String) -> [SignerCertificate] {
        ((try? PEMDocument.parseMultiple(pemString: pem)) ?? []).compactMap { try? SignerCertificate(der: Array($0.derBytes)) }
    }

    /// Validates every manifest of the store in `jumbf` (the active one last) against the file's bytes `asset`.
    public static func validate(store jumbf: [UInt8], asset: [UInt8], now: Date = Date()) -> [C2PAValidation] {
        validate(store: jumbf, asset: asset, now: now, anchors: trustAnchors)
    }

    static func validate(store jumbf: [UInt8], asset: [UInt8], now: Date, anchors: [SignerCertificate]) -> [C2PAValidation] {
        guard let store = JUMBFBox.c2paStore(jumbf) else { return [] }
        return validate(store: store, jumbf: jumbf, asset: asset, now: now, anchors: anchors)
    }

    /// The same for a store already parsed from `jumbf` (the bytes its boxes' ranges point into).
    public static func validate(store: JUMBFBox, jumbf: [UInt8], asset: [UInt8], now: Date = Date()) -> [C2PAValidation] {
        validate(store: store, jumbf: jumbf, asset: asset, now: now, anchors: trustAnchors)
    }

    static func validate(store: JUMBFBox, jumbf: [UInt8], asset: [UInt8], now: Date, anchors: [SignerCertificate]) -> [C2PAValidation] {
        let manifests = store.manifests
        return manifests.enumerated().map { k, m in
            validate(manifest: m, store: store, bytes: jumbf, asset: asset, active: k == manifests.count - 1, now: now, anchors: anchors)
        }
    }

    static func validate(manifest m: JUMBFBox, store: JUMBFBox, bytes: [UInt8], asset: [UInt8], active: Bool, now: Date,
                         anchors: [SignerCertificate]) -> C2PAValidation {
        var v = C2PAValidation(manifest: m.label ?? "?", active: active, verdict: .invalid, codes: [])
        func finish() -> C2PAValidation {
            let failed = v.codes.contains { failureCodes.contains($0) }
            if failed { v.verdict = .invalid }
            else if v.codes.contains("hardBindings.unchecked") { v.verdict = .bindingNotChecked }
            else { v.verdict = v.codes.contains("signingCredential.trusted") ? .valid : .untrustedSigner }
            v.codes.sort { (failureCodes.contains($0) ? 0 : 1, $0) < (failureCodes.contains($1) ? 0 : 1, $1) }
            return v
        }
        guard let claimBytes = m.claimBytes else { v.codes.append("claim.missing"); return finish() }
        guard let claim = CBOR.decode(claimBytes) else { v.codes.append("claim.malformed"); return finish() }

        // 1. The claim's signature (COSE_Sign1 over the claim bytes, detached payload).
        guard let sigBytes = m.child(label: "c2pa.signature")?.content("cbor"), !sigBytes.isEmpty else {
            v.codes.append("claimSignature.missing"); return finish()
        }
        guard let cose = COSESign1(sigBytes) else { v.codes.append("claimSignature.malformed"); return finish() }
        v.algorithm = cose.algorithmName
        let chain = cose.certificates.compactMap { try? SignerCertificate(der: $0) }
        guard let leaf = chain.first, chain.count == cose.certificates.count else { v.codes.append("signingCredential.invalid"); return finish() }
        v.signer = leaf.subject
        v.issuer = leaf.issuer
        switch cose.verify(payload: claimBytes, certificate: leaf) {
        case .some(true): v.codes.append("claimSignature.validated")
        case .some(false): v.codes.append("claimSignature.mismatch")
        case .none: v.codes.append("algorithm.unsupported")
        }
        // 2. The chain: each certificate signed by the next, every issuer a CA (basicConstraints), the signer's key
        // allowed to sign (keyUsage digitalSignature, an extended key usage C2PA accepts), all valid now, the last
        // one on the trust list or signed by a certificate on it. A time-stamp is reported but its authority's
        // signature is not checked, so its time does not stand in for "now" (a forged one could revive an expired
        // certificate).
        for (cert, parent) in zip(chain, chain.dropFirst()) {
            switch parent.signed(cert) {
            case .some(true): break
            case .some(false): v.codes.append("signingCredential.invalid")
            case .none: v.codes.append("algorithm.unsupported")
            }
            if !parent.isCA { v.codes.append("signingCredential.invalid") }
        }
        if !leaf.maySignClaims { v.codes.append("signingCredential.invalid") }
        if let stamped = cose.timeStamp.flatMap(timeStampTime) {
            v.codes.append("timeStamp.unverified")
            v.timeStamp = stamped
        }
        if chain.contains(where: { now < $0.notBefore || now > $0.notAfter }) { v.codes.append("signingCredential.expired") }
        let top = chain[chain.count - 1]
        let trusted = anchors.contains { a in
            (a.der == top.der || (a.subjectDER == top.issuerDER && a.isCA && a.signed(top) == true)) && now >= a.notBefore && now <= a.notAfter
        }
        v.codes.append(trusted ? "signingCredential.trusted" : "signingCredential.untrusted")
        // A broken signature vouches for nothing below it: stop before hashing what it does not protect.
        if v.codes.contains("claimSignature.mismatch") { return finish() }

        // 3. Every assertion the claim lists, by its hashed URI (each box hashed once, however often it is listed).
        let defaultAlg = claim["alg"]?.string ?? "sha256"
        var listedBoxes: [JUMBFBox] = []
        let verified = verifiedAssertions(claim: claim, manifest: m, store: store, bytes: bytes, codes: &v.codes, listed: &listedBoxes)
        v.verifiedAssertions = verified.compactMap(\.label)
        let hardBinding = verified.filter { $0.label?.hasPrefix("c2pa.hash.") == true }
        // 4. Ingredients the claim lists that carry their own manifest point at it by a hashed URI (v1
        // `c2pa_manifest`, v3 `activeManifest`): the manifest must be in the store and unchanged (checked for every
        // listed ingredient, as c2pa-rs reports `claim.missing` even for one whose own hash fails; only intact ones
        // can make this an update manifest).
        var parentManifest: JUMBFBox?
        for a in listedBoxes where a.label?.hasPrefix("c2pa.ingredient") == true {
            guard let ing = a.content("cbor").flatMap(CBOR.decode),
                  let link = ing["c2pa_manifest"] ?? ing["activeManifest"], let url = link["url"]?.string,
                  case .bytes(let expected)? = link["hash"] else { continue }
            guard let target = resolve(url, manifest: m, store: store) else { v.codes.append("claim.missing"); continue }
            let alg = link["alg"]?.string ?? defaultAlg
            func digest(_ box: JUMBFBox) -> [UInt8]? { hash(alg, bytes[box.contentRange]) }
            // The ingredient's manifest box (the URI may name it or its claim box).
            let manifestBox = store.children.first { $0.type == "jumb" && $0.range.contains(target.range.lowerBound) } ?? target
            var code: String
            if digest(target) == expected || digest(manifestBox) == expected {
                code = "ingredient.hashedURI.match"
            } else {
                // Early writers hashed the ingredient's claim bytes instead (c2pa-rs accepts these "legacy" hashes).
                code = manifestBox.claimBytes.map { hash(alg, $0) == expected } == true ? "ingredient.hashedURI.legacyMatch" : "ingredient.hashedURI.mismatch"
            }
            v.codes.append(code)
            if code != "ingredient.hashedURI.mismatch", ing["relationship"]?.string == "parentOf", verified.contains(where: { $0.range == a.range }) {
                parentManifest = manifestBox
            }
        }
        // 5. The hard binding of the active manifest to these bytes. An update manifest (no hard binding, a parentOf
        // ingredient whose manifest link checks out: metadata added to signed content) is bound through that parent's
        // hard binding, itself checked against the parent's claim.
        if active {
            var binding = hardBinding
            var update = false
            if binding.isEmpty, let parent = parentManifest, let parentClaim = parent.claimBytes.flatMap(CBOR.decode) {
                update = true
                v.codes.append("claim.updateManifest")
                var ignored: [String] = [], parentListed: [JUMBFBox] = []
                binding = verifiedAssertions(claim: parentClaim, manifest: parent, store: store, bytes: bytes, codes: &ignored, listed: &parentListed)
                    .filter { $0.label?.hasPrefix("c2pa.hash.") == true }
            }
            if let data = binding.first(where: { $0.label?.hasPrefix("c2pa.hash.data") == true }) {
                v.codes.append(checkDataHash(data, asset: asset, defaultAlg: defaultAlg, storeMayHaveGrown: update))
            } else if !binding.isEmpty {
                v.codes.append("hardBindings.unchecked")
            } else {
                v.codes.append("hardBindings.missing")
            }
        }
        return finish()
    }

    /// The assertion boxes a claim lists whose hashed URIs check out (each distinct box hashed once; at most
    /// `maxReferences` references read), with a status code per reference appended to `codes`; `listed` gets every
    /// box the claim lists that exists, intact or not.
    static let maxReferences = 10_000
    static func verifiedAssertions(claim: CBOR, manifest m: JUMBFBox, store: JUMBFBox, bytes: [UInt8], codes: inout [String],
                                   listed boxes: inout [JUMBFBox]) -> [JUMBFBox] {
        let defaultAlg = claim["alg"]?.string ?? "sha256"
        var listed: [CBOR] = claim["assertions"]?.array ?? []
        listed += claim["created_assertions"]?.array ?? []
        listed += claim["gathered_assertions"]?.array ?? []
        if listed.count > maxReferences {
            codes.append("claim.malformed")
            listed = Array(listed.prefix(maxReferences))
        }
        var digests: [String: [UInt8]] = [:]
        var out: [JUMBFBox] = []
        for ref in listed {
            guard let url = ref["url"]?.string, case .bytes(let expected)? = ref["hash"] else { codes.append("assertion.missing"); continue }
            guard let box = resolve(url, manifest: m, store: store) else { codes.append("assertion.missing"); continue }
            if !boxes.contains(where: { $0.range == box.range }) { boxes.append(box) }
            let alg = ref["alg"]?.string ?? defaultAlg
            let key = "\(box.range.lowerBound)-\(box.range.upperBound)-\(alg)"
            guard let digest = digests[key] ?? hash(alg, bytes[box.contentRange]) else {
                codes.append("algorithm.unsupported"); continue
            }
            digests[key] = digest
            if digest == expected {
                codes.append("assertion.hashedURI.match")
                if !out.contains(where: { $0.range == box.range }) { out.append(box) }
            } else {
                codes.append("assertion.hashedURI.mismatch")
            }
        }
        return out
    }

    /// The genTime of an RFC 3161 time-stamp token (ContentInfo > SignedData > encapContentInfo > TSTInfo).
    static func timeStampTime(_ token: [UInt8]) -> Date? {
        func kids(_ n: ASN1Node) -> [ASN1Node] { (try? asn1Children(n)) ?? [] }
        guard let root = try? DER.parse(token), let explicit = kids(root).dropFirst().first, let signedData = kids(explicit).first else { return nil }
        let sd = kids(signedData)
        guard sd.count >= 3, let wrapped = kids(sd[2]).dropFirst().first, let octets = kids(wrapped).first,
              case .primitive(let tst) = octets.content, let info = try? DER.parse(Array(tst)) else { return nil }
        guard let t = kids(info).first(where: { $0.identifier == .generalizedTime }) else { return nil }
        return try? asn1Date(t)
    }

    /// A `self#jumbf=` URI: absolute (`/c2pa/<manifest>/c2pa.assertions/<label>`) or relative to the manifest.
    static func resolve(_ url: String, manifest: JUMBFBox, store: JUMBFBox) -> JUMBFBox? {
        guard let r = url.range(of: "#jumbf=") else { return nil }
        var path = String(url[r.upperBound...])
        var node = manifest
        if path.hasPrefix("/") {
            path.removeFirst()
            var parts = path.split(separator: "/").map(String.init)
            guard parts.first == "c2pa" else { return nil }
            parts.removeFirst()
            node = store
            for p in parts { guard let c = node.child(label: p) else { return nil }; node = c }
            return node
        }
        for p in path.split(separator: "/") { guard let c = node.child(label: String(p)) else { return nil }; node = c }
        return node
    }

    static func hash(_ alg: String, _ data: ArraySlice<UInt8>) -> [UInt8]? { hash(alg, parts: [data]) }
    static func hash(_ alg: String, _ data: [UInt8]) -> [UInt8]? { hash(alg, parts: [data[...]]) }

    /// The digest of the parts one after the other, fed to the hash in place (no copy of the bytes); nil for an
    /// algorithm C2PA does not name.
    static func hash(_ alg: String, parts: [ArraySlice<UInt8>]) -> [UInt8]? {
        func run<H: HashFunction>(_ h: inout H) -> [UInt8] {
            for p in parts { p.withUnsafeBytes { h.update(bufferPointer: $0) } }
            return Array(h.finalize())
        }
        switch alg.lowercased() {
        case "sha256": var h = SHA256(); return run(&h)
        case "sha384": var h = SHA384(); return run(&h)
        case "sha512": var h = SHA512(); return run(&h)
        default: return nil
        }
    }

    /// `c2pa.hash.data`: the asset's bytes outside the exclusions (the manifest's own segments) hash to the value.
    /// `storeMayHaveGrown`: the binding is a parent's, checked for an update manifest. Adding the update manifest
    /// grew the manifest store, so an exclusion that starts where the store's JPEG APP11 segments start is taken to
    /// cover all of them, as it covered the whole store when the parent was signed.
    static func checkDataHash(_ box: JUMBFBox, asset: [UInt8], defaultAlg: String, storeMayHaveGrown: Bool = false) -> String {
        guard let cbor = box.content("cbor").flatMap(CBOR.decode), case .bytes(let expected)? = cbor["hash"] else {
            return "assertion.dataHash.malformed"
        }
        var ranges: [Range<Int>] = []
        for e in cbor["exclusions"]?.array ?? [] {
            guard case .unsigned(let s)? = e["start"], case .unsigned(let n)? = e["length"], s <= UInt64(asset.count),
                  n <= UInt64(asset.count) - s else { return "assertion.dataHash.mismatch" }
            var r = Int(s)..<Int(s + n)
            if storeMayHaveGrown {
                // Consecutive APP11 segments (FF EB, big-endian length) from the exclusion's start.
                var end = r.lowerBound
                while end + 4 <= asset.count, asset[end] == 0xFF, asset[end + 1] == 0xEB {
                    end += 2 + (Int(asset[end + 2]) << 8 | Int(asset[end + 3]))
                }
                if end > r.upperBound && end <= asset.count { r = r.lowerBound..<end }
            }
            ranges.append(r)
        }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var kept: [ArraySlice<UInt8>] = []
        var at = 0
        for r in ranges {
            if r.lowerBound > at { kept.append(asset[at..<r.lowerBound]) }
            at = max(at, r.upperBound)
        }
        if at < asset.count { kept.append(asset[at...]) }
        guard let digest = hash(cbor["alg"]?.string ?? defaultAlg, parts: kept) else { return "algorithm.unsupported" }
        return digest == expected ? "assertion.dataHash.match" : "assertion.dataHash.mismatch"
    }
}

/// A COSE_Sign1 structure (RFC 9052) as C2PA uses it: detached payload, algorithm in the protected header, the
/// certificate chain (x5chain, label 33) in either header.
struct COSESign1 {
    let protectedBytes: [UInt8]
    let algorithm: Int64?
    let certificates: [[UInt8]]
    let signature: [UInt8]
    /// The first RFC 3161 time-stamp token of the unprotected header (`sigTst` / `sigTst2`), if any.
    let timeStamp: [UInt8]?

    init?(_ bytes: [UInt8]) {
        guard case .array(let parts)? = CBOR.decode(bytes)?.untagged, parts.count == 4,
              case .bytes(let protected) = parts[0], case .bytes(let sig) = parts[3] else { return nil }
        protectedBytes = protected
        signature = sig
        let header = protected.isEmpty ? CBOR.map([]) : CBOR.decode(protected)
        func value(_ m: CBOR?, _ label: Int64) -> CBOR? {
            guard case .map(let pairs)? = m else { return nil }
            return pairs.first { k, _ in
                switch k {
                case .unsigned(let u): return label >= 0 && u == UInt64(label)
                case .negative(let n): return n == label
                default: return false
                }
            }?.1
        }
        switch value(header, 1) {
        case .negative(let n)?: algorithm = n
        case .unsigned(let u)?: algorithm = Int64(exactly: u)
        default: algorithm = nil
        }
        // x5chain: one certificate as a byte string, or an array of them; in the protected header, else the unprotected
        // one (older signers also used the text key "x5chain").
        let chain = value(header, 33) ?? value(parts[1], 33) ?? parts[1]["x5chain"]
        switch chain {
        case .bytes(let c)?: certificates = [c]
        case .array(let a)?: certificates = a.compactMap { if case .bytes(let c) = $0 { return c }; return nil }
        default: certificates = []
        }
        let tst = parts[1]["sigTst2"] ?? parts[1]["sigTst"]
        if case .bytes(let token)? = tst?["tstTokens"]?.array?.first?["val"] { timeStamp = token } else { timeStamp = nil }
    }

    var algorithmName: String {
        switch algorithm {
        case -7: return "ES256"
        case -35: return "ES384"
        case -36: return "ES512"
        case -37: return "PS256"
        case -38: return "PS384"
        case -39: return "PS512"
        case -8: return "EdDSA"
        default: return algorithm.map { "COSE algorithm \($0)" } ?? "none"
        }
    }

    /// The bytes signed: Sig_structure = ["Signature1", protected, external_aad = h'', payload].
    func toBeSigned(payload: [UInt8]) -> [UInt8] {
        func head(_ major: UInt8, _ n: Int) -> [UInt8] {
            let m = major << 5
            switch n {
            case 0..<24: return [m | UInt8(n)]
            case 24..<256: return [m | 24, UInt8(n)]
            case 256..<65536: return [m | 25, UInt8(n >> 8), UInt8(n & 0xFF)]
            default: return [m | 26, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            }
        }
        let context = Array("Signature1".utf8)
        return head(4, 4) + head(3, context.count) + context + head(2, protectedBytes.count) + protectedBytes + head(2, 0)
            + head(2, payload.count) + payload
    }

    /// true / false for a supported algorithm, nil otherwise.
    func verify(payload: [UInt8], certificate: SignerCertificate) -> Bool? {
        let data = toBeSigned(payload: payload)
        switch algorithm {
        case -7: return certificate.verify(signature, over: data, scheme: "ecdsa-raw", hash: "sha256")
        case -35: return certificate.verify(signature, over: data, scheme: "ecdsa-raw", hash: "sha384")
        case -36: return certificate.verify(signature, over: data, scheme: "ecdsa-raw", hash: "sha512")
        case -37: return certificate.verify(signature, over: data, scheme: "pss", hash: "sha256")
        case -38: return certificate.verify(signature, over: data, scheme: "pss", hash: "sha384")
        case -39: return certificate.verify(signature, over: data, scheme: "pss", hash: "sha512")
        case -8: return certificate.verify(signature, over: data, scheme: "eddsa", hash: "")
        default: return nil
        }
    }
}

/// The parts of an X.509 certificate that C2PA validation needs, read with swift-asn1.
///
/// swift-certificates parses and verifies ECDSA, RSA PKCS#1 and Ed25519 certificates but has no RSA-PSS (neither
/// keys nor signatures), which the C2PA test certificates and many C2PA signers use (PS256). So the certificate's
/// fields are read with swift-asn1 (the DER library under swift-certificates), names are printed by
/// swift-certificates' `DistinguishedName`, and every signature is checked by swift-crypto (RSA-PSS from its extras).
struct SignerCertificate: Sendable, Equatable {
    let der: [UInt8]
    let tbs: [UInt8]
    let signatureAlgorithm: [UInt]
    /// For RSA-PSS signatures: the hash named in the parameters (SHA-1 when absent, RFC 4055).
    let signatureHash: String
    let signature: [UInt8]
    let subjectDER: [UInt8], issuerDER: [UInt8]
    let subject: String, issuer: String
    let notBefore: Date, notAfter: Date
    let keyAlgorithm: [UInt]
    let keyCurve: [UInt]?
    let spki: [UInt8]
    let keyBits: [UInt8]

    static let rsaEncryption: [UInt] = [1, 2, 840, 113549, 1, 1, 1], rsaPSS: [UInt] = [1, 2, 840, 113549, 1, 1, 10]
    static let ecPublicKey: [UInt] = [1, 2, 840, 10045, 2, 1], ed25519: [UInt] = [1, 3, 101, 112]

    /// basicConstraints cA (a certificate that may sign certificates).
    let isCA: Bool
    /// keyUsage (when present) allows digitalSignature, and the extended key usages (when present) include one C2PA
    /// accepts for claim signing: emailProtection, documentSigning, or C2PA's own claim-signing purpose.
    let maySignClaims: Bool

    init(der: [UInt8]) throws {
        func bad(_ why: String) -> ASN1Error { ASN1Error.invalidASN1Object(reason: why) }
        let kids = asn1Children, time = asn1Date
        func at(_ a: [ASN1Node], _ i: Int) throws -> ASN1Node {
            guard i >= 0, i < a.count else { throw bad("missing field \(i)") }
            return a[i]
        }
        func oid(_ n: ASN1Node) throws -> [UInt] { try ASN1ObjectIdentifier(derEncoded: n).oidComponents }
        self.der = der
        let top = try kids(try DER.parse(der))
        guard top.count == 3 else { throw bad("a certificate has three parts") }
        tbs = Array(top[0].encodedBytes)
        let alg = try kids(top[1])
        signatureAlgorithm = try oid(try at(alg, 0))
        var hash = "sha1"
        if signatureAlgorithm == Self.rsaPSS, alg.count > 1 {
            // RSASSA-PSS-params: [0] hashAlgorithm (an AlgorithmIdentifier) ...
            for p in try kids(alg[1]) where p.identifier.tagNumber == 0 && p.identifier.tagClass == .contextSpecific {
                if let h = try kids(p).first, let o = try? oid(try at(try kids(h), 0)) {
                    hash = [[2, 16, 840, 1, 101, 3, 4, 2, 1]: "sha256", [2, 16, 840, 1, 101, 3, 4, 2, 2]: "sha384",
                            [2, 16, 840, 1, 101, 3, 4, 2, 3]: "sha512"][o] ?? "unknown"
                }
            }
        }
        signatureHash = hash
        signature = Array(try ASN1BitString(derEncoded: top[2]).bytes)
        var t = try kids(top[0])
        if t.first?.identifier.tagClass == .contextSpecific { t.removeFirst() }   // [0] version
        guard t.count >= 6 else { throw bad("short TBSCertificate") }
        issuerDER = Array(t[2].encodedBytes)
        subjectDER = Array(t[4].encodedBytes)
        issuer = (try? DistinguishedName(derEncoded: t[2]).description) ?? "?"
        subject = (try? DistinguishedName(derEncoded: t[4]).description) ?? "?"
        let validity = try kids(t[3])
        guard validity.count == 2 else { throw bad("bad validity") }
        notBefore = try time(validity[0])
        notAfter = try time(validity[1])
        spki = Array(t[5].encodedBytes)
        let key = try kids(t[5])
        let keyAlg = try kids(try at(key, 0))
        keyAlgorithm = try oid(try at(keyAlg, 0))
        keyCurve = keyAlg.count > 1 ? try? oid(keyAlg[1]) : nil
        keyBits = Array(try ASN1BitString(derEncoded: try at(key, 1)).bytes)
        // Extensions: [3] EXPLICIT SEQUENCE OF Extension { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
        var ca = false, keyUsageOK = true, ekuOK = true
        for ext in t.dropFirst(6) where ext.identifier.tagClass == .contextSpecific && ext.identifier.tagNumber == 3 {
            for e in try kids(try at(try kids(ext), 0)) {
                let parts = try kids(e)
                guard let id = try? oid(try at(parts, 0)), case .primitive(let value)? = parts.last?.content,
                      let inner = try? DER.parse(Array(value)) else { continue }
                switch id {
                case [2, 5, 29, 19]:   // basicConstraints { cA BOOLEAN DEFAULT FALSE, pathLen }
                    if let first = try? kids(inner).first, first.identifier == .boolean { ca = (try? Bool(derEncoded: first)) ?? false }
                case [2, 5, 29, 15]:   // keyUsage BIT STRING; digitalSignature is bit 0 (the first octet's top bit)
                    if let bits = try? ASN1BitString(derEncoded: inner) { keyUsageOK = (bits.bytes.first ?? 0) & 0x80 != 0 }
                case [2, 5, 29, 37]:   // extKeyUsage SEQUENCE OF OID
                    let usages = Set(((try? kids(inner)) ?? []).compactMap { try? oid($0) })
                    let accepted: Set<[UInt]> = [[1, 3, 6, 1, 5, 5, 7, 3, 4], [1, 3, 6, 1, 5, 5, 7, 3, 36], [1, 3, 6, 1, 4, 1, 62558, 2, 1],
                                                 [2, 5, 29, 37, 0]]
                    ekuOK = !usages.isDisjoint(with: accepted)
                default: break
                }
            }
        }
        isCA = ca
        maySignClaims = keyUsageOK && ekuOK
    }

    /// Checks `signature` over `data` with this certificate's key: `scheme` "ecdsa-raw" (COSE), "ecdsa-der"
    /// (X.509), "pss", "pkcs1" or "eddsa"; nil when the key or scheme is not supported.
    func verify(_ signature: [UInt8], over data: [UInt8], scheme: String, hash: String) -> Bool? {
        func digest<H: HashFunction>(_: H.Type) -> H.Digest { H.hash(data: data) }
        if keyAlgorithm == Self.rsaEncryption || keyAlgorithm == Self.rsaPSS {
            guard scheme == "pss" || scheme == "pkcs1", let k = try? _RSA.Signing.PublicKey(unsafeDERRepresentation: spki) else { return nil }
            let s = _RSA.Signing.RSASignature(rawRepresentation: signature)
            let padding: _RSA.Signing.Padding = scheme == "pss" ? .PSS : .insecurePKCS1v1_5
            switch hash {
            case "sha256": return k.isValidSignature(s, for: digest(SHA256.self), padding: padding)
            case "sha384": return k.isValidSignature(s, for: digest(SHA384.self), padding: padding)
            case "sha512": return k.isValidSignature(s, for: digest(SHA512.self), padding: padding)
            default: return nil
            }
        }
        if keyAlgorithm == Self.ed25519 {
            guard scheme == "eddsa", let k = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBits) else { return nil }
            return k.isValidSignature(signature, for: data)
        }
        guard keyAlgorithm == Self.ecPublicKey, scheme == "ecdsa-raw" || scheme == "ecdsa-der" else { return nil }
        let raw = scheme == "ecdsa-raw"
        switch keyCurve ?? [] {
        case [1, 2, 840, 10045, 3, 1, 7]:
            guard let k = try? P256.Signing.PublicKey(x963Representation: keyBits),
                  let s = raw ? try? P256.Signing.ECDSASignature(rawRepresentation: signature) : try? P256.Signing.ECDSASignature(derRepresentation: signature)
            else { return false }
            switch hash {
            case "sha256": return k.isValidSignature(s, for: digest(SHA256.self))
            case "sha384": return k.isValidSignature(s, for: digest(SHA384.self))
            default: return k.isValidSignature(s, for: digest(SHA512.self))
            }
        case [1, 3, 132, 0, 34]:
            guard let k = try? P384.Signing.PublicKey(x963Representation: keyBits),
                  let s = raw ? try? P384.Signing.ECDSASignature(rawRepresentation: signature) : try? P384.Signing.ECDSASignature(derRepresentation: signature)
            else { return false }
            switch hash {
            case "sha256": return k.isValidSignature(s, for: digest(SHA256.self))
            case "sha384": return k.isValidSignature(s, for: digest(SHA384.self))
            default: return k.isValidSignature(s, for: digest(SHA512.self))
            }
        case [1, 3, 132, 0, 35]:
            guard let k = try? P521.Signing.PublicKey(x963Representation: keyBits),
                  let s = raw ? try? P521.Signing.ECDSASignature(rawRepresentation: signature) : try? P521.Signing.ECDSASignature(derRepresentation: signature)
            else { return false }
            switch hash {
            case "sha256": return k.isValidSignature(s, for: digest(SHA256.self))
            case "sha384": return k.isValidSignature(s, for: digest(SHA384.self))
            default: return k.isValidSignature(s, for: digest(SHA512.self))
            }
        default:
            return nil
        }
    }

    /// Whether `child` carries a valid signature by this certificate's key (nil: algorithm not supported).
    func signed(_ child: SignerCertificate) -> Bool? {
        let a = child.signatureAlgorithm
        let table: [[UInt]: (String, String)] = [
            [1, 2, 840, 10045, 4, 3, 2]: ("ecdsa-der", "sha256"), [1, 2, 840, 10045, 4, 3, 3]: ("ecdsa-der", "sha384"),
            [1, 2, 840, 10045, 4, 3, 4]: ("ecdsa-der", "sha512"), [1, 2, 840, 113549, 1, 1, 11]: ("pkcs1", "sha256"),
            [1, 2, 840, 113549, 1, 1, 12]: ("pkcs1", "sha384"), [1, 2, 840, 113549, 1, 1, 13]: ("pkcs1", "sha512"),
            Self.ed25519: ("eddsa", ""),
        ]
        if a == Self.rsaPSS { return verify(child.signature, over: child.tbs, scheme: "pss", hash: child.signatureHash) }
        guard let (scheme, hash) = table[a] else { return nil }
        return verify(child.signature, over: child.tbs, scheme: scheme, hash: hash)
    }
}

/// The children of a constructed DER node.
func asn1Children(_ n: ASN1Node) throws -> [ASN1Node] {
    guard case .constructed(let c) = n.content else { throw ASN1Error.invalidASN1Object(reason: "expected a constructed node") }
    return Array(c)
}

/// A DER UTCTime or GeneralizedTime as a date (UTC).
func asn1Date(_ n: ASN1Node) throws -> Date {
    var c = DateComponents()
    c.timeZone = TimeZone(identifier: "UTC")
    if n.identifier == .utcTime {
        let t = try UTCTime(derEncoded: n)
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
    } else {
        let t = try GeneralizedTime(derEncoded: n)
        (c.year, c.month, c.day, c.hour, c.minute, c.second) = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
    }
    guard let d = Calendar(identifier: .gregorian).date(from: c) else { throw ASN1Error.invalidASN1Object(reason: "bad time") }
    return d
}
