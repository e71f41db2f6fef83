import CommerceTestKit
import Foundation
import Testing

/// The payment gateway through a PostgreSQL outage. It stops PostgreSQL, so `scripts/test.sh`
/// runs it alone with the other disruptive tests.
@Suite("Disruptive: payment gateway through a PostgreSQL restart", .serialized)
struct PaymentGatewayDisruptiveTests {
    @Test(
        "PostgreSQL stopped: the gateway answers 503 and stays up; started again: it charges, and replays earlier keys")
    func databaseRestart() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-pg-restart")
        let key = "charge:order-\(UUID().uuidString.lowercased())"
        let before = try await gateway.charge(token: "tok_approve", key: key)
        #expect(before.status == 201)

        // Started again even if the test fails half-way.
        let start = try stopPostgres()
        defer { _ = try? start() }
        let down = try await gateway.charge(token: "tok_approve", key: "charge:order-\(UUID().uuidString)")
        #expect(down.status == 503, "\(down.body)")
        #expect(down.errorType == "database_unavailable")
        #expect(try await gateway.send(.GET, "/health").status == 503)
        #expect(gateway.process?.process.isRunning == true)

        _ = try start()
        try waitUntil(
            "PostgreSQL to accept connections", timeout: .seconds(60), { (try? TestServers.postgres()) != nil }
        ) {
            $0
        }
        try waitUntil(
            "the gateway's /health to answer 200", timeout: .seconds(30),
            {
                gateway.process?.http("/health")?.0 ?? 0
            }
        ) { $0 == 200 }
        let replay = try await gateway.charge(token: "tok_approve", key: key)
        #expect(replay.status == 201)
        #expect(replay.json["id"] as? String == before.json["id"] as? String)
        #expect(try await gateway.charge(token: "tok_approve", key: "charge:order-\(UUID().uuidString)").status == 201)
    }
}
