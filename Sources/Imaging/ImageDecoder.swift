import CImageCodecs
import Foundation

/// Hard limits checked before a full decode.
public struct ImageLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxPixels: Int
    public init(maxBytes: Int = 50_000_000, maxPixels: Int = 100_000_000) {
        self.maxBytes = maxBytes
        self.maxPixels = maxPixels
    }
    public static let `default` = ImageLimits()
}

/// A decoded image with what was learnt about the file on the way.
public struct DecodedImage: Sendable {
    public enum ColorProfile: Sendable, Equatable {
        case none
        /// An embedded ICC profile was applied to convert the pixels to sRGB.
        case convertedToSRGB(bytes: Int)
        /// An embedded profile could not be applied (pixels taken as sRGB).
        case ignored(reason: String)
    }
    public let image: Image
    public let format: ImageFormat
    public let byteCount: Int
    /// Frames or pages in the file (the first is decoded).
    public let frames: Int
    public let bitDepth: Int
    /// The file had transparency; it was composited onto white.
    public let hadAlpha: Bool
    public let colorProfile: ColorProfile
    /// EXIF orientation found in the file (1 = upright), and whether it was applied.
    public let orientation: Int
    public let orientationApplied: Bool
    /// The stored pixel size before orientation.
    public let storedWidth: Int, storedHeight: Int
}

/// Decodes real-world image files with the system codecs, checking sizes before decoding.
public struct ImageDecoder: Sendable {
    public var limits: ImageLimits
    /// Rotate/flip by the EXIF orientation tag as viewers do.
    public var applyOrientation: Bool
    /// Convert pixels with an embedded ICC profile to sRGB.
    public var convertColorProfile: Bool

    public init(limits: ImageLimits = .default, applyOrientation: Bool = true, convertColorProfile: Bool = true) {
        self.limits = limits
        self.applyOrientation = applyOrientation
        self.convertColorProfile = convertColorProfile
    }

    /// Reads and decodes a file. The byte limit is checked from the file size before reading.
    public func decode(path: String) throws -> DecodedImage {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ImageError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw ImageError.unreadable(file: path, reason: "it is a directory") }
        if st.st_size == 0 { throw ImageError.empty(file: path) }
        if Int(st.st_size) > limits.maxBytes { throw ImageError.fileTooLarge(file: path, bytes: Int(st.st_size), limit: limits.maxBytes) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError.unreadable(file: path, reason: "permission denied or read error")
        }
        return try decode(data: [UInt8](data), name: path)
    }

    /// Decodes bytes; `name` is used in error messages.
    public func decode(data: [UInt8], name: String = "<memory>") throws -> DecodedImage {
        if data.isEmpty { throw ImageError.empty(file: name) }
        if data.count > limits.maxBytes { throw ImageError.fileTooLarge(file: name, bytes: data.count, limit: limits.maxBytes) }
        let format: ImageFormat
        switch ImageFormat.detect(data) {
        case .supported(let f): format = f
        case .unsupported(let what): throw ImageError.unsupportedFormat(file: name, detected: what)
        }
        var raw = cimg_image()
        var err = [CChar](repeating: 0, count: 512)
        let rc = data.withUnsafeBufferPointer { buf in
            cimg_decode(format.code, buf.baseAddress, buf.count, Int64(limits.maxPixels), &raw, &err, err.count)
        }
        defer { cimg_free(&raw) }
        let message = cText(err)
        switch Int(rc) {
        case Int(CIMG_OK): break
        case Int(CIMG_TOO_LARGE):
            throw ImageError.dimensionsTooLarge(file: name, width: Int(raw.width), height: Int(raw.height), limit: limits.maxPixels)
        case Int(CIMG_TRUNCATED):
            throw ImageError.truncated(file: name, format: format)
        case Int(CIMG_UNSUPPORTED):
            throw ImageError.unsupportedFormat(file: name, detected: "\(format.name) with a feature the decoder lacks (\(message))")
        case Int(CIMG_NOMEM):
            throw ImageError.corrupt(file: name, format: format, reason: "not enough memory to decode (\(message))")
        default:
            if Structure.looksTruncated(format, data) { throw ImageError.truncated(file: name, format: format) }
            throw ImageError.corrupt(file: name, format: format, reason: message.isEmpty ? "undecodable" : message)
        }
        let w = Int(raw.width), h = Int(raw.height)
        guard w > 0, h > 0, let px = raw.pixels else {
            throw ImageError.corrupt(file: name, format: format, reason: "decoder returned no pixels")
        }
        var profile = DecodedImage.ColorProfile.none
        if let icc = raw.icc, raw.icc_len > 0 {
            if convertColorProfile && !Structure.isSRGBProfile(UnsafeBufferPointer(start: icc, count: raw.icc_len)) {
                var perr = [CChar](repeating: 0, count: 256)
                let prc = cimg_icc_to_srgb(px, raw.width, raw.height, icc, raw.icc_len, &perr, perr.count)
                profile = prc == CIMG_OK ? .convertedToSRGB(bytes: raw.icc_len) : .ignored(reason: cText(perr))
            }
        }
        // RGBA -> RGB, compositing transparency onto white.
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        var sawAlpha = false
        for i in 0..<(w * h) {
            let a = Int(px[i * 4 + 3])
            if a == 255 {
                rgb[i * 3] = px[i * 4]; rgb[i * 3 + 1] = px[i * 4 + 1]; rgb[i * 3 + 2] = px[i * 4 + 2]
            } else {
                sawAlpha = true
                for c in 0..<3 { rgb[i * 3 + c] = UInt8((Int(px[i * 4 + c]) * a + 255 * (255 - a) + 127) / 255) }
            }
        }
        var image = Image(width: w, height: h, pixels: rgb)
        var orientation = 1
        var applied = false
        if format == .tiff || raw.oriented != 0 {
            applied = true   // libtiff and libheif apply the file's orientation themselves
        } else if let o = Structure.exifOrientation(format, data), (1...8).contains(o) {
            orientation = o
            if applyOrientation && o != 1 {
                image = image.oriented(o)
                applied = true
            }
        }
        return DecodedImage(image: image, format: format, byteCount: data.count, frames: max(Int(raw.frames), 1),
                            bitDepth: Int(raw.bit_depth), hadAlpha: sawAlpha,
                            colorProfile: profile, orientation: orientation, orientationApplied: applied,
                            storedWidth: w, storedHeight: h)
    }
}

/// Library versions of the codecs (for --version and bug reports).
public var codecVersions: String { String(cString: cimg_versions()) }
