import Foundation
import Logging
import Mongo

/// The MongoDB store of the batch loop: one document per message (``DocumentHandler``), written
/// with one unordered `insertMany` per batch. The document's `_id` is the inbound message id, so
/// the unique `_id` index is the inbox: a redelivered message is refused with a duplicate-key
/// error and acknowledged as already done. A document the server refuses fails alone; only a
/// connection failure is an outage. The message journal (``MessageJournal``) goes to the
/// `message_journal` collection of the same database, written after the batch's documents and
/// before its acks. See docs/architecture.md, "MongoDB store".
final class DocumentStore<Handler: DocumentHandler>: BatchStore {
    typealias Work = Document

    let kind = "document store"
    private let configuration: WorkerConfiguration
    private let handler: Handler
    private let logger: Logger
    private var client: MongoClient?
    private var collection: MongoCollection?
    private var journalCollection: MongoCollection?
    private let journal: MessageJournal
    private var lastPing = ContinuousClock.now
    private var lastRetention = ContinuousClock.now

    init(configuration: WorkerConfiguration, handler: Handler, logger: Logger) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        journal = MessageJournal(configuration: configuration)
    }

    func connect() throws {
        let client = try MongoClient(
            configuration: MongoClient.Configuration(
                uri: configuration.databaseURL, appName: configuration.appID,
                connectTimeout: configuration.databaseConnectTimeout,
                socketTimeout: configuration.databaseRoundTripTimeout,
                serverSelectionTimeout: configuration.databaseServerSelectionTimeout))
        try client.ping()
        let collection = client.collection(handler.collection, in: configuration.documentDatabase)
        try handler.prepare(collection)
        let journalCollection = client.collection(MessageJournal.collection, in: configuration.documentDatabase)
        try MessageJournal.prepare(journalCollection)
        self.client = client
        self.collection = collection
        self.journalCollection = journalCollection
    }

    func disconnect() {
        collection = nil
        journalCollection = nil
        client = nil
    }

    /// Pings the server every `outbox.relayIntervalMs` while idle, so that an outage shows on
    /// `/health` (and pauses consumption) before a write runs into it; every
    /// `retention.intervalMs`, deletes journal documents past `journal.retentionMs`.
    func maintain(using link: BrokerLink, final: Bool) throws(StoreOutage) {
        guard !final, let client else { return }
        if ContinuousClock.now - lastRetention >= configuration.retentionInterval {
            lastRetention = .now
            do {
                let removed = try MessageJournal.deleteOlder(
                    than: configuration.journalRetention, in: configuration.documentDatabase, client: client)
                if removed > 0 {
                    logger.info("retention removed old journal documents", metadata: ["journal": "\(removed)"])
                }
            } catch {
                logger.warning("journal retention failed", metadata: ["error": "\(error)"])
            }
        }
        guard ContinuousClock.now - lastPing >= configuration.relayInterval else { return }
        lastPing = .now
        do {
            try client.ping()
        } catch {
            if error.code == .connectionFailed { throw StoreOutage(cause: error) }
            logger.warning("document store ping failed", metadata: ["error": "\(error)"])
        }
    }

    func work(for incoming: IncomingMessage) throws(HandlingFailure) -> Document {
        let message: Handler.Message
        do {
            message = try handler.decode(incoming)
        } catch {
            var failure = HandlingFailure.classify(error)
            failure.failureClass = .permanent  // a body that does not decode never will
            throw failure
        }
        do {
            var document = try handler.document(
                for: message, envelope: incoming.envelope, attempts: incoming.attempts)
            document["_id"] = .string(incoming.envelope.messageID)
            return document
        } catch {
            throw HandlingFailure.classify(error)
        }
    }

    func apply(_ batch: [PendingMessage<Document>]) throws(StoreOutage) -> AppliedBatch {
        var outcomes = [MessageOutcome](repeating: .applied, count: batch.count)
        var seen = Set<String>()
        var toWrite: [Int] = []
        for (index, message) in batch.enumerated() {
            if seen.insert(message.incoming.envelope.messageID).inserted {
                toWrite.append(index)
            } else {
                outcomes[index] = .duplicate  // the same id twice in one batch
            }
        }
        try insert(toWrite, batch, &outcomes)
        try writeJournal(batch, outcomes)
        return AppliedBatch(outcomes: outcomes)
    }

    /// Journals the batch's messages that took effect, in one unordered `insertMany`, after
    /// their documents (MongoDB without a replica set has no transaction to share). Duplicates
    /// are journaled too, each under the same `_id` as its first delivery: a copy whose journal
    /// document is already there is refused and ignored, and one whose worker died between its
    /// document and its journal gets it on redelivery (with the redelivering copy's host and
    /// times). A lost connection is an outage (the batch is redelivered, and journaled then as
    /// duplicates); any other refusal is logged, as the effects are already stored.
    private func writeJournal(_ batch: [PendingMessage<Document>], _ outcomes: [MessageOutcome]) throws(StoreOutage) {
        guard journal.isEnabled, let journalCollection else { return }
        let done = zip(batch, outcomes).compactMap { message, outcome -> IncomingMessage? in
            if case .failed = outcome { return nil }
            return message.incoming
        }
        guard !done.isEmpty else { return }
        do {
            let result = try journalCollection.insertMany(
                journal.committed(done, emitted: []).map(MessageJournal.document))
            if let refused = result.writeErrors.first(where: { !$0.isDuplicateKey }) {
                logger.warning(
                    "could not journal a message", metadata: ["error": "\(refused.code): \(refused.message)"])
            }
        } catch {
            if error.code == .connectionFailed { throw StoreOutage(cause: error) }
            logger.warning("could not journal the batch", metadata: ["error": "\(error)"])
        }
    }

    /// Journals failed attempts whose copy the broker confirmed; best effort.
    func journalFailures(_ parked: [(IncomingMessage, HandlingFailure)]) {
        guard journal.isEnabled, let journalCollection else { return }
        do {
            _ = try journalCollection.insertMany(journal.failures(parked).map(MessageJournal.document))
        } catch {
            logger.warning("could not journal failed messages", metadata: ["error": "\(error)"])
        }
    }

    /// Writes `indices` with one unordered `insertMany`; when the server refuses the command as a
    /// whole without a connection failure, writes them one by one to find the document at fault.
    private func insert(_ indices: [Int], _ batch: [PendingMessage<Document>], _ outcomes: inout [MessageOutcome])
        throws(StoreOutage)
    {
        guard !indices.isEmpty else { return }
        guard let collection else {
            throw StoreOutage(
                cause: MongoError(code: .connectionFailed, message: "no connection to the document store"))
        }
        let result: MongoCollection.InsertManyResult
        do {
            result = try collection.insertMany(indices.map { batch[$0].work })
        } catch {
            if error.code == .connectionFailed { throw StoreOutage(cause: error) }
            guard indices.count > 1 else {
                let failureClass: FailureClass = error.code == .invalidDocument ? .permanent : .transient
                outcomes[indices[0]] = .failed(
                    HandlingFailure(failureClass, reason: "document_write_failed", message: "\(error)"))
                return
            }
            logger.warning(
                "a batch insert was refused; writing the batch one document at a time",
                metadata: ["error": "\(error)", "batch": "\(indices.count)"])
            for index in indices { try insert([index], batch, &outcomes) }
            return
        }
        for error in result.writeErrors where indices.indices.contains(error.index) {
            let index = indices[error.index]
            if error.isDuplicateKey {
                outcomes[index] = .duplicate
            } else {
                outcomes[index] = .failed(
                    .transient("document_write_failed", "MongoDB error \(error.code): \(error.message)"))
            }
        }
    }
}
