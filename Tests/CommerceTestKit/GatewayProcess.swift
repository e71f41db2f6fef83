import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Postgres
import Testing

/// A `payment-gateway` process started by a test: its own ports, API key and database, stopped
/// and started again at will (the database stays), killed when released.
///
/// `@unchecked Sendable` so a test can send requests from several tasks at once: those only read
/// the ports and the key, which never change; `start()`/`stop()` run on the test's own task.
public final class GatewayProcess: @unchecked Sendable {
    public let apiKey: String
    public let databaseURL: String
    public let name: String
    public private(set) var apiPort: Int
    public private(set) var adminPort: Int
    private let environment: [String: String]
    public private(set) var process: WorkerProcess?
    private var starts = 0

    /// Starts the gateway on `databaseURL` and waits until `/health` answers 200.
    /// - Parameter environment: more settings (`FAULTS_LATENCY_MS` …), over the test's defaults.
    public init(databaseURL: String, name: String, environment: [String: String] = [:]) throws {
        self.databaseURL = databaseURL
        self.name = name
        apiKey = "sk_test_\(UUID().uuidString.prefix(12).lowercased())"
        apiPort = WorkerProcess.freePort()
        adminPort = WorkerProcess.freePort()
        self.environment = environment
        // A port found free may be taken by another test's process before the gateway binds it:
        // then the gateway is started again on other ports (a restart keeps the ports it has).
        var started = try launch()
        for _ in 0..<2 where !started && log.contains("Address already in use") {
            apiPort = WorkerProcess.freePort()
            adminPort = WorkerProcess.freePort()
            started = try launch()
        }
        guard started else {
            Issue.record("payment-gateway did not start: \(process?.process.logTail() ?? "")")
            throw CocoaError(.executableLoad)
        }
    }

    /// The API's base URL.
    public var baseURL: String { "http://127.0.0.1:\(apiPort)" }

    /// The log of the current (or last) process.
    public var log: String { process?.log ?? "" }

    /// Starts a process on the same ports, key and database; waits for `/health` 200.
    public func start() throws {
        guard try launch() else {
            Issue.record("payment-gateway did not start: \(process?.process.logTail() ?? "")")
            throw CocoaError(.executableLoad)
        }
    }

    /// Starts a process on the current ports and waits for `/health` 200; whether it answered
    /// (a process that did not is killed).
    private func launch() throws -> Bool {
        var settings = [
            "DATABASE_URL": databaseURL, "API_KEY": apiKey, "HTTP_HOST": "127.0.0.1", "HTTP_PORT": "\(apiPort)",
            "ADMIN_PORT": "\(adminPort)", "LOG_LEVEL": "info", "FAULTS_ERROR_RATE": "0", "FAULTS_LATENCY_MS": "0",
        ]
        settings.merge(environment) { $1 }
        let process = try WorkerProcess(
            environment: settings, httpPort: apiPort, name: "\(name)-\(starts)", executable: "payment-gateway")
        starts += 1
        self.process = process
        try waitUntil("payment-gateway to answer /health", timeout: .seconds(30), { process.http("/health")?.0 ?? 0 }) {
            $0 == 200 || !process.process.isRunning
        }
        guard process.process.isRunning, process.http("/health")?.0 == 200 else {
            if process.process.isRunning { process.kill9() }
            return false
        }
        return true
    }

    /// SIGTERM, then waits: the exit status (nil if it did not exit within 30 s).
    @discardableResult
    public func stop() -> Int32? {
        guard let process else { return nil }
        process.terminate()
        return process.waitForExit(timeout: .seconds(30))
    }

    deinit {
        if let process, process.process.isRunning { process.kill9() }
    }
}

/// One HTTP exchange with a gateway, for the tests that speak its API directly.
public struct GatewayExchange: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: String

    /// The body as a JSON object (empty when it is not one).
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// `error.type` of a JSON error body.
    public var errorType: String? { (json["error"] as? [String: Any])?["type"] as? String }
}

extension GatewayProcess {
    /// Sends one request to the API (`admin: true`: to the admin listener) with the test's API key
    /// unless `authorization` says otherwise (`""` sends none).
    public func send(
        _ method: HTTPMethod, _ path: String, json body: String? = nil, key: String? = nil,
        authorization: String? = nil, contentType: String = "application/json", admin: Bool = false
    ) async throws -> GatewayExchange {
        let port = admin ? adminPort : apiPort
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        let authorization = authorization ?? "Bearer \(apiKey)"
        if !authorization.isEmpty { request.headers.add(name: "Authorization", value: authorization) }
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return GatewayExchange(
            status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    /// `POST /v1/charges` with `token`, key `key`.
    public func charge(
        token: String, key: String, amount: Int = 25_000, order: String = "order-1"
    ) async throws -> GatewayExchange {
        try await send(
            .POST, "/v1/charges",
            json: #"{"amount":\#(amount),"currency":"KRW","payment_token":"\#(token)","order_reference":"\#(order)"}"#,
            key: key)
    }

    /// Rows in the gateway's charges table (all, or of one idempotency key).
    public func chargeRows(key: String? = nil) throws -> Int64 {
        let database = try TestServers.postgres(url: databaseURL)
        if let key {
            return try database.query(
                "select count(*) as n from gateway_charges where idempotency_key = $1", [.text(key)]
            )
            .rows[0].int("n")
        }
        return try database.query("select count(*) as n from gateway_charges").rows[0].int("n")
    }
}

extension GatewayProcess {
    /// `charge(token:key:amount:order:)` for a synchronous test: this thread waits for the answer.
    public func chargeWaiting(token: String, key: String, amount: Int, order: String) throws -> GatewayExchange {
        try blockingWait { try await self.charge(token: token, key: key, amount: amount, order: order) }
    }

    /// `POST /v1/refunds` for a synchronous test: this thread waits for the answer.
    public func refundWaiting(charge: String, amount: Int, key: String) throws -> GatewayExchange {
        try blockingWait {
            try await self.send(.POST, "/v1/refunds", json: #"{"charge":"\#(charge)","amount":\#(amount)}"#, key: key)
        }
    }
}
