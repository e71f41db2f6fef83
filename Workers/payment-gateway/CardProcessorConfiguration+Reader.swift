import CardProcessor
import Configuration
import WorkerRuntime

extension CardProcessorConfiguration {
    /// Reads the keys of docs/payment-gateway.md, each overridable by its environment variable
    /// (`api.key` → `API_KEY`): `api.key` (secret, required), `database.url` (secret, required),
    /// `database.poolSize` (8), `http.host` (127.0.0.1), `http.port` (9180), `admin.port` (9181,
    /// -1 = off), `request.maxBodyBytes` (65536), `faults.errorRate` (0), `faults.latencyMs` (0),
    /// `faults.retryAfterSeconds` (-1 = no `Retry-After` on the injected 503s).
    /// - Throws: ``WorkerConfigurationError`` naming the key of a missing or invalid value.
    init(reader: ConfigReader) throws {
        guard let apiKey = reader.string(forKey: "api.key", isSecret: true), !apiKey.isEmpty else {
            throw WorkerConfigurationError(key: "api.key", problem: "is required (env API_KEY)")
        }
        guard let databaseURL = reader.string(forKey: "database.url", isSecret: true) else {
            throw WorkerConfigurationError(key: "database.url", problem: "is required (env DATABASE_URL)")
        }
        let poolSize = reader.int(forKey: "database.poolSize", default: 8)
        guard (1...64).contains(poolSize) else {
            throw WorkerConfigurationError(key: "database.poolSize", problem: "must be 1 to 64, not \(poolSize)")
        }
        self.init(apiKey: apiKey, database: DatabasePool.Configuration(url: databaseURL, size: poolSize))
        host = reader.string(forKey: "http.host", default: host)
        port = reader.int(forKey: "http.port", default: port)
        let admin = reader.int(forKey: "admin.port", default: adminPort ?? -1)
        adminPort = admin < 0 ? nil : admin
        guard (0...65_535).contains(port), (adminPort ?? 0) <= 65_535 else {
            throw WorkerConfigurationError(key: "http.port", problem: "and admin.port must be TCP ports")
        }
        maximumBodyBytes = reader.int(forKey: "request.maxBodyBytes", default: maximumBodyBytes)
        guard maximumBodyBytes > 0 else {
            throw WorkerConfigurationError(key: "request.maxBodyBytes", problem: "must be positive")
        }
        faults = Faults(
            errorRate: reader.double(forKey: "faults.errorRate", default: 0),
            latencyMilliseconds: reader.int(forKey: "faults.latencyMs", default: 0))
        let retryAfter = reader.int(forKey: "faults.retryAfterSeconds", default: -1)
        faults.retryAfterSeconds = retryAfter < 0 ? nil : retryAfter
        if let problem = faults.validationProblem {
            throw WorkerConfigurationError(key: "faults", problem: problem)
        }
    }
}
