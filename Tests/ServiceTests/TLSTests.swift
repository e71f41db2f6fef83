import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import LocalProcess
import Mongo
import Ordering
import Postgres
import Testing

/// TLS on the broker and database connections (docs/security.md, "TLS"), against the TLS
/// listener and the certificates that `scripts/services.sh up` sets up.
@Suite("TLS")
struct TLSTests {
    @Test("the saga runs end to end with every connection over TLS: AMQP, PostgreSQL with sslmode=verify-full, MongoDB")
    func sagaOverTLS() async throws {
        try await offThePool {
            let saga = SagaDriver()
            let mongo = try MongoTLSServer()
            let amqps = ["AMQP_URL": TestTLS.amqpsURL, "AMQP_TLS_CA_FILE": TestTLS.caFile]
            var extra = Dictionary(
                uniqueKeysWithValues: ["order-worker", "stock-worker", "payment-worker"].map { ($0, amqps) })
            extra["notification-worker"] = amqps.merging(["DATABASE_URL": mongo.uri()]) { $1 }
            let (fixture, _) = try saga.startFleet(
                stock: [StockSeed(sku: "KB-001", quantity: 5)], extra: extra, databaseOptions: TestTLS.postgresOptions)
            let approved = saga.order([("KB-001", 1, 60_000)])
            let declined = saga.order([("KB-001", 1, 60_000)], token: "tok_decline")
            try fixture.publish(approved)
            try fixture.publish(declined)
            let events = try saga.terminalEvents(fixture, count: 2)
            guard case .orderConfirmed? = events[approved.orderID]?.last else {
                Issue.record("approved: \(String(describing: events[approved.orderID]))")
                return
            }
            guard case .orderCancelled(let cancelled)? = events[declined.orderID]?.last else {
                Issue.record("declined: \(String(describing: events[declined.orderID]))")
                return
            }
            #expect(cancelled.reason == .paymentDeclined)
            let statuses = try OrdersAudit.statuses(
                try TestServers.postgres(url: try fixture.databaseURL(for: "orders") + TestTLS.postgresOptions))
            #expect(statuses[approved.orderID] == .confirmed)
            #expect(statuses[declined.orderID] == .cancelled)

            // The notification-worker wrote both notifications through its TLS connection.
            let notifications = try MongoClient(uri: mongo.uri()).collection("notifications", in: fixture.mongoDatabase)
            try waitUntil("2 notifications", { try notifications.countDocuments() }) { $0 >= 2 }

            // Every connection the workers and the gateway hold to their databases is encrypted.
            let admin = try TestServers.postgres()
            let sessions = try admin.query(
                """
                select a.datname, s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid)
                where a.datname like $1 and a.application_name <> 'integration-test'
                """, [.text("svc\\_\(fixture.suffix)\\_%")]
            ).rows.map { (try $0.string("datname"), try $0.bool("ssl")) }
            #expect(Set(sessions.map(\.0)).count == 4, "sessions on \(Set(sessions.map(\.0)).sorted())")
            #expect(sessions.allSatisfy { $0.1 }, "sessions in clear: \(sessions.filter { !$0.1 })")
        }
    }

    @Test("libmongoc over TLS: the local authority is trusted, another is refused")
    func mongoOverTLS() async throws {
        try await offThePool {
            let mongo = try MongoTLSServer()
            let client = try MongoClient(uri: mongo.uri())
            let collection = client.collection(
                "tls", in: TestServers.uniqueName("tls").replacingOccurrences(of: "-", with: "_"))
            _ = try collection.insertOne(["note": "over TLS"])
            #expect(try collection.countDocuments() == 1)

            let certificates = try TestTLS.foreignCertificates()
            defer { try? FileManager.default.removeItem(at: certificates) }
            let untrusted = mongo.uri().replacingOccurrences(
                of: TestTLS.caFile, with: certificates.appendingPathComponent("ca.pem").path)
            let error = #expect(throws: MongoError.self) { try MongoClient(uri: untrusted).ping() }
            #expect("\(error.map { "\($0)" } ?? "")".contains("TLS"), "\(String(describing: error))")
        }
    }

    @Test("a broker certificate for another host name is refused, naming the host")
    func amqpWrongHostName() async throws {
        try await offThePool {
            let certificates = try TestTLS.foreignCertificates()
            defer { try? FileManager.default.removeItem(at: certificates) }
            let port = WorkerProcess.freePort()
            // A TLS server presenting a certificate that a trusted authority signed for
            // `wrong.example`: the chain verifies, the name does not.
            let server = try ChildProcess(
                executable: URL(fileURLWithPath: TestTLS.openssl),
                arguments: [
                    "s_server", "-www", "-accept", "127.0.0.1:\(port)",
                    "-cert", certificates.appendingPathComponent("server.pem").path,
                    "-key", certificates.appendingPathComponent("server.key").path,
                ],
                environment: ProcessInfo.processInfo.environment, workingDirectory: certificates,
                logURL: certificates.appendingPathComponent("s_server.log"))
            defer { server.kill() }
            let ca = certificates.appendingPathComponent("ca.pem").path
            let configuration = try AMQPConfiguration(
                urls: "amqps://commerce:commerce@127.0.0.1:\(port)/%2F?cacertfile=\(ca)", connectionName: "tls-test")
            let failure = try waitUntil(
                "a TLS answer from openssl s_server on \(port)",
                { () -> String in
                    do {
                        _ = try AMQPConnection(configuration: configuration)
                        return "connected"
                    } catch {
                        return "\(error)"
                    }
                }
            ) { $0.contains("certificate") || $0 == "connected" }
            #expect(failure.contains("does not name host '127.0.0.1'"), "\(failure)")
            #expect(failure.contains("hostname"), "\(failure)")

            // The same server trusted without the name check connects as far as TLS goes: the
            // refusal above was the name, not the chain.
            var unchecked = configuration
            unchecked.tls?.verifyHostname = false
            do {
                _ = try AMQPConnection(configuration: unchecked)
                Issue.record("openssl s_server is no broker, yet the login succeeded")
            } catch {
                #expect(!"\(error)".contains("certificate"), "\(error)")
            }
        }
    }

    @Test("a broker certificate from an authority not trusted is refused")
    func amqpUntrustedAuthority() async throws {
        try await offThePool {
            let certificates = try TestTLS.foreignCertificates()
            defer { try? FileManager.default.removeItem(at: certificates) }
            var configuration = try AMQPConfiguration(urls: TestTLS.amqpsURL, connectionName: "tls-test")
            configuration.tls?.caCertificatePath = certificates.appendingPathComponent("ca.pem").path
            let error = #expect(throws: AMQPError.self) { try AMQPConnection(configuration: configuration) }
            #expect(error?.code == .connectionFailed)
            #expect("\(error.map { "\($0)" } ?? "")".contains("not signed by an authority in"))

            // And the local authority is trusted: the same broker, the same user.
            configuration.tls?.caCertificatePath = TestTLS.caFile
            let connection = try AMQPConnection(configuration: configuration)
            connection.close()
        }
    }

    @Test("mutual TLS: the broker accepts a client certificate of the local authority and refuses another's")
    func clientCertificate() async throws {
        try await offThePool {
            let directory = URL(fileURLWithPath: TestTLS.caFile).deletingLastPathComponent()
            var configuration = try AMQPConfiguration(urls: TestTLS.amqpsURL, connectionName: "tls-test")
            configuration.tls?.caCertificatePath = TestTLS.caFile
            configuration.tls?.certificatePath = directory.appendingPathComponent("client.pem").path
            configuration.tls?.keyPath = directory.appendingPathComponent("client.key").path
            let connection = try AMQPConnection(configuration: configuration)
            connection.close()

            let certificates = try TestTLS.foreignCertificates()
            defer { try? FileManager.default.removeItem(at: certificates) }
            configuration.tls?.certificatePath = certificates.appendingPathComponent("server.pem").path
            configuration.tls?.keyPath = certificates.appendingPathComponent("server.key").path
            #expect(throws: AMQPError.self) { try AMQPConnection(configuration: configuration) }
        }
    }

    @Test("a missing CA file stops a worker at start with exit 78, naming the file")
    func missingCAFile() async throws {
        try await offThePool {
            let missing = "/nonexistent/\(TestServers.uniqueName("ca")).pem"
            let port = WorkerProcess.freePort()
            let worker = try WorkerProcess(
                environment: [
                    "AMQP_URL": TestTLS.amqpsURL, "AMQP_TLS_CA_FILE": missing,
                    "DATABASE_URL": TestServers.postgresURL, "HTTP_PORT": "\(port)",
                    "QUEUE_NAME": TestServers.uniqueName("tls-probe"),
                ], httpPort: port, name: TestServers.uniqueName("tls-missing-ca"), executable: "probe-worker")
            let status = worker.waitForExit(timeout: .seconds(30))
            #expect(status == 78, "exit status \(String(describing: status)); log: \(worker.log)")
            #expect(worker.log.contains("CA file \(missing) does not exist"), "\(worker.log)")
        }
    }

    @Test("PostgreSQL with sslmode=verify-full refuses a host name its certificate does not name")
    func postgresWrongHostName() async throws {
        try await offThePool {
            // `hostaddr` reaches the local server while libpq checks the certificate against `host`.
            let url =
                "postgresql://commerce:commerce@wrong.example:5432/commerce_test?hostaddr=127.0.0.1&connect_timeout=5"
                + TestTLS.postgresOptions
            let error = #expect(throws: (any Error).self) {
                try PostgresConnection(url: url, applicationName: "tls-test")
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains("does not match host name \"wrong.example\""))

            // The name it does carry connects, encrypted.
            let connection = try TestServers.postgres(
                url: "postgresql://commerce:commerce@localhost:5432/commerce_test?connect_timeout=5"
                    + TestTLS.postgresOptions)
            let encrypted = try connection.query("select ssl from pg_stat_ssl where pid = pg_backend_pid()").rows[0]
                .bool("ssl")
            #expect(encrypted)
        }
    }
}
