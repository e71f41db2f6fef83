/// Everything the card processor needs to run; read from `config/payment-gateway.json` and the
/// environment by the `payment-gateway` executable (docs/payment-gateway.md lists the keys).
public struct CardProcessorConfiguration: Sendable {
    /// The API listener's address. Default 127.0.0.1.
    public var host: String
    /// The API listener's port (`/v1/…`, `/health`, `/metrics`). Default 9180.
    public var port: Int
    /// The admin listener's port (`/admin/faults`), always bound to 127.0.0.1 so fault injection
    /// is never reachable from another machine; `nil` = no admin listener. Default 9181.
    public var adminPort: Int?
    /// The secret API key callers send as `Authorization: Bearer <key>`. Never logged.
    public var apiKey: String
    /// The `gateway` database and the pool size.
    public var database: DatabasePool.Configuration
    /// The largest request body accepted (413 above it). Default 64 KiB.
    public var maximumBodyBytes: Int
    /// Faults in force at start (changed later through the admin listener). Default none.
    public var faults: Faults

    /// A configuration with the defaults above.
    public init(
        apiKey: String, database: DatabasePool.Configuration, host: String = "127.0.0.1", port: Int = 9180,
        adminPort: Int? = 9181, maximumBodyBytes: Int = 65_536, faults: Faults = .none
    ) {
        self.apiKey = apiKey
        self.database = database
        self.host = host
        self.port = port
        self.adminPort = adminPort
        self.maximumBodyBytes = maximumBodyBytes
        self.faults = faults
    }
}
