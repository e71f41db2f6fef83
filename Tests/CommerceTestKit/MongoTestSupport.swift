import Foundation
import Mongo
import Testing

/// Shared setup of the MongoDB integration tests: the server's URL and a fresh database per
/// test, dropped afterwards.
public enum MongoTestSupport {
    /// The server's URL: ``TestServers/mongoURL``.
    public static var url: String { TestServers.mongoURL }

    /// A client whose server has answered a ping. Records a failure that says how to start the
    /// server when it does not answer: these tests never skip.
    public static func connectedClient() throws -> MongoClient {
        let client = try MongoClient(
            configuration: .init(uri: url, appName: "commerce-integration-tests", serverSelectionTimeout: .seconds(3)))
        do {
            try client.ping()
        } catch {
            // Only an unreachable server gets the hint; other failures speak for themselves.
            // The URL is left out: it may hold credentials.
            if error.code == .connectionFailed {
                Issue.record(
                    "MongoDB (COMMERCE_TEST_MONGO_URL or \(MongoClient.Configuration.defaultURI)) is unreachable: \(error). Start it with scripts/services.sh up"
                )
            }
            throw error
        }
        return client
    }

    /// Runs `body` with a collection in a database of its own (random name), then drops the
    /// database whatever happened.
    public static func withTemporaryCollection<Result>(
        _ body: (MongoCollection) throws -> Result
    ) throws -> Result {
        let client = try connectedClient()
        let suffix = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
        let database = "commerce_test_\(suffix)"
        defer {
            do {
                try client.dropDatabase(database)
            } catch {
                Issue.record("could not drop test database \(database): \(error)")
            }
        }
        return try body(client.collection("notifications_\(suffix)", in: database))
    }
}
