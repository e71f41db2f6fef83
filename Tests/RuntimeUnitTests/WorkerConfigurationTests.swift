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
