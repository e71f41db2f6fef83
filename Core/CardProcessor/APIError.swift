import Foundation
import HTTPTypes
import Hummingbird

/// An error the card processor's API answers with: an HTTP status and the JSON body
/// `{"error": {"type": …, "message": …}}` (``APIErrorBody``).
///
/// One struct with static factories rather than an enum, so a type can be added without
/// breaking callers.
public struct APIError: Error, Sendable, Hashable, HTTPResponseError, CustomStringConvertible {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// Machine-readable: `invalid_request`, `amount_exceeds_capture` …
    public var type: String
    /// For people; never holds a secret.
    public var message: String
    /// Seconds for the `Retry-After` header of a 503 or 429, when the processor asks for a pause.
    public var retryAfterSeconds: Int?

    /// An error answer.
    public init(_ status: HTTPResponse.Status, type: String, message: String) {
        self.status = status
        self.type = type
        self.message = message
    }

    /// 400 `invalid_request`: a field is missing, of the wrong type or out of range.
    static func invalidRequest(_ message: String) -> APIError {
        APIError(.badRequest, type: "invalid_request", message: message)
    }

    /// 400 `invalid_json`: the body is not JSON.
    static func invalidJSON(_ message: String) -> APIError {
        APIError(.badRequest, type: "invalid_json", message: message)
    }

    /// 404 `resource_missing`.
    static func missing(_ message: String) -> APIError {
        APIError(.notFound, type: "resource_missing", message: message)
    }

    /// 503 `processor_unavailable`: try again later (same idempotency key), after
    /// `retryAfterSeconds` if given (`Retry-After`).
    static func unavailable(_ message: String, retryAfterSeconds: Int? = nil) -> APIError {
        var error = APIError(.serviceUnavailable, type: "processor_unavailable", message: message)
        error.retryAfterSeconds = retryAfterSeconds
        return error
    }

    /// `text` must be 1 … 255 characters without control characters (PostgreSQL's text cannot
    /// hold a NUL, and no identifier of ours needs the others).
    static func checkText(_ text: String, field: String) throws(APIError) {
        guard !text.isEmpty, text.unicodeScalars.count <= 255 else {
            throw .invalidRequest("\(field) must be 1 to 255 characters")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidRequest("\(field) must not contain control characters")
        }
    }

    /// Headers of the answer beyond the body's: `Retry-After` when set.
    public var headers: HTTPFields {
        guard let retryAfterSeconds else { return [:] }
        return [.retryAfter: "\(retryAfterSeconds)"]
    }

    /// The JSON answer.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        APIError.json(APIErrorBody(type: type, message: message), status: status, headers: headers)
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// A JSON response of `value` (sorted keys, so equal values give equal bytes).
    static func json(_ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        let data =
            (try? encoder.encode(value)) ?? Data(#"{"error":{"type":"internal_error","message":"encoding"}}"#.utf8)
        return json(data: data, status: status, headers: headers)
    }

    /// A JSON response of encoded bytes.
    static func json(data: Data, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The API's JSON encoder: sorted keys, no escaped slashes.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
