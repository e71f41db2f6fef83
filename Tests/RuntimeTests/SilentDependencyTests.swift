import AMQP
import CommerceTestKit
import Foundation
import Postgres
import Testing

@testable import WorkerRuntime

/// Dependencies that go silent (a frozen server, a half-open connection, a partition) without
/// closing anything: every wait on them has a deadline (docs/architecture.md, "Deadlines"). Each
/// test puts a ``FreezableProxy`` of its own between the client and the shared server and freezes
/// that, so the servers themselves are never disturbed and the tests run in parallel.
@Suite("Silent dependencies: deadlines through a frozen link")
struct SilentDependencyTests {
    // MARK: - libpq

    private static let shortPostgres = PostgresConnection.Timeouts(
        connect: .seconds(2), roundTrip: .seconds(2), statement: .seconds(1), tcpUser: .seconds(2))

    @Test(
        "a PostgreSQL round trip to a silent server fails within its deadline as an outage; a new connection works once it answers"
    )
    func postgresRoundTrip() async throws {
        try await offThePool {
            let proxy = try FreezableProxy(forwardingTo: TestServers.postgresURL)
            defer { proxy.stop() }
            let url = proxy.redirect(TestServers.postgresURL)
            let connection = try PostgresConnection(
                url: url, applicationName: "silent-test", timeouts: Self.shortPostgres)
            #expect(try connection.query("select 1 as one").rows[0].int("one") == 1)

            proxy.freeze()
            let started = ContinuousClock.now
            let error = #expect(throws: PostgresError.self) { try connection.query("select 2 as two") }
            let waited = started.duration(to: .now)
            #expect(error?.code == .timedOut)
            #expect(error?.isInfrastructureFailure == true, "the runtime pauses for an outage on it")
            // Not a speed check: without a deadline the call never returns at all.
            #expect(waited >= .seconds(2) && waited < .seconds(15), "waited \(waited) for a 2 s deadline")
            #expect(!connection.isConnected, "the connection is dropped, not reused in an unknown state")
            print("silent PostgreSQL: round trip failed after \(waited)")

            // Connecting to the silent server fails too, within connect_timeout.
            let connectStarted = ContinuousClock.now
            let refused = #expect(throws: PostgresError.self) {
                try PostgresConnection(url: url, applicationName: "silent-test", timeouts: Self.shortPostgres)
            }
            #expect(refused?.code == .connectionFailed)
            #expect(connectStarted.duration(to: .now) < .seconds(15))

            proxy.thaw()
            let again = try PostgresConnection(url: url, applicationName: "silent-test", timeouts: Self.shortPostgres)
            #expect(try again.query("select 3 as three").rows[0].int("three") == 3)
        }
    }

    @Test("a pipeline to a silent PostgreSQL fails within its deadline and drops the connection")
    func postgresPipeline() async throws {
        try await offThePool {
            let proxy = try FreezableProxy(forwardingTo: TestServers.postgresURL)
            defer { proxy.stop() }
            let connection = try PostgresConnection(
                url: proxy.redirect(TestServers.postgresURL), applicationName: "silent-test",
                timeouts: Self.shortPostgres)
            let statements = [PostgresStatement("select $1::int as n", [1]), PostgresStatement("select 2 as n")]
            #expect(try connection.pipeline(statements).count == 2)
            proxy.freeze()
            let error = #expect(throws: PostgresError.self) { try connection.pipeline(statements) }
            #expect(error?.code == .timedOut)
            #expect(!connection.isConnected)
        }
    }

    @Test("statement_timeout cancels a slow statement alone and keeps the connection; the URL's own setting wins")
    func statementTimeout() throws {
        let connection = try PostgresConnection(
            url: TestServers.postgresURL, applicationName: "silent-test", timeouts: Self.shortPostgres)
        let error = #expect(throws: PostgresError.self) { try connection.query("select pg_sleep(1.5)") }
        #expect(error?.sqlState == "57014", "canceled by statement_timeout: \(String(describing: error))")
        #expect(error?.isInfrastructureFailure == false)
        #expect(try connection.query("select 1 as one").rows[0].int("one") == 1)

        // An operator's `options=-c statement_timeout=…` is left as it is.
        var components = try #require(URLComponents(string: TestServers.postgresURL))
        components.queryItems =
            (components.queryItems ?? []) + [
                URLQueryItem(name: "options", value: "-c statement_timeout=4500")
            ]
        let own = try PostgresConnection(
            url: try #require(components.string), applicationName: "silent-test", timeouts: Self.shortPostgres)
        #expect(try own.query("select current_setting('statement_timeout') as t").rows[0].string("t") == "4500ms")
        #expect(
            try connection.query("select current_setting('statement_timeout') as t").rows[0].string("t") == "1s")
    }

    // MARK: - AMQP

    private func brokerThrough(_ proxy: FreezableProxy, rpcTimeout: Duration = .seconds(2)) throws -> AMQPConnection {
        var configuration = try AMQPConfiguration(
            urls: proxy.redirect(TestServers.amqpURL), connectionName: "silent-test")
        configuration.rpcTimeout = rpcTimeout
        configuration.writeTimeout = .seconds(2)
        return try AMQPConnection(configuration: configuration)
    }

    /// Runs `body` with a proxy of its own to the broker, a connection through it (2 s deadlines)
    /// and an exclusive queue on a channel of that connection; the proxy is stopped and the
    /// connection closed afterwards.
    private func withQueueThroughProxy(
        _ body: (FreezableProxy, AMQPConnection, UInt16, String) throws -> Void
    ) throws {
        let proxy = try FreezableProxy(forwardingTo: TestServers.amqpURL)
        defer { proxy.stop() }
        let connection = try brokerThrough(proxy)
        defer { connection.close() }
        let channel = try connection.openChannel()
        let queue = TestServers.uniqueName("silent")
        try connection.declareQueue(channel: channel, name: queue, durable: false, exclusive: true)
        try body(proxy, connection, channel, queue)
    }

    @Test("a wait for publisher confirms and a synchronous call to a silent broker fail within their deadlines")
    func brokerReplies() async throws {
        try await offThePool {
            try withQueueThroughProxy { proxy, connection, channel, queue in
                try connection.enableConfirms(channel: channel)

                proxy.freeze()
                _ = try connection.publish(
                    channel: channel, exchange: "", routingKey: queue, properties: AMQPProperties(), body: [1, 2, 3])
                let confirmStarted = ContinuousClock.now
                let unconfirmed = #expect(throws: AMQPError.self) {
                    try connection.waitForConfirms(channel: channel, timeout: .seconds(2))
                }
                #expect(unconfirmed?.code == .timeout)
                #expect(confirmStarted.duration(to: .now) < .seconds(15))

                let rpcStarted = ContinuousClock.now
                let rpc = #expect(throws: AMQPError.self) { try connection.queueStatus(channel: channel, name: queue) }
                let rpcWaited = rpcStarted.duration(to: .now)
                #expect(rpc?.code == .timeout, "\(String(describing: rpc))")
                #expect(rpcWaited < .seconds(15), "waited \(rpcWaited) for a 2 s RPC deadline")
                #expect(!connection.isOpen, "a connection whose reply never came is not reused")
                print(
                    "silent RabbitMQ: confirm wait failed after \(confirmStarted.duration(to: rpcStarted)), rpc after \(rpcWaited)"
                )

                proxy.thaw()
                let again = try brokerThrough(proxy)
                defer { again.close() }
                let status = try again.declareQueue(
                    channel: try again.openChannel(), name: TestServers.uniqueName("silent"), durable: false,
                    exclusive: true)
                #expect(status.messageCount == 0)
            }
        }
    }

    @Test("writes to a broker that stopped reading fail within the write deadline instead of blocking for ever")
    func brokerWrites() async throws {
        try await offThePool {
            try withQueueThroughProxy { proxy, connection, channel, queue in
                proxy.freeze()
                // Enough to fill both sides' socket buffers, after which only the deadline ends the write.
                let body = [UInt8](repeating: 7, count: 256 * 1024)
                let started = ContinuousClock.now
                var sent = 0
                let error = #expect(throws: AMQPError.self) {
                    for _ in 0..<1_000 {
                        _ = try connection.publish(
                            channel: channel, exchange: "", routingKey: queue, mandatory: false,
                            properties: AMQPProperties(), body: body)
                        sent += body.count
                    }
                }
                let waited = started.duration(to: .now)
                #expect(error != nil, "256 MB written to a frozen peer without an error")
                #expect(waited < .seconds(60), "the write failed only after \(waited)")
                print("silent RabbitMQ: write failed after \(waited), \(sent / 1_048_576) MiB buffered")
            }
        }
    }

    @Test(
        "a consumer's publish stuck in a write to a silent broker is answered within the reply deadline; the link then reconnects"
    )
    func brokerLinkReplyDeadline() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            let proxy = try FreezableProxy(forwardingTo: TestServers.amqpURL)
            defer { proxy.stop() }
            var amqp = try AMQPConfiguration(
                urls: proxy.redirect(TestServers.amqpURL), connectionName: "silent-link-test")
            // No write deadline: only the reply deadline can end the stuck write.
            amqp.writeTimeout = nil
            let topology = Topology(exchange: fixture.exchange, queue: fixture.queue, bindings: ["probe.work"])
            let link = BrokerLink(
                configuration: BrokerLink.Configuration(
                    amqp: amqp, topology: topology, declareTopology: true, prefetch: 10, publishTimeout: .seconds(2),
                    reconnectDelays: .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200)),
                    replyTimeout: .seconds(4)),
                logger: .init(label: "silent-link-test"))
            link.start()
            defer { link.stop() }
            try waitUntil("the link to connect", { link.isConnected }) { $0 }

            proxy.freeze()
            var thawed = false
            defer { if !thawed { proxy.thaw() } }
            // More than the socket buffers on both sides hold: the I/O thread blocks in the write.
            let big = BrokerLink.Publication(
                exchange: fixture.exchange, routingKey: "probe.nobody", properties: AMQPProperties(messageID: "big"),
                body: [UInt8](repeating: 7, count: 32 * 1024 * 1024))
            let started = ContinuousClock.now
            let result = link.publish([big])
            let waited = started.duration(to: .now)
            guard case .failure(let error) = result else {
                Issue.record("a publish to a frozen broker succeeded: \(result)")
                return
            }
            #expect(error.code == .timeout, "\(error)")
            #expect(waited < .seconds(30), "the publish was answered only after \(waited)")
            print("silent RabbitMQ: a stuck publish answered after \(waited)")

            proxy.thaw()
            thawed = true
            let small = BrokerLink.Publication(
                exchange: fixture.exchange, routingKey: "probe.nobody", properties: AMQPProperties(messageID: "small"),
                body: [1])
            try waitUntil("a publish to succeed once the broker answers", timeout: .seconds(30)) {
                if case .success = link.publish([small]) { return true }
                return false
            } until: {
                $0
            }
        }
    }
}
