import AMQP
import Foundation
import Mongo
import Postgres
import Testing

/// Where the tests find the real servers: every server URL the tests use comes from here, read
/// from an environment variable with the loopback default that `scripts/services.sh up` starts.
///
/// | variable | default |
/// | --- | --- |
/// | `COMMERCE_TEST_AMQP_URL` | `amqp://commerce:commerce@127.0.0.1:5672/%2F` |
/// | `COMMERCE_TEST_AMQP_IDENTITY_PASSWORD` | `commerce` |
/// | `COMMERCE_TEST_POSTGRES_URL` | `postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5` |
/// | `COMMERCE_TEST_MONGO_URL` | `mongodb://127.0.0.1:27017/?retryWrites=false` |
///
/// A database of a test's own lives on the server of `COMMERCE_TEST_POSTGRES_URL`, with its
/// credentials and options: ``postgresURL(database:)``.
public enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    public static let howToStart = "start the servers with `scripts/services.sh up` (the test command does this itself)"

    public static var amqpURL: String {
        environment["COMMERCE_TEST_AMQP_URL"] ?? "amqp://commerce:commerce@127.0.0.1:5672/%2F"
    }

    /// The password of the parties' broker users that `scripts/services.sh up` creates
    /// (config/broker-identities.tsv; docs/security.md).
    public static var identityPassword: String {
        environment["COMMERCE_TEST_AMQP_IDENTITY_PASSWORD"] ?? "commerce"
    }

    /// The database the tests may create tables and databases in.
    public static var postgresURL: String {
        environment["COMMERCE_TEST_POSTGRES_URL"]
            ?? "postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5"
    }

    /// ``postgresURL`` with its database replaced by `database`: same servers, user and options.
    /// A libpq URL may name several hosts (`postgresql://u:p@h1:5432,h2:5432/db?…`, the cluster
    /// of docs/cluster.md), which is no URL Foundation parses: the path is replaced as text.
    public static func postgresURL(database: String) -> String {
        let url = postgresURL
        guard let scheme = url.range(of: "://"),
            let pathStart = url[scheme.upperBound...].firstIndex(of: "/")
        else {
            Issue.record("COMMERCE_TEST_POSTGRES_URL is not a URL (postgresql://user:password@host:port/database)")
            return url
        }
        let pathEnd = url[pathStart...].firstIndex(of: "?") ?? url.endIndex
        return url.replacingCharacters(in: pathStart..<pathEnd, with: "/\(database)")
    }

    /// The MongoDB server (SecantusDB) of the notification store and the message journal.
    public static var mongoURL: String {
        environment["COMMERCE_TEST_MONGO_URL"] ?? MongoClient.Configuration.defaultURI
    }

    /// A new broker connection, or a failure that says how to start the broker.
    public static func amqp(_ name: String = "integration-test") throws -> AMQPConnection {
        do {
            return try AMQPConnection(configuration: AMQPConfiguration(urls: amqpURL, connectionName: name))
        } catch {
            Issue.record("RabbitMQ is not reachable at \(amqpURL): \(error). \(howToStart)")
            throw error
        }
    }

    /// A new broker connection as `user`, one of the parties' users (docs/security.md), on the
    /// test broker's address.
    public static func amqp(_ name: String, user: String) throws -> AMQPConnection {
        var configuration = try AMQPConfiguration(urls: amqpURL, connectionName: name)
        configuration.username = user
        configuration.password = identityPassword
        do {
            return try AMQPConnection(configuration: configuration)
        } catch {
            let hint = "the parties' users are made by `scripts/services.sh up`"
            Issue.record("RabbitMQ refused or did not answer \(user) at \(configuration): \(error); \(hint)")
            throw error
        }
    }

    /// A new PostgreSQL connection, or a failure that says how to start PostgreSQL.
    public static func postgres(url: String = postgresURL) throws -> PostgresConnection {
        do {
            return try PostgresConnection(url: url, applicationName: "integration-test")
        } catch {
            Issue.record("PostgreSQL is not reachable at \(url): \(error). \(howToStart)")
            throw error
        }
    }

    /// A name no other test (or earlier run) uses: `prefix-1a2b3c4d`.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(uniqueSuffix())"
    }

    /// Eight random lowercase hex digits, for names of a test's own.
    public static func uniqueSuffix() -> String {
        String(UUID().uuidString.prefix(8).lowercased())
    }

    /// The package's root folder, found from this file's path (Tests/CommerceTestKit/TestServers.swift):
    /// the tests read `config/` and run `scripts/` from it.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

/// Waits for `condition` with a deadline instead of sleeping for a guessed time; returns the last
/// value seen so a failure can say what it saw.
@discardableResult
public func waitUntil<T>(
    _ what: String, timeout: Duration = .seconds(20), poll: Duration = .milliseconds(50),
    _ probe: () throws -> T, until condition: (T) -> Bool
) throws -> T {
    let deadline = ContinuousClock.now + timeout
    var last = try probe()
    while !condition(last) {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out after \(timeout) waiting for \(what); last seen: \(last)")
            return last
        }
        Thread.sleep(forTimeInterval: Double(poll.components.attoseconds) / 1e18 + Double(poll.components.seconds))
        last = try probe()
    }
    return last
}
