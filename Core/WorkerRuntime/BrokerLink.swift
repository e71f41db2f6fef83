import AMQP
import CommerceSupport
import Foundation
import Glibc
import Logging
import Resilience

/// A consumer's two broker connections, each owned by a dedicated thread, shared with one
/// processing thread: the consuming connection (topology, consuming, acks) here, and the
/// publishing one (``PublishingLink``), so that a resource alarm that blocks publishing never
/// holds back acks, requeues or heartbeats (RabbitMQ blocks only connections that publish).
///
/// Each connection lives on its own I/O thread (a ``ReconnectingLink``), which never runs handler
/// code: this one reads deliveries into a mailbox, runs the ack/nack commands the processing
/// thread sends it, and keeps heartbeats flowing while a handler waits on a lock or a slow
/// gateway. Publishes go to the publishing link's thread the same way.
///
/// When the connection fails, the thread reconnects with backoff, redeclares the topology and
/// consumes again. Deliveries of the dead connection are dropped from the mailbox (the broker
/// redelivers them) and commands that acknowledge them are refused, because their delivery tags
/// mean nothing on the new channel.
///
/// The rules of the mailbox and of the consuming channel (which deliveries are accepted, which
/// acks are sent, what stopping requeues) are pure values in `BrokerLink+StateMachine.swift`
/// (``Mailbox``, ``ConsumingChannel``); this file does the I/O and the threading.
final class BrokerLink: @unchecked Sendable {
    // @unchecked: every mutable property below is read and written only with `link.condition`
    // locked; the AMQPConnection itself never leaves the I/O thread.

    struct Configuration {
        var amqp: AMQPConfiguration
        var topology: Topology
        var declareTopology: Bool
        var prefetch: UInt16
        var publishTimeout: Duration
        var reconnectDelays: Backoff
        /// Longest wait of the processing thread for the I/O thread's answer to a command
        /// (`consumer.brokerReplyTimeoutMs`); when it passes, the connection is dropped.
        var replyTimeout: Duration = .seconds(60)
        /// Told of each delivery the connection refused unread for a body over
        /// `amqp.maximumBodySize` (already rejected to the dead-letter queue).
        var refused: @Sendable (AMQPRefusedDelivery) -> Void = { _ in }
    }

    /// One message to publish.
    struct Publication {
        var exchange: String
        var routingKey: String
        var properties: AMQPProperties
        var body: [UInt8]
    }

    private enum Command {
        case acknowledge(
            ack: [UInt64], requeue: [UInt64], generation: UInt64, Reply<Result<Void, AMQPError>>)
        case setConsuming(Bool, Reply<Result<Void, AMQPError>>)
    }

    private let configuration: Configuration
    private let logger: Logger
    /// The consuming connection's thread; its lock also guards the state below.
    private let link: ReconnectingLink<Command>
    private var mailbox = Mailbox<IncomingMessage>()
    private var generation: UInt64 = 0
    /// Off until the consumer's store answers: a copy whose database is unreachable must not hold
    /// deliveries that healthy copies could take.
    private var wantConsuming = false
    /// The connection every publish goes through.
    private let publisher: PublishingLink

    init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        publisher = PublishingLink(configuration: configuration, logger: logger)
        link = ReconnectingLink(
            amqp: configuration.amqp, reconnectDelays: configuration.reconnectDelays, name: "broker connection",
            stoppingContext: "broker link", logger: logger)
    }

    /// Starts the I/O threads.
    func start() {
        publisher.start()
        link.start(
            threadName: "amqp-\(configuration.topology.queue)",
            role: .init(
                setUp: { [self] in try setUp($0) },
                refuse: { [self] in refuse($0, $1) },
                connectionLost: { [self] in mailbox.drop(generation: generation) }))
    }

    /// Asks the I/O threads to close their connections and exit; returns once they have.
    func stop() {
        link.stop()
        publisher.stop()
    }

    /// Whether both connections are up and set up.
    var isConnected: Bool { link.isConnected && publisher.isConnected }

    /// The last connection error of either connection, for `/health`.
    var lastConnectionError: String? {
        link.lastConnectionError ?? publisher.lastConnectionError.map { "publishing connection: \($0)" }
    }

    // MARK: - Processing-thread side

    /// Takes up to `maximum` deliveries that are already here, waiting at most `timeout` for the
    /// first one; never waits for more once it has one (natural batching).
    func takeDeliveries(maximum: Int, timeout: Duration) -> [IncomingMessage] {
        let condition = link.condition
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while mailbox.isEmpty && !link.isStoppingLocked {
            if !condition.wait(until: deadline) { break }
        }
        return mailbox.take(maximum: maximum)
    }

    /// Whether a resource alarm blocks the publishing connection now.
    var isPublishingBlocked: Bool { publisher.isBlocked }

    /// Publishes to the broker under publisher confirms, on the publishing connection, and waits
    /// for every outcome (at most about the publish timeout).
    func publish(_ publications: [Publication]) -> Result<[AMQPConnection.PublishOutcome], AMQPError> {
        publisher.publish(publications)
    }

    /// Acknowledges or requeues deliveries of `generation`. Refused when the connection
    /// they came on is gone (the broker will redeliver them).
    func acknowledge(
        ack: [UInt64], requeue: [UInt64] = [], generation: UInt64
    ) -> Result<Void, AMQPError> {
        if ack.isEmpty && requeue.isEmpty { return .success(()) }
        let reply = Reply<Result<Void, AMQPError>>()
        link.submit(.acknowledge(ack: ack, requeue: requeue, generation: generation, reply))
        return reply.wait(timeout: configuration.replyTimeout) ?? .failure(overdue("basic.ack"))
    }

    /// Stops (`basic.cancel`, then every delivery not yet acknowledged is requeued) or resumes
    /// consuming. Deliveries waiting in the mailbox are requeued with the rest.
    @discardableResult
    func setConsuming(_ consuming: Bool) -> Result<Void, AMQPError> {
        let reply = Reply<Result<Void, AMQPError>>()
        link.submit(.setConsuming(consuming, reply))
        return reply.wait(timeout: configuration.replyTimeout) ?? .failure(overdue("basic.consume/cancel"))
    }

    /// A command whose answer did not come within the reply timeout: the I/O thread is stuck on
    /// a broker that stopped reading. Its socket is shut down, which fails that write at once;
    /// the thread then reconnects, and the broker requeues every unacknowledged delivery of the
    /// dropped connection.
    private func overdue(_ command: String) -> AMQPError {
        link.dropServedConnection()
        logger.error(
            "no answer from the broker connection in time; dropping it",
            metadata: ["command": "\(command)", "timeout": "\(configuration.replyTimeout)"])
        return AMQPError(
            code: .timeout, message: "no answer within \(configuration.replyTimeout); the connection was dropped",
            context: command)
    }

    // MARK: - I/O thread

    /// Sets up a new connection's channels and consumer, and returns how to serve it.
    private func setUp(_ connection: AMQPConnection) throws -> ReconnectingLink<Command>.Session {
        if configuration.declareTopology {
            let control = try connection.openChannel()
            for kept in try configuration.topology.declare(on: connection, channel: control) {
                // A kept group size is not a kept limit: `rabbitmq-queues grow` adds members.
                let what = kept.argument == "x-delivery-limit" ? "delivery limit" : "quorum initial group size"
                logger.warning(
                    "queue kept with the \(what) it was created with; re-create it to take the configured one",
                    metadata: ["queue": "\(kept.queue)", "broker": "\(kept.brokerError.message)"])
            }
        }
        let consuming = try connection.openChannel()
        try connection.setPrefetch(channel: consuming, count: configuration.prefetch)

        var currentGeneration: UInt64 = 0
        link.markConnected {
            generation += 1
            currentGeneration = generation
        }
        var consumer = ConsumingChannel(generation: currentGeneration)
        logger.info(
            "connected to broker",
            metadata: ["endpoint": "\(connection.endpoint)", "heartbeat": "\(connection.heartbeat)s"])

        func startConsuming() throws {
            guard consumer.consumerTag == nil else { return }
            consumer.started(
                consumerTag: try connection.consume(channel: consuming, queue: configuration.topology.queue))
        }
        func stopConsuming() throws {
            let stop = consumer.stop()
            if let tag = stop.cancel { try connection.cancel(channel: consuming, consumerTag: tag) }
            // Deliveries still in the mailbox belong to the broker again.
            link.condition.lock()
            mailbox.drop(generation: currentGeneration)
            link.condition.unlock()
            if let last = stop.requeueUpTo {
                try connection.nack(channel: consuming, deliveryTag: last, multiple: true, requeue: true)
            }
        }

        /// Runs one command and answers it; throws when the connection can no longer be used.
        func execute(_ command: Command) throws {
            switch command {
            case .acknowledge(let acks, let requeue, let generation, let reply):
                switch consumer.acknowledge(ack: acks, requeue: requeue, generation: generation) {
                case .refuse:
                    reply.put(
                        .failure(
                            AMQPError(
                                code: .invalidState,
                                message: "deliveries of an earlier connection; the broker redelivers them",
                                context: "basic.ack")))
                case .send(let multipleUpTo, let single, let requeue):
                    do {
                        if let highest = multipleUpTo {
                            try connection.ack(channel: consuming, deliveryTag: highest, multiple: true)
                        }
                        for tag in single { try connection.ack(channel: consuming, deliveryTag: tag) }
                        for tag in requeue { try connection.nack(channel: consuming, deliveryTag: tag, requeue: true) }
                        reply.put(.success(()))
                    } catch {
                        reply.put(.failure(error))
                        throw error
                    }
                }
            case .setConsuming(let consume, let reply):
                setWantConsuming(consume)
                do {
                    if consume { try startConsuming() } else { try stopConsuming() }
                    reply.put(.success(()))
                } catch {
                    reply.put(
                        .failure(
                            error as? AMQPError
                                ?? AMQPError(code: .libraryError, message: "\(error)", context: "consume")))
                    throw error
                }
            }
        }

        /// Routes one broker event: deliveries to the mailbox, failures to a reconnect.
        func dispatch(_ event: AMQPEvent) throws {
            switch event {
            case .delivery(let delivery):
                // ConsumingChannel.DeliveryAction says why a delivery may come back at once.
                guard
                    consumer.delivered(deliveryTag: delivery.deliveryTag, consumerTag: delivery.consumerTag) == .accept
                else {
                    try connection.nack(channel: consuming, deliveryTag: delivery.deliveryTag, requeue: true)
                    return
                }
                let message = IncomingMessage(
                    delivery: delivery, generation: currentGeneration, topology: configuration.topology,
                    brokerUser: configuration.amqp.username)
                link.condition.lock()
                mailbox.append(message, generation: currentGeneration)
                link.condition.broadcast()
                link.condition.unlock()
            case .channelClosed(let channel, let error):
                throw AMQPError(
                    code: .channelClosed, replyCode: error.replyCode, message: error.message,
                    context: "channel \(channel) closed by the broker")
            case .consumerCancelled:
                logger.warning(
                    "the broker cancelled our consumer; consuming again",
                    metadata: ["queue": "\(configuration.topology.queue)"])
                consumer.cancelledByBroker()
                if wantsConsuming { try startConsuming() }
            case .connectionBlocked, .connectionUnblocked:
                // This connection never publishes, so the broker has no reason to block it; the
                // publishing link reports its own alarms.
                break
            }
        }

        /// Logs and reports the deliveries the connection refused unread.
        func reportRefused() {
            for refused in connection.takeRefusedDeliveries() {
                logger.warning(
                    "refused a delivery unread: its body is over consumer.maxBodyBytes; dead-lettered by the broker",
                    metadata: [
                        "message_id": "\(refused.properties.messageID ?? "-")", "routing_key": "\(refused.routingKey)",
                        "body_bytes": "\(refused.bodySize)", "limit": "\(configuration.amqp.maximumBodySize ?? 0)",
                    ])
                configuration.refused(refused)
            }
        }

        if wantsConsuming { try startConsuming() }
        return .init(carryOut: execute, handle: dispatch, afterWait: reportRefused)
    }

    /// Answers a command the I/O thread will not carry out. A change of consuming is remembered
    /// (the next connection consumes or not accordingly) and so succeeds; an acknowledgement fails.
    private func refuse(_ command: Command, _ error: AMQPError) {
        switch command {
        case .acknowledge(_, _, _, let reply): reply.put(.failure(error))
        case .setConsuming(let consume, let reply):
            setWantConsuming(consume)
            reply.put(.success(()))
        }
    }

    // MARK: - State helpers

    private var wantsConsuming: Bool {
        link.condition.lock()
        defer { link.condition.unlock() }
        return wantConsuming
    }

    private func setWantConsuming(_ value: Bool) {
        link.condition.lock()
        wantConsuming = value
        link.condition.unlock()
    }
}
