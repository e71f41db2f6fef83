import AMQP
import Configuration
import Postgres
import Testing
import WorkerRuntime

/// A worker's configuration from `values` over a database URL, as the in-memory provider reads them.
private func workerConfiguration(values: [AbsoluteConfigKey: ConfigValue]) throws -> WorkerConfiguration {
    var all: [AbsoluteConfigKey: ConfigValue] = ["database.url": "postgresql://127.0.0.1/x"]
    all.merge(values) { $1 }
    return try WorkerConfiguration(
        reader: ConfigReader(provider: InMemoryProvider(values: all)), appID: "test-worker",
        defaultQueue: "test-worker", defaultBindings: [])
}

/// A worker's configuration from `environment` over a database URL, for the worker `appID`.
private func workerConfiguration(environment: [String: String], appID: String) throws -> WorkerConfiguration {
    let all = ["DATABASE_URL": "postgresql://127.0.0.1/x"].merging(environment) { $1 }
    return try WorkerConfiguration(
        reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: all)),
        appID: appID, defaultQueue: appID, defaultBindings: [])
}

@Suite("Worker configuration: database.planning")
struct WorkerConfigurationTests {
    private func configuration(_ values: [AbsoluteConfigKey: ConfigValue]) throws -> WorkerConfiguration {
        try workerConfiguration(values: values)
    }

    @Test("generic by default; auto and per-execution on request")
    func planningNames() throws {
        #expect(try configuration([:]).statementPlanning == .generic)
        #expect(try configuration(["database.planning": "generic"]).statementPlanning == .generic)
        #expect(try configuration(["database.planning": "auto"]).statementPlanning == .auto)
        #expect(try configuration(["database.planning": "per-execution"]).statementPlanning == .perExecution)
    }

    @Test("another value is refused, naming the key and the value")
    func planningRefused() throws {
        let error = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["database.planning": "cached"])
        }
        #expect(error?.key == "database.planning")
        #expect("\(error.map { "\($0)" } ?? "")".contains("'cached'"))
    }
}

@Suite("Worker configuration: identity.*")
struct IdentityConfigurationTests {
    private func configuration(_ environment: [String: String]) throws -> WorkerConfiguration {
        try workerConfiguration(environment: environment, appID: "order-worker")
    }

    @Test("by default each party is the local setup's user")
    func defaults() throws {
        let senders = try configuration([:]).senders
        #expect(senders.users["payment-worker"] == ["payment-worker"])
        #expect(senders.users["operator"] == ["commerce-operator", "commerce"])
        #expect(senders.users["upstream"] == ["upstream"])
        #expect(senders.problem(type: "payment.succeeded", userID: "payment-worker") == nil)
    }

    @Test("IDENTITY_PAYMENT_WORKER and IDENTITY_OPERATOR name the users, comma-separated")
    func fromEnvironment() throws {
        let senders = try configuration([
            "IDENTITY_PAYMENT_WORKER": "pay-prod-1, pay-prod-2", "IDENTITY_OPERATOR": "alice",
        ]).senders
        #expect(senders.users["payment-worker"] == ["pay-prod-1", "pay-prod-2"])
        #expect(senders.problem(type: "payment.succeeded", userID: "pay-prod-2") == nil)
        #expect(senders.problem(type: "payment.succeeded", userID: "payment-worker") != nil)
        #expect(senders.problem(type: "payment.succeeded", userID: "commerce") != nil, "no longer an operator")
        #expect(senders.problem(type: "payment.succeeded", userID: "alice") == nil)
    }

    @Test("an empty list of users is a configuration error naming the key")
    func emptyRefused() throws {
        let error = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["IDENTITY_UPSTREAM": " , "])
        }
        #expect(error?.key == "identity.upstream")
    }
}

@Suite("Worker configuration: amqp.tls.*")
struct AMQPTLSConfigurationTests {
    private func configuration(_ environment: [String: String]) throws -> WorkerConfiguration {
        try workerConfiguration(environment: environment, appID: "order-worker")
    }

    /// A file that exists, to stand for a CA file.
    private let existingFile = #filePath

    @Test("amqp:// is plain; amqps:// verifies peer and host name, trusting the system's bundle")
    func defaults() throws {
        #expect(try configuration([:]).amqp.tls == nil)
        let tls = try #require(try configuration(["AMQP_URL": "amqps://u:p@broker.example/%2F"]).amqp.tls)
        #expect(tls.verifyPeer && tls.verifyHostname)
        #expect(tls.caCertificatePath == nil)
        #expect(tls.trustedAuthorities == "/etc/ssl/certs/ca-certificates.crt", "Debian's bundle")
        #expect(try configuration(["AMQP_URL": "amqps://u:p@broker.example/%2F"]).amqp.endpoints[0].port == 5671)
    }

    @Test("AMQP_TLS_* set the CA file, the client certificate and the checks")
    func fromEnvironment() throws {
        let tls = try #require(
            try configuration([
                "AMQP_URL": "amqps://u:p@broker.example/%2F", "AMQP_TLS_CA_FILE": existingFile,
                "AMQP_TLS_CERTIFICATE_FILE": existingFile, "AMQP_TLS_KEY_FILE": existingFile,
                "AMQP_TLS_VERIFY_HOSTNAME": "false",
            ]).amqp.tls)
        #expect(tls.caCertificatePath == existingFile && tls.trustedAuthorities == existingFile)
        #expect(tls.certificatePath == existingFile && tls.keyPath == existingFile)
        #expect(tls.verifyPeer && !tls.verifyHostname)
    }

    @Test("RabbitMQ's URL parameters cacertfile and verify work too")
    func fromURL() throws {
        let tls = try #require(
            try AMQPConfiguration(urls: "amqps://u:p@h/%2F?cacertfile=/etc/ca.pem&verify=verify_none").tls)
        #expect(tls.caCertificatePath == "/etc/ca.pem")
        #expect(!tls.verifyPeer && !tls.verifyHostname)
        #expect(throws: AMQPError.self) { try AMQPConfiguration(urls: "amqp://u:p@h/%2F?cacertfile=/etc/ca.pem") }
        #expect(throws: AMQPError.self) { try AMQPConfiguration(urls: "amqps://h1/%2F,amqp://h2/%2F") }
    }

    @Test("a missing CA file, a key without its certificate, or TLS keys with amqp:// are configuration errors")
    func refused() throws {
        let missing = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["AMQP_URL": "amqps://u:p@h/%2F", "AMQP_TLS_CA_FILE": "/nonexistent/ca.pem"])
        }
        #expect("\(missing.map { "\($0)" } ?? "")".contains("CA file /nonexistent/ca.pem does not exist"))
        #expect(throws: WorkerConfigurationError.self) {
            try configuration(["AMQP_URL": "amqps://u:p@h/%2F", "AMQP_TLS_KEY_FILE": existingFile])
        }
        let plain = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["AMQP_URL": "amqp://u:p@h/%2F", "AMQP_TLS_CA_FILE": existingFile])
        }
        #expect(plain?.key == "amqp.tls.caFile")
        let url = #expect(throws: WorkerConfigurationError.self) { try configuration(["AMQP_URL": "http://h/"]) }
        #expect(url?.key == "amqp.url")
    }
}

@Suite("Worker configuration: deadlines")
struct DeadlineConfigurationTests {
    private func configuration(_ environment: [String: String]) throws -> WorkerConfiguration {
        try workerConfiguration(environment: environment, appID: "probe-worker")
    }

    @Test("every deadline has a default, and the environment sets each")
    func settings() throws {
        let defaults = try configuration([:])
        #expect(defaults.postgresTimeouts.connect == .seconds(10))
        #expect(defaults.postgresTimeouts.roundTrip == .seconds(30))
        #expect(defaults.postgresTimeouts.statement == .seconds(20))
        #expect(defaults.databaseServerSelectionTimeout == .seconds(5))
        #expect(defaults.amqp.rpcTimeout == .seconds(30))
        #expect(defaults.amqp.writeTimeout == .seconds(30))
        #expect(defaults.brokerReplyTimeout == .seconds(60))
        let set = try configuration([
            "DATABASE_CONNECT_TIMEOUT_MS": "2000", "DATABASE_ROUND_TRIP_TIMEOUT_MS": "3000",
            "DATABASE_STATEMENT_TIMEOUT_MS": "2500", "DATABASE_SERVER_SELECTION_TIMEOUT_MS": "1500",
            "AMQP_RPC_TIMEOUT_MS": "4000", "AMQP_WRITE_TIMEOUT_MS": "5000", "CONSUMER_PUBLISH_TIMEOUT_MS": "3000",
            "CONSUMER_BROKER_REPLY_TIMEOUT_MS": "6000",
        ])
        #expect(set.postgresTimeouts.connect == .seconds(2))
        #expect(set.postgresTimeouts.roundTrip == .seconds(3))
        #expect(set.postgresTimeouts.tcpUser == .seconds(3))
        #expect(set.postgresTimeouts.statement == .milliseconds(2500))
        #expect(set.databaseServerSelectionTimeout == .milliseconds(1500))
        #expect(set.amqp.rpcTimeout == .seconds(4))
        #expect(set.amqp.writeTimeout == .seconds(5))
        #expect(set.brokerReplyTimeout == .seconds(6))
    }

    @Test("a statement timeout not below the round trip, or a reply timeout not above the publish timeout, is refused")
    func ordering() throws {
        let statement = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["DATABASE_ROUND_TRIP_TIMEOUT_MS": "3000", "DATABASE_STATEMENT_TIMEOUT_MS": "3000"])
        }
        #expect(statement?.key == "database.statementTimeoutMs")
        let reply = #expect(throws: WorkerConfigurationError.self) {
            try configuration(["CONSUMER_BROKER_REPLY_TIMEOUT_MS": "30000"])
        }
        #expect(reply?.key == "consumer.brokerReplyTimeoutMs")
        let zero = #expect(throws: WorkerConfigurationError.self) { try configuration(["AMQP_WRITE_TIMEOUT_MS": "0"]) }
        #expect(zero?.key == "amqp.writeTimeoutMs")
    }
}

@Suite("Worker configuration: outbox parking and delivery limit")
struct OutboxConfigurationTests {
    private func configuration(_ values: [AbsoluteConfigKey: ConfigValue]) throws -> WorkerConfiguration {
        try workerConfiguration(values: values)
    }

    @Test("defaults: parked after 10 failures, at most 5 min between tries, delivery limit 1,000")
    func defaults() throws {
        let configuration = try configuration([:])
        #expect(configuration.outboxParkAfterAttempts == 10)
        #expect(configuration.outboxRetryMaxDelay == .seconds(300))
        #expect(configuration.topology.deliveryLimit == 1_000)
    }

    @Test("outbox.parkAfterAttempts and outbox.retryMaxDelayMs are read; zero is refused, naming the key")
    func read() throws {
        let configuration = try configuration(["outbox.parkAfterAttempts": 3, "outbox.retryMaxDelayMs": 60_000])
        #expect(configuration.outboxParkAfterAttempts == 3)
        #expect(configuration.outboxRetryMaxDelay == .seconds(60))
        let error = #expect(throws: WorkerConfigurationError.self) {
            try self.configuration(["outbox.parkAfterAttempts": 0])
        }
        #expect(error?.key == "outbox.parkAfterAttempts")
    }
}

@Suite("Worker configuration: queue.quorumInitialGroupSize")
struct QuorumGroupSizeConfigurationTests {
    private func configuration(_ environment: [String: String]) throws -> WorkerConfiguration {
        let all = ["DATABASE_URL": "postgresql://127.0.0.1/x"].merging(environment) { $1 }
        return try WorkerConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: all)),
            appID: "test-worker", defaultQueue: "test-worker", defaultBindings: [])
    }

    @Test("unset by default (the broker's default); QUEUE_QUORUM_INITIAL_GROUP_SIZE sets it on every quorum queue")
    func read() throws {
        #expect(try configuration([:]).topology.quorumInitialGroupSize == nil)
        let topology = try configuration(["QUEUE_QUORUM_INITIAL_GROUP_SIZE": "3"]).topology
        #expect(topology.quorumInitialGroupSize == 3)
        #expect(topology.queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == .int(3) })
    }

    @Test("zero or a negative size is refused, naming the key")
    func refused() throws {
        for value in ["0", "-3"] {
            let error = #expect(throws: WorkerConfigurationError.self) {
                try configuration(["QUEUE_QUORUM_INITIAL_GROUP_SIZE": value])
            }
            #expect(error?.key == "queue.quorumInitialGroupSize")
        }
    }
}
