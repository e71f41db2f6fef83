import CommerceSupport
import Foundation
import Mongo

/// The journal of a MongoDB worker: the collection `message_journal` beside the handler's, in the
/// worker's database, written by ``DocumentStore`` and read by `commerce order show`.
///
/// Each document's `_id` says what it records, so that writing it twice stores it once:
/// `in:<queue>:<message id>` for a message applied, `out:<message id>` for one emitted,
/// `fail:<queue>:<message id>:<attempt>` for a failed attempt.
extension MessageJournal {
    /// The collection's name.
    public static let collection = "message_journal"

    /// Creates the indexes the timeline and retention read by; idempotent, run at every connect.
    static func prepare(_ collection: MongoCollection) throws {
        try collection.createIndex(["correlation_id": 1])
        try collection.createIndex(["committed_at": 1])
    }

    /// The document recording `entry`.
    static func document(_ entry: JournalEntry) -> Document {
        let id: String
        switch entry.outcome {
        case .applied: id = "in:\(entry.queue):\(entry.messageID)"
        case .emitted: id = "out:\(entry.messageID)"
        case .retry, .deadLettered: id = "fail:\(entry.queue):\(entry.messageID):\((entry.attempts ?? 0) + 1)"
        }
        var document: Document = [
            "_id": .string(id), "direction": .string(entry.direction.rawValue),
            "outcome": .string(entry.outcome.rawValue), "message_id": .string(entry.messageID),
            "correlation_id": .string(entry.correlationID), "type": .string(entry.type), "queue": .string(entry.queue),
            "app": .string(entry.app), "host": .string(entry.host), "pid": .int64(Int64(entry.pid)),
            "version": .string(entry.version), "committed_at": .date(entry.committedAt),
        ]
        if let causation = entry.causationID { document["causation_id"] = .string(causation) }
        if let sender = entry.sender { document["sender"] = .string(sender) }
        if let attempts = entry.attempts { document["attempts"] = .int64(Int64(attempts)) }
        if let receivedAt = entry.receivedAt { document["received_at"] = .date(receivedAt) }
        if let errorClass = entry.errorClass { document["error_class"] = .string(errorClass) }
        if let reason = entry.reason { document["reason"] = .string(reason) }
        if let message = entry.errorMessage { document["error_message"] = .string(message) }
        if let delay = entry.retryDelayMilliseconds { document["retry_delay_ms"] = .int64(Int64(delay)) }
        if let trace = entry.traceID { document["trace_id"] = .string(trace) }
        return document
    }

    /// The entry a ``document(_:)`` recorded; `nil` for a document that is not one.
    static func entry(_ document: Document) -> JournalEntry? {
        func text(_ key: String) -> String? { document[key]?.stringValue }
        guard let direction = text("direction").flatMap(JournalEntry.Direction.init(rawValue:)),
            let outcome = text("outcome").flatMap(JournalEntry.Outcome.init(rawValue:)),
            let messageID = text("message_id"), let correlationID = text("correlation_id"), let type = text("type"),
            let queue = text("queue"), let app = text("app"), let host = text("host"),
            let pid = document["pid"]?.intValue, let version = text("version"),
            let committedAt = document["committed_at"]?.dateValue
        else { return nil }
        return JournalEntry(
            direction: direction, outcome: outcome, messageID: messageID, correlationID: correlationID,
            causationID: text("causation_id"), type: type, sender: text("sender"), queue: queue, app: app, host: host,
            pid: pid, version: version, attempts: document["attempts"]?.intValue,
            receivedAt: document["received_at"]?.dateValue, committedAt: committedAt, errorClass: text("error_class"),
            reason: text("reason"), errorMessage: text("error_message"),
            retryDelayMilliseconds: document["retry_delay_ms"]?.intValue, traceID: text("trace_id"))
    }

    /// Every entry of the saga `correlationID` in `collection`, oldest first.
    /// - Throws: ``MongoError`` when the collection cannot be read.
    public static func entries(correlationID: String, in collection: MongoCollection) throws -> [JournalEntry] {
        try collection.find(["correlation_id": .string(correlationID)], sort: ["committed_at": 1]).compactMap(entry)
    }

    /// Deletes the documents written longer than `retention` ago (a `delete` command: the
    /// collection wrapper has no `deleteMany`); returns how many.
    static func deleteOlder(than retention: Duration, in database: String, client: MongoClient) throws -> Int {
        let cutoff = Date().addingTimeInterval(-retention.seconds)
        let reply = try client.runCommand(
            [
                "delete": .string(collection),
                "deletes": [["q": ["committed_at": ["$lt": .date(cutoff)]], "limit": .int32(0)]],
            ], database: database)
        return reply["n"]?.intValue ?? 0
    }
}
