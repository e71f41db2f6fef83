import AMQP
import Foundation
import Logging
import Mongo

/// The processing side of a consumer whose store is MongoDB (see ``DocumentHandler``): takes a
/// batch of deliveries, writes one document per message with one unordered `insertMany`, treats
/// duplicate keys as already done, parks failures in the retry or dead-letter queues, and acks
/// the batch with one `multiple` ack.
///
/// Runs on a dedicated thread that owns the MongoDB client (libmongoc clients are not
/// thread-safe).
final class DocumentConsumer<Handler: DocumentHandler>: ConsumerLoop, @unchecked Sendable {
    // @unchecked: `client` and `collection` are touched only by the consumer's own thread;
    // `stopRequested` and `storeUp` are guarded by `lock`.

    private let configuration: WorkerConfiguration
    private let handler: Handler
    private let link: BrokerLink
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let failures: FailureRouter
    private let lock = NSLock()
    private var stopRequested = false
    private var storeUp = false
    private var client: MongoClient?
    private var collection: MongoCollection?

    init(configuration: WorkerConfiguration, handler: Handler, link: BrokerLink, logger: Logger, metrics: WorkerMetrics)
    {
        self.configuration = configuration
        self.handler = handler
        self.link = link
        self.logger = logger
        self.metrics = metrics
        failures = FailureRouter(configuration: configuration, logger: logger, metrics: metrics)
    }

    func requestStop() {
        lock.withLock { stopRequested = true }
    }

    private var isStopping: Bool { lock.withLock { stopRequested } }

    var isDatabaseUp: Bool { lock.withLock { storeUp } }

    func run() {
        connect()
        while !isStopping {
            let batch = link.takeDeliveries(maximum: configuration.maximumBatchSize, timeout: .seconds(1))
            if !batch.isEmpty { process(batch) }
        }
        link.setConsuming(false)
        collection = nil
        client = nil
        logger.info("consumer stopped", metadata: ["queue": "\(configuration.topology.queue)"])
    }

    /// Connects and prepares the collection, with backoff, until it works or the worker stops.
    private func connect() {
        var attempt = 0
        while !isStopping {
            do {
                let client = try MongoClient(uri: configuration.databaseURL, appName: configuration.appID)
                try client.ping()
                let collection = client.collection(handler.collection, in: configuration.documentDatabase)
                try handler.prepare(collection)
                self.client = client
                self.collection = collection
                lock.withLock { storeUp = true }
                if attempt > 0 { logger.info("document store is back", metadata: ["attempts": "\(attempt)"]) }
                return
            } catch {
                attempt += 1
                lock.withLock { storeUp = false }
                let delay = configuration.reconnectDelays.delay(forAttempt: attempt)
                logger.warning("document store unreachable", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                let deadline = ContinuousClock.now + delay
                while !isStopping && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.1) }
            }
        }
    }

    /// The store, not the messages, is at fault: stop consuming (requeueing everything held),
    /// reconnect with backoff, then consume again.
    private func rideOutStoreOutage(_ error: any Error) {
        logger.error("document store failure; pausing consumption", metadata: ["error": "\(error)"])
        metrics.databaseOutages.increment()
        lock.withLock { storeUp = false }
        link.setConsuming(false)
        collection = nil
        client = nil
        connect()
        if !isStopping { link.setConsuming(true) }
    }

    private func process(_ batch: [IncomingMessage]) {
        let started = ContinuousClock.now
        metrics.batchSize.record(batch.count)
        var failed: [(IncomingMessage, HandlingFailure)] = []
        var written: [IncomingMessage] = []
        var duplicates: [IncomingMessage] = []
        var documents: [Document] = []
        var seen = Set<String>()
        for incoming in batch {
            if let failure = incoming.admissionFailure(maximumBodySize: configuration.maximumBodySize) {
                failed.append((incoming, failure))
                continue
            }
            do {
                let message = try handler.decode(incoming)
                var document = try handler.document(
                    for: message, envelope: incoming.envelope, attempts: incoming.attempts)
                guard seen.insert(incoming.envelope.messageID).inserted else {
                    duplicates.append(incoming)  // the same id twice in one batch
                    continue
                }
                document["_id"] = .string(incoming.envelope.messageID)
                documents.append(document)
                written.append(incoming)
            } catch {
                failed.append((incoming, HandlingFailure.classify(error)))
            }
        }

        if !documents.isEmpty {
            do {
                guard let collection else { throw StoreUnavailable() }
                let result = try collection.insertMany(documents)
                var outcome: [Int: MongoError.WriteError] = [:]
                for error in result.writeErrors { outcome[error.index] = error }
                var kept: [IncomingMessage] = []
                for (index, incoming) in written.enumerated() {
                    guard let error = outcome[index] else {
                        kept.append(incoming)
                        continue
                    }
                    if error.isDuplicateKey {
                        duplicates.append(incoming)
                    } else {
                        let failure = HandlingFailure.transient(
                            "document_write_failed", "MongoDB error \(error.code): \(error.message)")
                        failed.append((incoming, failure))
                    }
                }
                written = kept
            } catch {
                rideOutStoreOutage(error)
                return
            }
        }

        let publications = failed.map { failures.publication(for: $0.0, $0.1) }
        guard case .success(let outcomes) = link.publish(publications) else {
            // Requeued: on redelivery the `_id` index drops what was written and failures are
            // parked again.
            logger.warning("could not park failed messages; requeueing the batch")
            _ = link.acknowledge(ack: [], requeue: batch.map(\.deliveryTag), generation: batch.first?.generation ?? 0)
            return
        }
        var acks = (written + duplicates).map(\.deliveryTag)
        var requeue: [UInt64] = []
        for ((incoming, failure), outcome) in zip(failed, outcomes) {
            if outcome == .confirmed {
                acks.append(incoming.deliveryTag)
                failures.record(incoming, failure)
            } else {
                requeue.append(incoming.deliveryTag)
            }
        }
        let generation = batch.first?.generation ?? 0
        if case .failure(let error) = link.acknowledge(ack: acks, requeue: requeue, generation: generation) {
            logger.warning("ack failed; the broker will redeliver", metadata: ["error": "\(error)"])
        }
        written.forEach { metrics.handled(type: $0.envelope.type) }
        duplicates.forEach { metrics.duplicate(type: $0.envelope.type) }
        metrics.batchDuration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
    }
}

/// No MongoDB connection at the moment (the last one failed).
private struct StoreUnavailable: Error, CustomStringConvertible {
    var description: String { "no connection to the document store" }
}
