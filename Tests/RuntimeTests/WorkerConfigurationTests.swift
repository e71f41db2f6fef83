import Configuration
import Postgres
import Testing
import WorkerRuntime

@Suite("Worker configuration: database.planning")
struct WorkerConfigurationTests {
    private func configuration(_ values: [AbsoluteConfigKey: ConfigValue]) throws -> WorkerConfiguration {
        var all: [AbsoluteConfigKey: ConfigValue] = ["database.url": "postgresql://127.0.0.1/x"]
        all.merge(values) { $1 }
        return try WorkerConfiguration(
            reader: ConfigReader(provider: InMemoryProvider(values: all)), appID: "test-worker",
            defaultQueue: "test-worker", defaultBindings: [])
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
        let all = ["DATABASE_URL": "postgresql://127.0.0.1/x"].merging(environment) { $1 }
        return try WorkerConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: all)),
            appID: "order-worker", defaultQueue: "order-worker", defaultBindings: [])
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
