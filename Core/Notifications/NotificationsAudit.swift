import Mongo

/// Counts the stored notifications per order and event type and finds the duplicates, for
/// `commerce audit` (docs/saga.md, "Invariants", 5: exactly one notification per terminal order
/// event, none duplicated).
///
/// The `_id` index already refuses a second document for one event message; a duplicate found
/// here means the same event was *emitted* twice under two message ids, which is an upstream
/// worker's bug, not this one's.
public enum NotificationsAudit {
    /// Reads `collection` (only `_id`, `order_id` and `event_type` of each document) and tallies
    /// it. Blocks, on the collection's thread.
    public static func audit(_ collection: MongoCollection) throws(MongoError) -> NotificationsAuditReport {
        // A projection keeps the read small; the collection has one document per terminal event,
        // so reading ids and keys is cheaper than the aggregation this wrapper cannot send.
        let documents = try collection.find([:], projection: ["_id": 1, "order_id": 1, "event_type": 1])
        return tally(documents)
    }

    /// The report of `documents` (notification documents, or their projection). Pure.
    public static func tally(_ documents: some Sequence<Document>) -> NotificationsAuditReport {
        var ids: [NotificationsAuditReport.Key: [String]] = [:]
        var malformed: [String] = []
        for document in documents {
            let id = describe(document["_id"])
            guard let orderID = document["order_id"]?.stringValue, let eventType = document["event_type"]?.stringValue
            else {
                malformed.append(id)
                continue
            }
            ids[NotificationsAuditReport.Key(orderID: orderID, eventType: eventType), default: []].append(id)
        }
        let duplicates = ids.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }.map {
            NotificationsAuditReport.Duplicate(key: $0.key, count: $0.value.count, messageIDs: $0.value.sorted())
        }
        return NotificationsAuditReport(
            counts: ids.mapValues(\.count), duplicates: duplicates, malformedIDs: malformed.sorted())
    }

    /// An `_id` as text: the runtime writes message ids (strings); anything else is shown as is.
    private static func describe(_ id: BSONValue?) -> String {
        guard let id else { return "(no _id)" }
        return id.stringValue ?? "\(id)"
    }
}
