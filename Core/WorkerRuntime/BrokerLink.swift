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
/// rabbitmq-c connections are not thread-safe and only service heartbeats inside library calls,
/// so the connection lives on this link's own I/O thread, which never runs handler code: it reads
/// deliveries into a mailbox, runs the ack/nack commands the processing thread sends it, and keeps
/// heartbeats flowing while a handler waits on a lock or a slow gateway. A command wakes the I/O
/// thread through a pipe that it polls beside the socket, so nothing spins. Publishes go to the
/// publishing link's thread the same way.
///
/// When the connection fails, the thread reconnects with backoff (trying every configured
/// endpoint), redeclares the topology and consumes again. Deliveries of the dead connection are
/// dropped from the mailbox (the broker redelivers them) and commands that acknowledge them are
/// refused, because their delivery tags mean nothing on the new channel.
///
/// The rules of the mailbox and of the consuming channel (which deliveries are accepted, which
/// acks are sent, what stopping requeues) are pure values in `BrokerLink+StateMachine.swift`
/// (``Mailbox``, ``ConsumingChannel``); this file does the I/O and the threading.
final class BrokerLink: @unchecked Sendable {
    // @unchecked: every mutable property below is read and written only with `condition` locked;
    // the AMQPConnection itself never leaves the I/O thread (it is a local of `run()`).

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
    private let condition = NSCondition()
    private let wakeDescriptor: Int32
    private let wakeWriter: Int32
    private var commands: [Command] = []
    private var mailbox = Mailbox<IncomingMessage>()
    private var generation: UInt64 = 0
    private var connected = false
    private var stopping = false
    /// Off until the consumer's store answers: a copy whose database is unreachable must not hold
    /// deliveries that healthy copies could take.
    private var wantConsuming = false
    private var lastError: String?
    private var thread: Thread?
    private var finished = false
    /// The socket of the connection being served, -1 between connections: shut down when a
    /// command's answer is overdue. Cleared before the connection is closed, so it never names a
    /// descriptor that was reused.
    private var servedSocket: Int32 = -1
    /// The connection every publish goes through.
    private let publisher: PublishingLink

    init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        publisher = PublishingLink(configuration: configuration, logger: logger)
        // A self-pipe: the I/O thread polls its read end beside the broker socket.
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) != 0 { fatalError("pipe(2) failed: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        wakeDescriptor = ends[0]
        wakeWriter = ends[1]
    }

    deinit {
        close(wakeDescriptor)
        close(wakeWriter)
    }

    /// Starts the I/O threads.
    func start() {
        publisher.start()
        let thread = Thread { [self] in run() }
        thread.name = "amqp-\(configuration.topology.queue)"
        self.thread = thread
        thread.start()
    }

    /// Asks the I/O threads to close their connections and exit; returns once they have.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        wake()
        condition.lock()
        while !finished { condition.wait() }
        condition.unlock()
        publisher.stop()
    }

    /// Whether both connections are up and set up.
    var isConnected: Bool {
        condition.lock()
        let consuming = connected
        condition.unlock()
        return consuming && publisher.isConnected
    }

    /// The last connection error of either connection, for `/health`.
    var lastConnectionError: String? {
        condition.lock()
        let consuming = lastError
        condition.unlock()
        return consuming ?? publisher.lastConnectionError.map { "publishing connection: \($0)" }
    }

    // MARK: - Processing-thread side

    /// Takes up to `maximum` deliveries that are already here, waiting at most `timeout` for the
    /// first one; never waits for more once it has one (natural batching).
    func takeDeliveries(maximum: Int, timeout: Duration) -> [IncomingMessage] {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while mailbox.isEmpty && !stopping {
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
        submit(.acknowledge(ack: ack, requeue: requeue, generation: generation, reply))
        return reply.wait(timeout: configuration.replyTimeout) ?? .failure(overdue("basic.ack"))
    }

    /// Stops (`basic.cancel`, then every delivery not yet acknowledged is requeued) or resumes
    /// consuming. Deliveries waiting in the mailbox are requeued with the rest.
    @discardableResult
    func setConsuming(_ consuming: Bool) -> Result<Void, AMQPError> {
        let reply = Reply<Result<Void, AMQPError>>()
        submit(.setConsuming(consuming, reply))
        return reply.wait(timeout: configuration.replyTimeout) ?? .failure(overdue("basic.consume/cancel"))
    }

    /// A command whose answer did not come within the reply timeout: the I/O thread is stuck on
    /// a broker that stopped reading. Its socket is shut down, which fails that write at once;
    /// the thread then reconnects, and the broker requeues every unacknowledged delivery of the
    /// dropped connection.
    private func overdue(_ command: String) -> AMQPError {
        condition.lock()
        if servedSocket >= 0 { _ = shutdown(servedSocket, Int32(SHUT_RDWR)) }
        condition.unlock()
        logger.error(
            "no answer from the broker connection in time; dropping it",
            metadata: ["command": "\(command)", "timeout": "\(configuration.replyTimeout)"])
        return AMQPError(
            code: .timeout, message: "no answer within \(configuration.replyTimeout); the connection was dropped",
            context: command)
    }

    private func submit(_ command: Command) {
        condition.lock()
        commands.append(command)
        condition.unlock()
        wake()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
    }

    // MARK: - I/O thread

    private func run() {
        var attempt = 0
        while !isStopping {
            // Counts failures since the last connection that got fully set up, so that a broker
            // refusing our topology backs off instead of being hammered.
            var ready = false
            do {
                let connection = try AMQPConnection(configuration: configuration.amqp)
                try serve(connection, ready: &ready)
                connection.close()
            } catch {
                if ready { attempt = 0 }
                attempt += 1
                let delay = configuration.reconnectDelays.delay(forAttempt: attempt)
                logger.warning(
                    "broker connection lost; reconnecting",
                    metadata: ["error": "\(error)", "attempt": "\(attempt)", "retry_in": "\(delay)"])
                dropConnectionState(error: "\(error)")
                sleepUnlessStopping(delay)
            }
        }
        condition.lock()
        connected = false
        finished = true
        let leftover = commands
        commands.removeAll()
        condition.broadcast()
        condition.unlock()
        fail(leftover, AMQPError(code: .invalidState, message: "the worker is stopping", context: "broker link"))
    }

    /// Sets up channels and serves commands and events until the connection fails or the link stops.
    private func serve(_ connection: AMQPConnection, ready: inout Bool) throws {
        condition.lock()
        servedSocket = connection.socketDescriptor
        condition.unlock()
        defer {
            condition.lock()
            servedSocket = -1
            condition.unlock()
        }
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

        ready = true
        condition.lock()
        generation += 1
        let currentGeneration = generation
        var consumer = ConsumingChannel(generation: currentGeneration)
        connected = true
        lastError = nil
        condition.unlock()
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
            condition.lock()
            mailbox.drop(generation: currentGeneration)
            condition.unlock()
            if let last = stop.requeueUpTo {
                try connection.nack(channel: consuming, deliveryTag: last, multiple: true, requeue: true)
            }
        }

        if wantsConsuming { try startConsuming() }

        while true {
            let commands = takeCommands()
            for (position, command) in commands.enumerated() {
                do {
                    try execute(command)
                } catch {
                    // The connection is going; every command taken with this one still gets an
                    // answer, or its caller would wait forever.
                    let failure =
                        error as? AMQPError
                        ?? AMQPError(code: .socketError, message: "\(error)", context: "broker connection")
                    fail(Array(commands[(position + 1)...]), failure)
                    throw error
                }
            }
            if isStopping {
                logger.info("closing broker connection")
                return
            }
            if let event = try connection.nextEvent(timeout: .seconds(1), wakeDescriptor: wakeDescriptor) {
                try dispatch(event)
            }
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
                condition.lock()
                wantConsuming = consume
                condition.unlock()
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
                condition.lock()
                mailbox.append(message, generation: currentGeneration)
                condition.broadcast()
                condition.unlock()
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
    }

    // MARK: - State helpers

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    private var wantsConsuming: Bool {
        condition.lock()
        defer { condition.unlock() }
        return wantConsuming
    }

    private func takeCommands() -> [Command] {
        condition.lock()
        defer { condition.unlock() }
        let taken = commands
        commands.removeAll()
        return taken
    }

    private func dropConnectionState(error: String) {
        condition.lock()
        connected = false
        lastError = error
        mailbox.drop(generation: generation)
        let pending = commands
        commands.removeAll()
        condition.unlock()
        fail(pending, AMQPError(code: .socketError, message: error, context: "broker connection"))
    }

    private func fail(_ pending: [Command], _ error: AMQPError) {
        for command in pending {
            switch command {
            case .acknowledge(_, _, _, let reply): reply.put(.failure(error))
            case .setConsuming(let consume, let reply):
                condition.lock()
                wantConsuming = consume
                condition.unlock()
                reply.put(.success(()))
            }
        }
    }

    private func sleepUnlessStopping(_ delay: Duration) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(delay.seconds)
        while !stopping && condition.wait(until: deadline) {}
    }
}
