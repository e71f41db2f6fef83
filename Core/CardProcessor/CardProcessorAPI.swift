import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The card processor's API handlers (docs/payment-gateway.md): charges, refunds, lookups, and
/// the idempotency rules shared by the two `POST`s.
///
/// Idempotency, as Stripe documents it: `Idempotency-Key` is required on every `POST`; the
/// first request with a key that the processor answered (a charge captured or declined, a
/// refund made or refused) stores that answer, and a later request with the same key and the
/// same parameters gets it again with `Idempotent-Replayed: true`, whatever happened in
/// between (a restart included); other parameters with a used key get 409
/// `idempotency_key_reused`. Requests refused before any work (validation, 503) store nothing,
/// so they can be sent again. Two requests with one key at the same time do not both capture: the
/// second's record loses to the first's, and it gets the first's answer replayed.
///
/// A charge is visible while it is being worked on: from the moment it is accepted until it is
/// answered, a lookup of its key answers 409 `idempotency_key_in_use` rather than 404, for at
/// most the charge's lease (``chargeLease(_:)``). A caller that asks "was this order captured?"
/// while another caller's charge is still inside the processor (that caller may have died; the
/// charge goes on) must not be told "no".
struct CardProcessorAPI: Sendable {
    let store: CardProcessorStore
    let logger: Logger
    /// The largest request body accepted, in bytes.
    let maximumBodyBytes: Int

    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    // MARK: Charges

    /// `POST /v1/charges`.
    func createCharge(_ request: Request, context: some RequestContext) async throws -> Response {
        let key = try Self.idempotencyKey(request)
        let parameters = try await decode(ChargeParameters.self, from: request, context: context).validated()
        let fingerprint = try Self.fingerprint("charges", parameters)
        if let replay = try await replay(key: key, fingerprint: fingerprint) { return replay }

        let token = TestToken(parameters.paymentToken)
        try await store.beginCharge(key: key, lease: Self.chargeLease(token))
        do {
            let response = try await charge(parameters, token: token, key: key, fingerprint: fingerprint)
            try? await store.endCharge(key: key)
            return response
        } catch {
            try? await store.endCharge(key: key)
            throw error
        }
    }

    /// How long a charge may be worked on before a lookup stops waiting for it: the test token's
    /// own delay and 30 s (far above a charge's database work; it only matters when the processor
    /// died mid-charge, whose charge then never ends).
    static func chargeLease(_ token: TestToken) -> Duration {
        if case .slow(let milliseconds) = token { return .milliseconds(milliseconds) + .seconds(30) }
        return .seconds(30)
    }

    /// The work of `POST /v1/charges` once the key is known to be new.
    private func charge(_ parameters: ChargeParameters, token: TestToken, key: String, fingerprint: String)
        async throws -> Response
    {
        switch token {
        case .transient(let failures):
            let attempt = try await store.countAttempt(key: key)
            if attempt <= failures {
                throw APIError.unavailable(
                    "test token: attempt \(attempt) of \(failures) failing attempts for this key")
            }
        case .slow(let milliseconds):
            try await Task.sleep(for: .milliseconds(milliseconds))
        case .approve, .decline:
            break
        }

        var charge = Charge(
            id: Self.newID("ch"), status: .captured, amount: parameters.amount, currency: parameters.currency,
            orderReference: parameters.orderReference, created: Int(Date().timeIntervalSince1970))
        if case .decline(let code, let message) = token {
            charge.status = .declined
            charge.declineCode = code
            charge.declineMessage = message
        }
        let answer = CardProcessorStore.StoredAnswer(statusCode: 201, body: try Self.encode(charge))
        let recorded = try await store.recordCharge(
            charge, paymentToken: parameters.paymentToken, key: key, fingerprint: fingerprint, answer: answer)
        guard recorded else {
            // Another request took the key meanwhile (it committed before our insert finished).
            return try await replay(key: key, fingerprint: fingerprint)
                ?? APIError.json(
                    APIErrorBody(type: "idempotency_key_in_use", message: "the key is being used by another request"),
                    status: .conflict)
        }
        logger.info(
            "charge",
            metadata: [
                "charge": "\(charge.id)", "status": "\(charge.status.rawValue)",
                "order_reference": "\(charge.orderReference)",
                "idempotency_key": "\(key)",
            ])
        return APIError.json(data: Data(answer.body.utf8), status: .created)
    }

    /// `GET /v1/charges/{id}`.
    func charge(_ request: Request, context: some RequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let charge = try await store.charge(id: id) else { throw APIError.missing("no charge '\(id)'") }
        return APIError.json(charge, status: .ok)
    }

    /// `GET /v1/charges?idempotency_key=K`: the charge created under that key.
    func chargeByKey(_ request: Request, context: some RequestContext) async throws -> Response {
        guard let key = request.uri.queryParameters["idempotency_key"].map(String.init), !key.isEmpty else {
            throw APIError.invalidRequest("idempotency_key must be 1 to 255 characters")
        }
        guard let charge = try await store.charge(idempotencyKey: key) else {
            if try await store.chargeInFlight(key: key) {
                throw APIError(
                    .conflict, type: "idempotency_key_in_use",
                    message: "the charge under idempotency key '\(key)' is being processed; ask again shortly")
            }
            throw APIError.missing("no charge under idempotency key '\(key)'")
        }
        return APIError.json(charge, status: .ok)
    }

    // MARK: Refunds

    /// `POST /v1/refunds`: never more than is captured and not yet refunded (402
    /// `amount_exceeds_capture`, also for a declined charge); an unknown charge is 404. Both
    /// refusals are answers and are stored under the key like a refund.
    func createRefund(_ request: Request, context: some RequestContext) async throws -> Response {
        let key = try Self.idempotencyKey(request)
        let parameters = try await decode(RefundParameters.self, from: request, context: context).validated()
        let fingerprint = try Self.fingerprint("refunds", parameters)
        if let replay = try await replay(key: key, fingerprint: fingerprint) { return replay }
        let answer = try await store.refund(
            chargeID: parameters.charge, amount: parameters.amount, key: key, fingerprint: fingerprint,
            refundID: Self.newID("re"), created: Int(Date().timeIntervalSince1970)
        ) { decision in
            switch decision {
            case .unknownCharge:
                let body = APIErrorBody(type: "resource_missing", message: "no charge '\(parameters.charge)'")
                return .init(statusCode: 404, body: (try? Self.encode(body)) ?? "{}")
            case .exceedsCapture(let left):
                let body = APIErrorBody(
                    type: "amount_exceeds_capture",
                    message: "refund of \(parameters.amount) exceeds the \(left) left of charge '\(parameters.charge)'")
                return .init(statusCode: 402, body: (try? Self.encode(body)) ?? "{}")
            case .refunded(let refund):
                return .init(statusCode: 201, body: (try? Self.encode(refund)) ?? "{}")
            }
        }
        guard let answer else {
            return try await replay(key: key, fingerprint: fingerprint)
                ?? APIError.json(
                    APIErrorBody(type: "idempotency_key_in_use", message: "the key is being used by another request"),
                    status: .conflict)
        }
        logger.info(
            "refund",
            metadata: ["charge": "\(parameters.charge)", "status": "\(answer.statusCode)", "idempotency_key": "\(key)"])
        return APIError.json(data: Data(answer.body.utf8), status: HTTPResponse.Status(code: answer.statusCode))
    }

    // MARK: Health

    /// `GET /health`: 200 when the database answers, else 503.
    func health(_ request: Request, context: some RequestContext) async throws -> Response {
        do {
            try await store.ping()
            return APIError.json(["status": "ok", "database": "up"], status: .ok)
        } catch {
            return APIError.json(["status": "unavailable", "database": "down: \(error)"], status: .serviceUnavailable)
        }
    }

    // MARK: Helpers

    /// The stored answer of `key` again (marked as a replay), 409 when the key was used with
    /// other parameters, or `nil` when the key is new.
    private func replay(key: String, fingerprint: String) async throws -> Response? {
        guard let stored = try await store.answer(forKey: key) else { return nil }
        let answer = stored.answer
        guard stored.fingerprint == fingerprint else {
            throw APIError(
                .conflict, type: "idempotency_key_reused",
                message: "idempotency key '\(key)' was used with other parameters")
        }
        guard answer.statusCode != 0 else {
            // Claimed by a refund transaction that has not written its answer: only visible to a
            // reader between the two statements of that transaction, never after a commit.
            throw APIError(
                .conflict, type: "idempotency_key_in_use", message: "the key is being used by another request")
        }
        return APIError.json(
            data: Data(answer.body.utf8), status: HTTPResponse.Status(code: answer.statusCode),
            headers: [Self.replayedHeader: "true"])
    }

    /// The request's `Idempotency-Key`: required, 1 … 255 characters.
    private static func idempotencyKey(_ request: Request) throws(APIError) -> String {
        guard let key = request.headers[idempotencyKeyHeader], !key.isEmpty else {
            throw APIError(
                .badRequest, type: "missing_idempotency_key", message: "the Idempotency-Key header is required")
        }
        try APIError.checkText(key, field: "Idempotency-Key")
        return key
    }

    /// The body as `T`: JSON only (415 otherwise), at most ``maximumBodyBytes`` (413), decoded
    /// with a 400 naming what is wrong.
    private func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext)
        async throws -> T
    {
        if let contentType = request.headers[.contentType],
            !contentType.lowercased().hasPrefix("application/json")
        {
            throw APIError(
                .unsupportedMediaType, type: "unsupported_media_type",
                message: "the body must be application/json, not \(contentType)")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maximumBodyBytes {
            throw APIError(
                .contentTooLarge, type: "request_too_large",
                message: "the body has \(length) bytes; at most \(maximumBodyBytes) are accepted")
        }
        let buffer = try await request.body.collect(upTo: maximumBodyBytes)
        let data = Data(buffer.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw Self.decodingFailure(error)
        }
    }

    /// A 400 that says what is wrong with the body, without echoing it.
    static func decodingFailure(_ error: any Error) -> APIError {
        guard let error = error as? DecodingError else { return .invalidJSON("the body is not valid JSON") }
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .invalidRequest("missing field '\(field)'")
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            if context.codingPath.isEmpty { return .invalidRequest("the body must be a JSON object") }
            return .invalidRequest("field '\(path(context.codingPath))' has the wrong type")
        case .dataCorrupted(let context):
            // Foundation on Linux also reports a number that does not fit an integer field (1.5,
            // 10²³) as invalid JSON, without a coding path.
            if context.codingPath.isEmpty { return .invalidJSON("the body is not valid JSON") }
            return .invalidRequest("field '\(path(context.codingPath))' is not valid")
        @unknown default:
            return .invalidJSON("the body is not valid JSON")
        }
    }

    /// The parameters that make a request the same request: the endpoint and the decoded,
    /// normalised parameters as canonical JSON (so key order and spacing do not matter).
    private static func fingerprint(_ endpoint: String, _ parameters: some Encodable) throws -> String {
        "\(endpoint):\(try encode(parameters))"
    }

    private static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try APIError.encoder.encode(value), as: UTF8.self)
    }

    /// `ch_…` / `re_…`: a prefix and 24 random hexadecimal digits.
    private static func newID(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24))"
    }
}
