import Foundation

/// The checked-in OpenAPI document (Resources/openapi.json), served at /openapi.json.
public enum OpenAPI {
    public static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "{}" }
        return text
    }()
}
