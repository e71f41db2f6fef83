import AMQP
import CommerceSupport
import Foundation
import Glibc
import Logging
import Resilience

/// The publishing half of a ``BrokerLink``: a broker connection of its own, with one channel in
/// confirm mode, owned by its own I/O thread (a ``ReconnectingLink``, as the consuming one is),
/// as the same broker user.
///
/// RabbitMQ blocks a connection that publishes while a memory or disk alarm lasts: it stops
/// reading its socket, so a publish can stall in a write until the alarm clears, and anything else
/// written to that socket stalls behind it. Acks, requeues and heartbeats of the consuming
/// connection must not: so the consuming connection never publishes, and this one never consumes
/// (RabbitMQ's own advice: publish and consume on separate connections). Ordering between the two
/// is the processing thread's: it waits for a batch's confirms before it sends the batch's acks,
/// so an outgoing message is confirmed before the delivery that caused it is acknowledged.
///
/// The caller waits at most the publish timeout (plus a second for the answer to travel), then
/// gives up on the publish and is told so; a command it gave up on is dropped when the thread comes
/// to it, so a stall does not leave a queue of stale publishes behind it (``Gate``).
final class PublishingLink: @unchecked Sendable {
    // @unchecked: `blocked` is read and written only with `link.condition` locked; the
    // AMQPConnection never leaves the I/O thread.

    typealias Outcomes = Result<[AMQPConnection.PublishOutcome], AMQPError>

    private struct Command {
        var publications: [BrokerLink.Publication]
        var reply: TimedReply<Outcomes>
        /// The time by which the caller stops waiting.
        var deadline: ContinuousClock.Instant
    }

    private let configuration: BrokerLink.Configuration
    private let logger: Logger
    /// The publishing connection's thread; its lock also guards `blocked`.
    private let link: ReconnectingLink<Command>
    /// Whether the broker has blocked the connection (a resource alarm) and not unblocked it yet.
    private var blocked = false

    init(configuration: BrokerLink.Configuration, logger: Logger) {
        var configuration = configuration
        configuration.amqp.connectionName += " (publishing)"
        self.configuration = configuration
        self.logger = logger
        link = ReconnectingLink(
            amqp: configuration.amqp, reconnectDelays: configuration.reconnectDelays,
            name: "publishing connection", stoppingContext: "publish", logger: logger)
    }

    func start() {
        link.start(
            threadName: "amqp-publish-\(configuration.topology.queue)",
            role: .init(
                setUp: { [self] in try setUp($0) },
                refuse: { command, error in command.reply.put(.failure(error)) },
                connectionLost: { [self] in blocked = false }))
    }

    /// Asks the I/O thread to close the connection and exit; returns once it has, or after the
    /// publish timeout if it is stuck in a write the broker does not read (the thread then exits
    /// on its own once the write returns).
    func stop() {
        link.stop(waitingAtMost: configuration.publishTimeout + .seconds(1))
    }

    var isConnected: Bool { link.isConnected }

    /// Whether a resource alarm blocks publishing now: a publish would wait for it to clear.
    var isBlocked: Bool {
        link.condition.lock()
        defer { link.condition.unlock() }
        return blocked
    }

    var lastConnectionError: String? { link.lastConnectionError }

    /// Publishes under confirms and waits for every outcome, at most the publish timeout (and a
    /// second for the answer).
    func publish(_ publications: [BrokerLink.Publication]) -> Outcomes {
        if publications.isEmpty { return .success([]) }
        let reply = TimedReply<Outcomes>()
        let deadline = ContinuousClock.now + configuration.publishTimeout
        link.submit(Command(publications: publications, reply: reply, deadline: deadline))
        if let outcome = reply.wait(until: deadline + .seconds(1)) { return outcome }
        return .failure(
            AMQPError(
                code: .timeout,
                message: "no answer from the publishing connection within \(configuration.publishTimeout) "
                    + "(a broker alarm blocks it, or it is reconnecting)",
                context: "publish"))
    }

    // MARK: - I/O thread

    /// Sets up a new connection's confirming channel, and returns how to serve it.
    private func setUp(_ connection: AMQPConnection) throws -> ReconnectingLink<Command>.Session {
        if configuration.declareTopology {
            // A publish refused for a missing exchange closes the channel and brings us here:
            // declare again, as the consuming connection does when it reconnects.
            let control = try connection.openChannel()
            try configuration.topology.declare(on: connection, channel: control)
            connection.closeChannel(control)
        }
        let channel = try connection.openChannel()
        try connection.enableConfirms(channel: channel)
        link.markConnected()
        logger.info("publishing connection open", metadata: ["endpoint": "\(connection.endpoint)"])
        return .init(
            carryOut: { [self] in try carryOut($0, on: connection, channel: channel) },
            handle: { [self] in try note($0) })
    }

    /// Carries out one command and answers it; throws when the channel or the connection is lost.
    private func carryOut(_ command: Command, on connection: AMQPConnection, channel: UInt16) throws {
        let result: Outcomes
        switch Gate.decide(
            abandoned: command.reply.isAbandoned, blocked: connection.isBlocked, now: .now,
            deadline: command.deadline)
        {
        case .drop:
            return
        case .timeOut:
            result = .failure(
                AMQPError(
                    code: .timeout, message: "the broker has blocked publishing (resource alarm)",
                    context: "publish"))
        case .waitForUnblock, .publish:
            result = publish(command, on: connection, channel: channel)
        }
        command.reply.put(result)
        // A refused publish (404 for a deleted exchange) closes the channel: start over.
        if !connection.isOpen || !connection.isChannelOpen(channel) {
            var failure = AMQPError(code: .socketError, message: "publishing channel lost", context: "publish")
            if case .failure(let error) = result { failure = error }
            throw failure
        }
    }

    /// Publishes one command's messages, first waiting (up to the command's deadline) for an alarm
    /// that blocks the connection to clear rather than writing into a socket the broker does not read.
    private func publish(_ command: Command, on connection: AMQPConnection, channel: UInt16) -> Outcomes {
        do {
            while true {
                switch Gate.decide(
                    abandoned: command.reply.isAbandoned, blocked: connection.isBlocked, now: .now,
                    deadline: command.deadline)
                {
                case .drop, .timeOut:
                    return .failure(
                        AMQPError(
                            code: .timeout, message: "the broker has blocked publishing (resource alarm)",
                            context: "publish"))
                case .waitForUnblock:
                    if let event = try connection.nextEvent(timeout: .milliseconds(200)) { try note(event) }
                    continue
                case .publish:
                    break
                }
                break
            }
            var sequences: [UInt64] = []
            sequences.reserveCapacity(command.publications.count)
            for publication in command.publications {
                sequences.append(
                    try connection.publish(
                        channel: channel, exchange: publication.exchange, routingKey: publication.routingKey,
                        mandatory: true, properties: publication.properties, body: publication.body))
            }
            let remaining = max(command.deadline - .now, .milliseconds(1))
            let outcomes = try connection.waitForConfirms(channel: channel, timeout: remaining)
            return .success(sequences.map { outcomes[$0] ?? .refused })
        } catch let error as AMQPError {
            return .failure(error)
        } catch {
            return .failure(AMQPError(code: .libraryError, message: "\(error)", context: "publish"))
        }
    }

    /// Events of a connection that consumes nothing: alarms, and a closed channel.
    private func note(_ event: AMQPEvent) throws {
        switch event {
        case .connectionBlocked(let reason):
            setBlocked(true)
            logger.warning("broker blocked publishing", metadata: ["reason": "\(reason)"])
        case .connectionUnblocked:
            setBlocked(false)
            logger.info("broker unblocked publishing")
        case .channelClosed(let channel, let error):
            throw AMQPError(
                code: .channelClosed, replyCode: error.replyCode, message: error.message,
                context: "publishing channel \(channel) closed by the broker")
        case .delivery, .consumerCancelled:
            break
        }
    }

    // MARK: - State helpers

    private func setBlocked(_ value: Bool) {
        link.condition.lock()
        blocked = value
        link.condition.unlock()
    }
}

extension PublishingLink {
    /// What the publishing thread does with a command, as a pure decision: publish it; wait for
    /// an alarm that blocks the connection to clear; answer with a timeout once the caller's
    /// deadline has passed under the alarm; or drop it unsent, since its caller already gave up
    /// (it was told the publish timed out and requeued its batch; publishing it now would only
    /// send a copy nobody waits for).
    enum Gate: Equatable {
        case publish, waitForUnblock, timeOut, drop

        static func decide(
            abandoned: Bool, blocked: Bool, now: ContinuousClock.Instant, deadline: ContinuousClock.Instant
        ) -> Gate {
            if abandoned { return .drop }
            guard blocked else { return .publish }
            return now >= deadline ? .timeOut : .waitForUnblock
        }
    }
}

/// A one-shot answer whose waiter gives up at a deadline; the answering side can see that it did.
final class TimedReply<Value>: @unchecked Sendable {
    // @unchecked: `value` and `abandoned` are only touched with `condition` locked.
    private let condition = NSCondition()
    private var value: Value?
    private var abandoned = false

    func put(_ value: Value) {
        condition.lock()
        self.value = value
        condition.signal()
        condition.unlock()
    }

    /// The answer, or nil if none came by `deadline` (the reply is abandoned from then on).
    func wait(until deadline: ContinuousClock.Instant) -> Value? {
        condition.lock()
        defer { condition.unlock() }
        while value == nil {
            let remaining = deadline - .now
            if remaining <= .zero || !condition.wait(until: Date().addingTimeInterval(remaining.seconds)) {
                if value == nil {
                    abandoned = true
                    return nil
                }
            }
        }
        return value
    }

    /// Whether the waiter gave up.
    var isAbandoned: Bool {
        condition.lock()
        defer { condition.unlock() }
        return abandoned
    }
}
