import CommerceMessages
import CommerceTestKit
import Foundation
import Postgres
import Testing

/// No password in any output (docs/security.md, "Secrets"): a whole fleet runs under a broker user,
/// a PostgreSQL role and a card-processor API key made for this test, with secrets nobody else
/// uses; then every log line, `/metrics` and `/health` answer, every operator command's output
/// (errors included) and every help text is searched for them.
@Suite("No secret in any output")
struct SecretsInOutputTests {
    /// Random letters and digits, so that a secret cannot occur by chance and needs no quoting.
    static func secret(_ prefix: String) -> String {
        prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }

    /// Runs `sql` as the PostgreSQL superuser, as `scripts/services.sh` does (the tests' own role
    /// may not create roles).
    static func superuser(_ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["su", "postgres", "-c", "psql -X -q -v ON_ERROR_STOP=1"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(sql.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "psql as postgres failed on: \(sql.prefix(60))")
    }

    /// `url` with its user and password replaced.
    static func url(_ url: String, user: String, password: String) throws -> String {
        var components = try #require(URLComponents(string: url))
        components.user = user
        components.password = password
        return try #require(components.string)
    }

    /// Every subcommand path of a tool (`commerce` or `commerce-lab`), read from its help
    /// (`["dlq", "list"]` …).
    static func subcommands(
        _ path: [String] = [], run: ([String]) throws -> CommerceRun = { try runCommerce($0) }
    ) throws -> [[String]] {
        let help = try run(["help"] + path).stdout
        guard path.count < 3, let start = help.range(of: "SUBCOMMANDS:\n") else { return [path] }
        var found: [[String]] = [path]
        // One subcommand per line, indented by two spaces; its description's further lines are
        // indented more; a blank line ends the section.
        for line in help[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first,
                name != "help", !path.contains(String(name))
            else { continue }
            found += try subcommands(path + [String(name)], run: run)
        }
        return found
    }

    @Test("a fleet run with secrets of its own prints none of them: logs, /metrics, /health, command output, help")
    func noSecretAnywhere() async throws {
        try await offThePool {
            let id = UUID().uuidString.prefix(8).lowercased()
            let brokerUser = "leak-\(id)"
            let brokerPassword = Self.secret("bp")
            let role = "leak_\(id)"
            let rolePassword = Self.secret("dp")
            try run("rabbitmqctl", "add_user", brokerUser, brokerPassword)
            defer { _ = try? run("rabbitmqctl", "delete_user", brokerUser) }
            try run("rabbitmqctl", "set_permissions", "-p", "/", brokerUser, "'.*'", "'.*'", "'.*'")
            try Self.superuser("create role \(role) login password '\(rolePassword)'")
            defer { try? Self.superuser("drop role if exists \(role)") }

            let saga = SagaDriver()
            let fixture = try ServiceFixture(watching: [.orderConfirmed, .orderCancelled, .orderRejected])
            var databases: [String: String] = [:]
            var names: [String] = []
            for service in ["orders", "inventory", "payments", "gateway"] {
                let url = try fixture.databaseURL(for: service)
                let name = try #require(URLComponents(string: url)?.path.dropFirst()).description
                try Self.superuser("alter database \(name) owner to \(role)")
                names.append(name)
                databases[service] = try Self.url(url, user: role, password: rolePassword)
            }
            // Back to the fixture's role before it drops them (and before the role goes).
            let owner = try #require(URLComponents(string: TestServers.postgresURL)?.user)
            defer {
                for name in names {
                    try? Self.superuser(
                        "reassign owned by \(role) to \(owner); alter database \(name) owner to \(owner)")
                }
                withExtendedLifetime(fixture) {}
            }
            let amqpURL = try Self.url(TestServers.amqpURL, user: brokerUser, password: brokerPassword)
            var common = ["AMQP_URL": amqpURL]
            for key in [
                "IDENTITY_ORDER_WORKER", "IDENTITY_STOCK_WORKER", "IDENTITY_PAYMENT_WORKER",
                "IDENTITY_NOTIFICATION_WORKER",
            ] {
                common[key] = brokerUser
            }
            let gateway = try fixture.startGateway(["DATABASE_URL": databases["gateway"]!])
            let apiKey = try #require(gateway["PAYMENT_HTTP_API_KEY"])
            let seed = FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(id).json")
            try Data(#"{"stock":[{"sku":"KB-001","quantity":5}]}"#.utf8).write(to: seed)
            defer { try? FileManager.default.removeItem(at: seed) }
            let settings: [String: [String: String]] = [
                "order-worker": ["DATABASE_URL": databases["orders"]!],
                "stock-worker": ["DATABASE_URL": databases["inventory"]!, "STOCK_SEED_FILE": seed.path],
                "payment-worker": gateway.merging(["DATABASE_URL": databases["payments"]!]) { $1 },
                "notification-worker": ["DATABASE_URL": TestServers.mongoURL, "DATABASE_NAME": fixture.mongoDatabase],
            ]
            var workers: [WorkerProcess] = []
            for (worker, values) in settings {
                workers.append(try fixture.startWorker(worker, common.merging(values) { $1 }))
            }
            let approved = saga.order([("KB-001", 1, 60_000)])
            let declined = saga.order([("KB-001", 1, 60_000)], token: "tok_decline")
            try fixture.publish(approved)
            try fixture.publish(declined)
            _ = try saga.terminalEvents(fixture, count: 2)

            // The operator's commands, with the secrets in the environment and in options.
            // Secrets in the environment, and the broker URL's in a file (`AMQP_URL_FILE`), as a
            // careful operator keeps them out of `ps`.
            let urlFile = FileManager.default.temporaryDirectory.appendingPathComponent("amqp-url-\(id)")
            try Data((amqpURL + "\n").utf8).write(to: urlFile)
            defer { try? FileManager.default.removeItem(at: urlFile) }
            let environment = [
                "AMQP_URL": "", "AMQP_URL_FILE": urlFile.path, "PAYMENT_HTTP_URL": gateway["PAYMENT_HTTP_URL"]!,
                "PAYMENT_HTTP_API_KEY": apiKey, "MONGO_URL": TestServers.mongoURL,
                "ORDERS_DATABASE_URL": databases["orders"]!, "INVENTORY_DATABASE_URL": databases["inventory"]!,
                "PAYMENTS_DATABASE_URL": databases["payments"]!,
            ]
            let stores = ["--mongo-database", fixture.mongoDatabase]
            let queues = settings.keys.flatMap { ["--queue", fixture.queue(of: $0)] }
            var outputs: [(String, String)] = []
            func command(_ arguments: [String], _ extra: [String: String] = [:], succeeds: Bool? = true) throws {
                let run = try runCommerce(arguments, environment: environment.merging(extra) { $1 })
                let name = arguments.prefix(2).joined(separator: " ")
                outputs.append((name, run.stdout + run.stderr))
                if let succeeds {
                    #expect((run.status == 0) == succeeds, "\(name) exited \(run.status): \(run.stderr.suffix(300))")
                }
            }
            try command(["queues"] + queues)
            try command(
                ["status", "--interval", "0.2"] + queues
                    + workers.flatMap { ["--worker", "http://127.0.0.1:\($0.httpPort)"] })
            try command(["audit"] + stores)
            try command(["order", "show", approved.orderID] + stores + queues)
            try command(["order", "list"])
            try command(["dlq", "list"] + queues)
            try command(["dlq", "summary"] + queues)
            try command(["place-order", "--sample", "1", "--exchange", fixture.exchange])
            try command(["setup", "--dry-run"])
            // Failures print the URL they could not reach: with the password masked.
            try command(
                ["queues"],
                ["AMQP_URL": "amqp://\(brokerUser):\(brokerPassword)@127.0.0.1:1/%2F", "AMQP_URL_FILE": ""],
                succeeds: false)
            try command(
                ["audit"], ["ORDERS_DATABASE_URL": "postgresql://\(role):\(rolePassword)@127.0.0.1:1/orders"],
                succeeds: false)
            try command(["audit"] + stores, ["PAYMENT_HTTP_URL": "http://127.0.0.1:1"], succeeds: false)
            for path in try Self.subcommands() {
                try command(["help"] + path, succeeds: nil)
            }
            let labPaths = try Self.subcommands(run: { try runCommerceLab($0) })
            #expect(labPaths.count > 5, "commerce-lab's subcommands: \(labPaths)")
            for path in labPaths {
                let run = try runCommerceLab(["help"] + path, environment: environment)
                outputs.append(("commerce-lab help \(path.joined(separator: " "))", run.stdout + run.stderr))
            }

            var places = outputs
            for worker in workers {
                places.append(("log of \(worker.logURL.lastPathComponent)", worker.log))
                for path in ["/metrics", "/health/ready", "/health/live"] {
                    places.append(("\(path) of \(worker.logURL.lastPathComponent)", worker.http(path)?.1 ?? ""))
                }
            }
            places.append(("payment-gateway log", fixture.gateway?.log ?? ""))
            #expect(places.count > 40)
            for (place, text) in places {
                for (name, secret) in [
                    ("broker password", brokerPassword), ("database password", rolePassword), ("API key", apiKey),
                ] {
                    #expect(!text.contains(secret), "the \(name) appears in \(place)")
                }
                // A help text's default URL is shown with its password masked too.
                #expect(
                    text.firstMatch(of: /:\/\/[^\/\s:@]+:(?!\*\*\*@)[^@\s\/]+@/) == nil,
                    "a URL with a password in \(place): \(text.prefix(300))")
            }
        }
    }
}
