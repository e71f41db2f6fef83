import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import Postgres

/// The outermost middleware of both listeners: every error becomes the API's JSON error body
/// (``APIErrorBody``), and every request is counted and timed.
///
/// Metrics: `gateway_http_requests_total{route, method, status}` and
/// `gateway_http_request_duration_seconds{route, method}`, `route` being the matched route
/// pattern (`/v1/charges/{id}`) or `unmatched`, so ids never become label values.
///
/// Errors: an ``APIError`` answers itself; Hummingbird's (an oversized body: 413, an unknown
/// route: 404) keep their status with a type of ours; a database that does not answer is 503
/// `database_unavailable` (the caller may retry with the same key); anything else is 500
/// `internal_error`, logged, with no detail in the answer.
struct ErrorAndMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = answer(for: error, request: request, context: context)
        }
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        Counter(
            label: "gateway_http_requests_total",
            dimensions: [("route", route), ("method", method), ("status", "\(response.status.code)")]
        ).increment()
        let (seconds, attoseconds) = (ContinuousClock.now - start).components
        Metrics.Timer(
            label: "gateway_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
            preferredDisplayUnit: .seconds
        ).recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        return response
    }

    private func answer(for error: any Error, request: Request, context: Context) -> Response {
        if let error = error as? APIError {
            return APIError.json(
                APIErrorBody(type: error.type, message: error.message), status: error.status, headers: error.headers)
        }
        if let postgres = error as? PostgresError, postgres.isInfrastructureFailure {
            logger.warning("database unavailable", metadata: ["error": "\(postgres)"])
            return APIError.json(
                APIErrorBody(type: "database_unavailable", message: "the processor's database does not answer; retry"),
                status: .serviceUnavailable)
        }
        if let error = error as? any HTTPResponseError {
            let type: String
            switch error.status {
            case .contentTooLarge: type = "request_too_large"
            case .notFound: type = "not_found"
            case .badRequest: type = "invalid_request"
            default: type = error.status.code < 500 ? "invalid_request" : "internal_error"
            }
            return APIError.json(
                APIErrorBody(
                    type: type,
                    message: error.status.reasonPhrase.isEmpty ? "\(error.status.code)" : error.status.reasonPhrase),
                status: error.status)
        }
        logger.error(
            "request failed",
            metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
        return APIError.json(
            APIErrorBody(type: "internal_error", message: "the processor failed; retry with the same key"),
            status: .internalServerError)
    }
}

/// Requires `Authorization: Bearer <key>`: 401 `authentication_required` without one, 403
/// `invalid_api_key` with another key. The key is compared in constant time and never logged.
struct AuthenticationMiddleware<Context: RequestContext>: RouterMiddleware {
    let apiKey: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer "),
            !authorization.dropFirst("Bearer ".count).isEmpty
        else {
            throw APIError(
                .unauthorized, type: "authentication_required",
                message: "send the API key as 'Authorization: Bearer <key>'")
        }
        guard Self.constantTimeEquals(Array(authorization.utf8.dropFirst("Bearer ".count)), Array(apiKey.utf8)) else {
            throw APIError(.forbidden, type: "invalid_api_key", message: "the API key is not valid")
        }
        return try await next(request, context)
    }

    /// Equal bytes, in a time that does not depend on where they first differ.
    static func constantTimeEquals(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// Fault injection (``Faults``) in front of the API: waits the added latency, then answers a
/// share of requests 503 `processor_unavailable` before anything else is done (authentication
/// included), as an overloaded processor's load balancer would.
struct FaultMiddleware<Context: RequestContext>: RouterMiddleware {
    let faults: FaultInjector

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let current = faults.current
        if current.latencyMilliseconds > 0 { try await Task.sleep(for: .milliseconds(current.latencyMilliseconds)) }
        if current.errorRate > 0, Double.random(in: 0..<1) < current.errorRate {
            throw APIError.unavailable(
                "injected fault (error rate \(current.errorRate))", retryAfterSeconds: current.retryAfterSeconds)
        }
        return try await next(request, context)
    }
}
