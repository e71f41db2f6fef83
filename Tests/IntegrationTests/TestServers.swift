import AMQP
import Foundation
import Postgres
import Testing

/// Where the integration tests find the real servers: environment variables with loopback
/// defaults, matching what `scripts/services.sh up` starts.
enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let howToStart = "start the servers with `scripts/services.sh up` (the test command does this itself)"

    static var amqpURL: String {
        environment["COMMERCE_TEST_AMQP_URL"] ?? "amqp://commerce:commerce@127.0.0.1:5672/%2F"
    }

    /// The password of the parties' broker users that `scripts/services.sh up` creates
    /// (config/broker-identities.tsv; docs/security.md).
    static var identityPassword: String {
        environment["COMMERCE_TEST_AMQP_IDENTITY_PASSWORD"] ?? "commerce"
    }

    /// A new broker connection as `user`, one of the parties' users (docs/security.md), on the
    /// test broker's address.
    static func amqp(_ name: String, user: String) throws -> AMQPConnection {
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

    /// The database the tests may create tables and databases in.
    static var postgresURL: String {
        environment["COMMERCE_TEST_POSTGRES_URL"]
            ?? "postgresql://commerce:commerce@127.0.0.1:5432/commerce_test?connect_timeout=5"
    }

    /// A new broker connection, or a failure that says how to start the broker.
    static func amqp(_ name: String = "integration-test") throws -> AMQPConnection {
        do {
            return try AMQPConnection(configuration: AMQPConfiguration(urls: amqpURL, connectionName: name))
        } catch {
            Issue.record("RabbitMQ is not reachable at \(amqpURL): \(error). \(howToStart)")
            throw error
        }
    }

    /// A new PostgreSQL connection, or a failure that says how to start PostgreSQL.
    static func postgres(url: String = postgresURL) throws -> PostgresConnection {
        do {
            return try PostgresConnection(url: url, applicationName: "integration-test")
        } catch {
            Issue.record("PostgreSQL is not reachable at \(url): \(error). \(howToStart)")
            throw error
        }
    }

    /// A name no other test (or earlier run) uses: `prefix-1a2b3c4d`.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// Waits for `condition` with a deadline instead of sleeping for a guessed time; returns the last
/// value seen so a failure can say what it saw.
@discardableResult
func waitUntil<T>(
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
