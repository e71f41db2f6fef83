import Foundation
import Mongo
import Ordering
import Postgres
import WorkerRuntime

/// One order and its saga across the fleet: the order as the order-worker stored it and the
/// timeline of its messages, from the message journal of each of the four stores and the dead
/// letters still queued (docs/architecture.md, "The message journal"). What `commerce order
/// show` reports.
///
/// Read-only. A source that cannot be read is named in ``problems`` and the others are still
/// read, so that a partial history is still shown.
public struct OrderHistory: Sendable {
    /// The order, `nil` when the orders database does not hold it (or could not be read).
    public var order: OrderDetails?
    public var timeline: SagaTimeline
    /// The sources that could not be read, each with why: the history is then incomplete.
    public var problems: [String]

    /// Whether nothing knows the order: no stored order and no step, with every source read.
    public var isUnknown: Bool { order == nil && timeline.steps.isEmpty && problems.isEmpty }

    /// Reads the history of the order `id` (the saga's correlation id) from `stores`, connecting
    /// as `applicationName`. `deadLetters` reads the dead letters to search (`nil`: the journals
    /// only); what it throws is reported as a problem of the dead-letter queues.
    public static func read(
        _ id: String, stores: FleetStores, applicationName: String, deadLetters: (() throws -> [DeadLetter])?
    ) -> OrderHistory {
        var problems: [String] = []
        var order: OrderDetails?
        var sources: [SagaTimeline.Source] = []
        for (name, url) in [("orders", stores.orders), ("inventory", stores.inventory), ("payments", stores.payments)] {
            do {
                let connection = try PostgresConnection(url: url, applicationName: applicationName)
                defer { connection.close() }
                if name == "orders" {
                    if try OrderView.tableExists(in: connection) {
                        order = try OrderView.read(id, from: connection).map(OrderDetails.init)
                    }
                }
                sources.append(
                    .init(name: name, entries: try MessageJournal.entries(correlationID: id, on: connection)))
            } catch {
                problems.append(
                    "the \(name) database at \(OperationFailure.redacted(url)): \(OperationFailure.describe(error))")
            }
        }
        do {
            let client = try MongoClient(
                configuration: .init(
                    uri: stores.mongoURL, appName: applicationName, serverSelectionTimeout: .seconds(5)))
            let collection = client.collection(MessageJournal.collection, in: stores.mongoDatabase)
            sources.append(
                .init(name: "notifications", entries: try MessageJournal.entries(correlationID: id, in: collection)))
        } catch {
            problems.append(
                "MongoDB at \(OperationFailure.redacted(stores.mongoURL)) (database \(stores.mongoDatabase)): "
                    + OperationFailure.describe(error))
        }
        var letters: [DeadLetter] = []
        if let deadLetters {
            do {
                letters = try deadLetters().filter { $0.properties.correlationID == id }
            } catch {
                problems.append("the dead-letter queues: \(error)")
            }
        }
        return OrderHistory(
            order: order, timeline: SagaTimeline(correlationID: id, sources: sources, deadLetters: letters),
            problems: problems)
    }
}
