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
final class GatewayProcess: @unchecked Sendable {
    let apiKey: String
    let databaseURL: String
    let name: String
    private(set) var apiPort: Int
    private(set) var adminPort: Int
    private let environment: [String: String]
    private(set) var process: WorkerProcess?
    private var starts = 0

    /// Starts the gateway on `databaseURL` and waits until `/health` answers 200.
    /// - Parameter environment: more settings (`FAULTS_LATENCY_MS` …), over the test's defaults.
    init(databaseURL: String, name: String, environment: [String: String] = [:]) throws {
        self.databaseURL = databaseURL
        self.name = name
        apiKey = "sk_test_\(UUID().uuidString.prefix(12).lowercased())"
        apiPort = ProbeFixture.freePort()
        adminPort = ProbeFixture.freePort()
        self.environment = environment
        // A port found free may be taken by another test's process before the gateway binds it:
        // then the gateway is started again on other ports (a restart keeps the ports it has).
        var started = try launch()
        for _ in 0..<2 where !started && log.contains("Address already in use") {
            apiPort = ProbeFixture.freePort()
            adminPort = ProbeFixture.freePort()
            started = try launch()
        }
        guard started else {
            Issue.record("payment-gateway did not start: \(process?.process.logTail() ?? "")")
            throw CocoaError(.executableLoad)
        }
    }

    /// The API's base URL.
    var baseURL: String { "http://127.0.0.1:\(apiPort)" }

    /// The log of the current (or last) process.
    var log: String { process?.log ?? "" }

    /// Starts a process on the same ports, key and database; waits for `/health` 200.
    func start() throws {
        guard try launch() else {
            Issue.record("payment-gateway did not start: \(process?.process.logTail() ?? "")")
            throw CocoaError(.executableLoad)
        }
    }

    /// Starts a process on the current ports and waits for `/health` 200; whether it answered
    /// (a process that did not is killed).
    private func launch() throws -> Bool {
        let binary = ProbeFixture.binary("payment-gateway")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("no payment-gateway at \(binary.path): build it with `swift build` (scripts/test.sh does)")
            throw CocoaError(.fileNoSuchFile)
        }
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
    func stop() -> Int32? {
        guard let process else { return nil }
        process.terminate()
        return process.waitForExit(timeout: .seconds(30))
    }

    deinit {
        if let process, process.process.isRunning { process.kill9() }
    }
}

/// One HTTP exchange with a gateway, for the tests that speak its API directly.
struct GatewayExchange {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    /// The body as a JSON object (empty when it is not one).
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// `error.type` of a JSON error body.
    var errorType: String? { (json["error"] as? [String: Any])?["type"] as? String }
}

extension GatewayProcess {
    /// Sends one request to the API (`admin: true`: to the admin listener) with the test's API key
    /// unless `authorization` says otherwise (`""` sends none).
    func send(
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
    func charge(
        token: String, key: String, amount: Int = 25_000, order: String = "order-1"
    ) async throws -> GatewayExchange {
        try await send(
            .POST, "/v1/charges",
            json: #"{"amount":\#(amount),"currency":"KRW","payment_token":"\#(token)","order_reference":"\#(order)"}"#,
            key: key)
    }

    /// Rows in the gateway's charges table (all, or of one idempotency key).
    func chargeRows(key: String? = nil) throws -> Int64 {
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

/// A PostgreSQL database of one test's own for a gateway, dropped when released.
final class GatewayTestDatabase {
    let name: String
    let url: String
    private let admin: Postgres.PostgresConnection

    init() throws {
        name = "gw_\(UUID().uuidString.prefix(8).lowercased())"
        admin = try TestServers.postgres()
        // Generated name, never input: identifiers cannot be statement parameters.
        try admin.query("create database \(name)")
        url = "postgresql://commerce:commerce@127.0.0.1:5432/\(name)?connect_timeout=5"
    }

    deinit {
        _ = try? admin.query("drop database if exists \(name) with (force)")
    }
}
