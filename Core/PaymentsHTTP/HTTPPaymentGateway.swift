import AsyncHTTPClient
import CommerceTracing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Payments
import Resilience
import Tracing
import WorkerRuntime

/// The ``PaymentGateway`` port over HTTP: a card processor's REST API shaped like Stripe's, the
/// `payment-gateway` server locally (docs/payment-gateway.md).
///
/// One AsyncHTTPClient per adapter with a pool of up to ``Configuration/concurrency`` keep-alive
/// connections to the processor. Every call:
/// - carries the request's idempotency key as `Idempotency-Key` (the worker derives
///   `charge:<order_id>` / `refund:<order_id>`), so a retry, a redelivery or a second worker copy
///   gets the stored answer and never a second capture;
/// - has a deadline of ``Configuration/timeout`` per attempt;
/// - is retried, up to ``Configuration/retry``'s attempts with its exponential backoff and jitter,
///   on a 5xx, a 429, a timeout or a connection error; once they are spent it throws
///   ``GatewayError`` (transient), and the runtime's retry tiers take over. A `Retry-After` on
///   the answer is a floor for the next wait; one longer than the policy's longest backoff ends
///   the call at once with ``GatewayError``, rather than hold the worker's batch;
/// - is retried likewise on a 408 and on a 409 `idempotency_key_in_use` (another request with the
///   same key is still running: its answer will be there shortly);
/// - is not retried on any other 4xx: 400, 409 … mean the request is wrong and will stay wrong,
///   so they throw ``GatewayRefusal`` (permanent, reason `gateway_rejected_request`), naming the
///   status and the processor's error type; the payment worker turns a refused charge into
///   `payment.failed`. 401 and 403 (the API key refused) throw ``DependencyOutage``, so the
///   worker pauses instead of failing every payment.
///
/// Business answers are results, as the port says: a declined card is ``ChargeResult/declined``;
/// a refund above what is left of the capture (402 `amount_exceeds_capture`) or of an unknown
/// charge (404) is ``RefundResult/refused``.
///
/// Call ``shutdown()`` before releasing the adapter (AsyncHTTPClient requires it); a worker keeps
/// its adapter until the process exits.
public final class HTTPPaymentGateway: PaymentGateway {
    /// Where the processor is and how to call it.
    public struct Configuration: Sendable {
        /// The API's base URL, e.g. `http://127.0.0.1:9180` (no trailing path).
        public var baseURL: String
        /// The secret key sent as `Authorization: Bearer <key>`. Never logged.
        public var apiKey: String
        /// The deadline of one attempt, connecting included. Default 5 s.
        public var timeout: Duration
        /// Attempts per call and the backoff between them. Default 3 attempts, 100 ms doubling
        /// up to 2 s, full jitter.
        public var retry: RetryPolicy
        /// The most connections (so concurrent calls on the wire) to the processor. Default 64.
        public var concurrency: Int

        /// A configuration with the defaults above.
        public init(
            baseURL: String, apiKey: String, timeout: Duration = .seconds(5),
            retry: RetryPolicy = RetryPolicy(
                maximumAttempts: 3, backoff: Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(2))),
            concurrency: Int = 64
        ) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.apiKey = apiKey
            self.timeout = timeout
            self.retry = retry
            self.concurrency = max(1, concurrency)
        }
    }

    /// One failed attempt worth another: a 5xx, a 429, a timeout or a connection error.
    private struct RetryableFailure: Error, CustomStringConvertible {
        var description: String
        /// How long the processor asked us to wait (`Retry-After` of a 429 or 503), if it did.
        var retryAfter: Duration? = nil
        /// A 409 `idempotency_key_in_use`: the processor answered that the key's work is not done.
        var keyInUse = false
    }

    /// An answer the processor gave (any status that is not retried).
    struct Answer {
        var status: Int
        var body: Data
    }

    /// The configuration in use.
    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    /// An adapter with its own connection pool on NIO's shared event loop group.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var client = HTTPClient.Configuration(
            timeout: HTTPClient.Configuration.Timeout(
                connect: TimeAmount(configuration.timeout), read: TimeAmount(configuration.timeout)),
            connectionPool: HTTPClient.Configuration.ConnectionPool(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.concurrency))
        // A refused connection fails the attempt at once, and `withRetry`'s backoff decides when
        // to try again; AsyncHTTPClient's default would retry it silently until the deadline.
        client.connectionPool.retryConnectionEstablishment = false
        // The processor's API is plain HTTP/1.1 locally; no redirects are expected from it.
        client.redirectConfiguration = .disallow
        client.httpVersion = .http1Only
        // The adapter makes its own client span per attempt and sends its `traceparent`
        // (``attempt(_:_:body:key:)``); AsyncHTTPClient's automatic span would add a second one and
        // a second `traceparent` header, which the processor could not read.
        client.tracing.tracer = nil
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: client)
    }

    /// Closes the connections. Calls after it fail.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    // MARK: PaymentGateway

    /// `POST /v1/charges` with `Idempotency-Key: <request.idempotencyKey>`.
    public func charge(_ request: ChargeRequest) async throws -> ChargeResult {
        let body = ChargeBody(
            amount: request.amount, currency: request.currency.code, paymentToken: request.paymentToken,
            orderReference: request.orderID)
        let answer = try await send(
            .POST, "/v1/charges", body: try JSONEncoder().encode(body), key: request.idempotencyKey)
        switch answer.status {
        case 200, 201: return try Self.chargeResult(answer, operation: "POST /v1/charges")
        default: throw Self.rejected("POST /v1/charges", answer)
        }
    }

    /// `POST /v1/refunds` with `Idempotency-Key: <request.idempotencyKey>`.
    public func refund(_ request: RefundRequest) async throws -> RefundResult {
        let body = RefundBody(charge: request.paymentID, amount: request.amount)
        let answer = try await send(
            .POST, "/v1/refunds", body: try JSONEncoder().encode(body), key: request.idempotencyKey)
        switch answer.status {
        case 200, 201:
            guard let refund = try? JSONDecoder().decode(RefundAnswer.self, from: answer.body) else {
                throw GatewayError("POST /v1/refunds answered \(answer.status) with a body that is not a refund")
            }
            return .refunded(refundID: refund.id, amount: refund.amount)
        case 402:
            let error = Self.errorBody(answer)
            return .refused(code: error?.type ?? "amount_exceeds_capture", message: error?.message ?? "refused")
        case 404:
            return .refused(code: "unknown_payment", message: Self.errorBody(answer)?.message ?? "no such charge")
        default:
            throw Self.rejected("POST /v1/refunds", answer)
        }
    }

    /// `GET /v1/charges?idempotency_key=K`: the charge, or `nil` on 404.
    public func lookup(idempotencyKey: String) async throws -> ChargeResult? {
        let encoded = Self.queryValue(idempotencyKey)
        let answer = try await send(.GET, "/v1/charges?idempotency_key=\(encoded)", body: nil, key: nil)
        switch answer.status {
        case 200: return try Self.chargeResult(answer, operation: "GET /v1/charges")
        case 404: return nil
        default: throw Self.rejected("GET /v1/charges", answer)
        }
    }

    /// `GET /health`, one attempt: returns on 200, else throws ``GatewayError``.
    public func checkHealth() async throws {
        do {
            let answer = try await attempt(.GET, "/health", body: nil, key: nil)
            guard answer.status == 200 else {
                throw GatewayError("GET /health answered \(answer.status)")
            }
        } catch {
            if let failure = error as? RetryableFailure { throw GatewayError("GET /health: \(failure)") }
            throw error
        }
    }

    // MARK: Transport

    /// One call with the retry policy: the first answer that is not retryable, or
    /// ``GatewayError`` once every attempt failed.
    ///
    /// A `Retry-After` is honoured: the next attempt waits at least that long. One longer than the
    /// policy's longest backoff is not waited out inside the call (it would hold the batch):
    /// the call fails at once with ``GatewayError``, and the runtime's retry tiers, which wait
    /// seconds to minutes, or the circuit breaker, take over.
    func send(_ method: HTTPMethod, _ path: String, body: Data?, key: String?) async throws -> Answer {
        let policy = configuration.retry
        let longestWait = policy.backoff.maximumDelay
        var askedToWait: Duration = .zero
        do {
            return try await withRetry(
                policy: policy,
                isRetryable: { error in
                    guard let failure = error as? RetryableFailure else { return false }
                    return (failure.retryAfter ?? .zero) <= longestWait
                },
                onRetry: { [logger] error, retry, delay in
                    askedToWait = (error as? RetryableFailure)?.retryAfter ?? .zero
                    logger.debug(
                        "gateway call retried",
                        metadata: [
                            "path": "\(path)", "idempotency_key": "\(key ?? "-")", "retry": "\(retry)",
                            "delay_ms":
                                "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                            "error": "\(error)",
                        ])
                },
                sleep: { delay in try await Task.sleep(for: max(delay, askedToWait)) }
            ) {
                try await attempt(method, path, body: body, key: key)
            }
        } catch {
            if let failure = error as? RetryableFailure {
                if let wait = failure.retryAfter, wait > longestWait {
                    throw GatewayError(
                        "\(method) \(path): the processor asks to retry after \(wait.components.seconds) s "
                            + "(longer than \(longestWait) of in-call backoff); last: \(failure)")
                }
                throw GatewayError(
                    "\(method) \(path) failed \(policy.maximumAttempts) time(s); last: \(failure)",
                    processorAnswered: failure.keyInUse)
            }
            throw error
        }
    }

    /// `Retry-After` as a duration: delta-seconds, or an HTTP date (RFC 9110 §10.2.3); nil when
    /// absent or unreadable.
    public static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(0, Int((date.timeIntervalSince(now) * 1000).rounded(.up))))
    }

    /// One attempt: the answer, or ``RetryableFailure`` for a 5xx, a 429, a 408, a 409
    /// `idempotency_key_in_use` or a transport error.
    private func attempt(_ method: HTTPMethod, _ path: String, body: Data?, key: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: configuration.baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        request.headers.add(name: "Accept", value: "application/json")
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        // The handled message's trace continues into the processor: a client span of its own when
        // tracing is on, else the message's context forwarded as it is.
        var span: CommerceSpan?
        if let parent = ServiceContext.current?.traceContext {
            // The name leaves the query out: an idempotency key per order would make a name per order.
            let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
            span = CommerceTracing.tracer?.startSpan("\(method) \(route)", parent: parent, kind: .client)
            let trace = span?.trace ?? parent
            request.headers.add(name: TraceContext.traceparentHeader, value: trace.traceparent)
            if let state = trace.traceState { request.headers.add(name: TraceContext.tracestateHeader, value: state) }
            span?.attributes["http.request.method"] = "\(method)"
            span?.attributes["url.path"] = route
        }
        defer { span?.end() }
        let answer: Answer
        let retryAfter: Duration?
        do {
            let response = try await client.execute(request, timeout: TimeAmount(configuration.timeout), logger: logger)
            let bytes = try await response.body.collect(upTo: 1 << 20)
            answer = Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView))
            retryAfter = Self.retryAfter(response.headers.first(name: "Retry-After"))
        } catch {
            span?.setStatus(SpanStatus(code: .error, message: "\(error)"))
            if error is CancellationError { throw error }
            throw RetryableFailure(description: "\(error)")
        }
        span?.attributes["http.response.status_code"] = answer.status
        if answer.status >= 500 { span?.setStatus(SpanStatus(code: .error, message: "status \(answer.status)")) }
        let errorType = Self.errorBody(answer)?.type
        let keyInUse = answer.status == 409 && errorType == "idempotency_key_in_use"
        if answer.status >= 500 || answer.status == 429 || answer.status == 408 || keyInUse {
            let type = errorType.map { " \($0)" } ?? ""
            throw RetryableFailure(
                description: "status \(answer.status)\(type)", retryAfter: retryAfter, keyInUse: keyInUse)
        }
        return answer
    }

    // MARK: Answers

    private static func chargeResult(_ answer: Answer, operation: String) throws -> ChargeResult {
        guard let charge = try? JSONDecoder().decode(ChargeAnswer.self, from: answer.body) else {
            // Transient: the same key asked again gets the stored answer, so retrying is safe.
            throw GatewayError("\(operation) answered \(answer.status) with a body that is not a charge")
        }
        switch charge.status {
        case "captured": return .captured(paymentID: charge.id)
        default:
            return .declined(
                code: charge.declineCode ?? "declined", message: charge.declineMessage ?? "The card was declined.")
        }
    }

    /// `value` percent-encoded for a query string.
    static func queryValue(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#[]")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// The processor's error body (`{"error": {"type", "message"}}`), if the answer has one.
    static func errorBody(_ answer: Answer) -> ErrorAnswer.Detail? {
        (try? JSONDecoder().decode(ErrorAnswer.self, from: answer.body))?.error
    }

    /// A 4xx that is not a business answer: a ``GatewayRefusal``, because sending it again cannot
    /// help; except 401 and 403, the processor refusing our API key, which is no message's fault: an
    /// outage of the processor as far as the worker can tell (``DependencyOutage``), so the worker
    /// pauses until an authenticated call passes again instead of dead-lettering every payment.
    private static func rejected(_ operation: String, _ answer: Answer) -> any Error {
        let detail = errorBody(answer).map { " \($0.type): \($0.message)" } ?? ""
        if answer.status == 401 || answer.status == 403 {
            return DependencyOutage(
                dependency: PaymentHandler.dependencyName,
                message: "\(operation) answered \(answer.status)\(detail): the processor refuses the API key "
                    + "(payment.http.apiKey)")
        }
        return GatewayRefusal(
            status: answer.status, type: errorBody(answer)?.type,
            message: "\(operation) answered \(answer.status)\(detail)")
    }
}

// MARK: Wire format (docs/payment-gateway.md)

private struct ChargeBody: Encodable {
    var amount: Int
    var currency: String
    var paymentToken: String
    var orderReference: String

    enum CodingKeys: String, CodingKey {
        case amount, currency
        case paymentToken = "payment_token"
        case orderReference = "order_reference"
    }
}

private struct RefundBody: Encodable {
    var charge: String
    var amount: Int
}

private struct ChargeAnswer: Decodable {
    var id: String
    var status: String
    var declineCode: String?
    var declineMessage: String?

    enum CodingKeys: String, CodingKey {
        case id, status
        case declineCode = "decline_code"
        case declineMessage = "decline_message"
    }
}

private struct RefundAnswer: Decodable {
    var id: String
    var amount: Int
}

struct ErrorAnswer: Decodable {
    struct Detail: Decodable {
        var type: String
        var message: String
    }
    var error: Detail
}

extension TimeAmount {
    /// A NIO time amount of `duration`, to the nanosecond.
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
