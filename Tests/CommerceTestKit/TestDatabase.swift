import Foundation
import Postgres

/// A PostgreSQL database of one test's own on the test server (``TestServers/postgresURL``),
/// created at once and dropped, with its connections, when released.
public final class TestDatabase {
    public let name: String
    /// The database's URL: the test server's, with this database.
    public let url: String
    private let admin: PostgresConnection

    /// - Parameter prefix: the start of the generated name (`gw` makes `gw_1a2b3c4d`).
    public convenience init(prefix: String = "test") throws {
        try self.init(name: "\(prefix)_\(TestServers.uniqueSuffix())")
    }

    /// Creates `name`, which the caller makes from constants and a random suffix.
    init(name: String, admin: PostgresConnection? = nil) throws {
        self.name = name
        self.admin = try admin ?? TestServers.postgres()
        // Generated name, never input: identifiers cannot be statement parameters.
        try self.admin.query("create database \(name)")
        url = TestServers.postgresURL(database: name)
    }

    deinit {
        _ = try? admin.query("drop database if exists \(name) with (force)")
    }
}
