import AMQP
import CommerceSupport
import Foundation
import Glibc
import Logging
import Metrics
import Resilience

/// Announces a worker copy on the fleet's presence stream (``PresenceStream``): a `running`
/// ``PresenceAnnouncement`` every interval, a `stopped` one on a graceful stop.
///
/// It has a broker connection and a thread of its own, as the worker's broker user, run by a
/// ``ReconnectingLink`` like the consumers' connections: a broker that blocks publishers (a memory
/// or disk alarm) stalls only this thread, never a consumer's acks, and an announcement that
/// cannot be sent costs the worker nothing but its visibility. It reports
/// `commerce_presence_last_sent_seconds{queue}` (Unix time of the last announcement the broker
/// confirmed, or of the start before the first) and `commerce_presence_interval_seconds{queue}`, so that an alert can tell a copy
/// whose heartbeat stopped.
final class PresencePublisher: Sendable {
    struct Configuration: Sendable {
        var amqp: AMQPConfiguration
        var stream: String
        var interval: Duration
        /// Declare the stream first (with the worker's `queue.declare`); a broker that refuses is
        /// no error: `commerce setup` declares it for a least-privilege deployment.
        var declare: Bool
        var reconnectDelays: Backoff
        /// The announcement, its state and time filled in for each send.
        var announcement: @Sendable (_ state: PresenceAnnouncement.State) -> PresenceAnnouncement
    }

    /// The link takes no commands: it only connects, sets up and runs the session's timer.
    enum NoCommand {}

    private let configuration: Configuration
    private let logger: Logger
    private let link: ReconnectingLink<NoCommand>
    private let lastSent: Gauge

    init(configuration: Configuration, queue: String, logger: Logger) {
        var configuration = configuration
        configuration.amqp.connectionName += " (presence)"
        self.configuration = configuration
        self.logger = logger
        link = ReconnectingLink<NoCommand>(
            amqp: configuration.amqp, reconnectDelays: configuration.reconnectDelays, name: "presence connection",
            stoppingContext: "presence", logger: logger)
        lastSent = Gauge(label: "commerce_presence_last_sent_seconds", dimensions: [("queue", queue)])
        // Until the first confirm, the start: a copy that never gets one through alerts as one that stopped.
        lastSent.record(Date().timeIntervalSince1970)
        Gauge(label: "commerce_presence_interval_seconds", dimensions: [("queue", queue)])
            .record(configuration.interval.seconds)
    }

    func start() {
        link.start(threadName: "presence", role: ReconnectingLink<NoCommand>.Role(setUp: setUp, refuse: Self.refuse))
    }

    /// Sends the `stopped` announcement (when connected) and closes the connection; returns once
    /// done or after `timeout`, whichever comes first: a broker that does not answer must not hold
    /// a worker's stop.
    func stop(timeout: Duration = .seconds(3)) {
        link.stop(waitingAtMost: timeout)
    }

    private static func refuse(_ command: NoCommand, _ error: AMQPError) {}

    /// One connection's life: declare the stream if asked, announce at once and then every
    /// interval (checked after each of the link's waits, at most a second apart), and say
    /// `stopped` when the link stops.
    private func setUp(_ connection: AMQPConnection) throws -> ReconnectingLink<NoCommand>.Session {
        let channel = try openChannel(on: connection)
        try connection.enableConfirms(channel: channel)
        link.markConnected()
        logger.debug("announcing this copy", metadata: ["stream": "\(configuration.stream)"])
        let announcer = Announcer(publisher: self, connection: connection, channel: channel)
        try announcer.send(.running)
        return ReconnectingLink<NoCommand>.Session(
            carryOut: Announcer.carryOut, handle: Announcer.ignore, afterWait: announcer.announceIfDue,
            closing: announcer.announceStopped,
            longestWait: min(.seconds(1), configuration.interval / 4))
    }

    /// A channel on `connection`, with the stream declared first if asked.
    private func openChannel(on connection: AMQPConnection) throws -> UInt16 {
        let channel = try connection.openChannel()
        guard configuration.declare else { return channel }
        do {
            try PresenceStream.declare(name: configuration.stream, on: connection, channel: channel)
            return channel
        } catch {
            guard error.code == .channelClosed else { throw error }
            logger.info(
                "the broker refused to declare the presence stream; announcing to it as declared by commerce setup",
                metadata: ["stream": "\(configuration.stream)", "error": "\(error)"])
            return try connection.openChannel()
        }
    }

    /// One connection's announcements, and when the next is due. Used on the link's thread only.
    private final class Announcer {
        let publisher: PresencePublisher
        let connection: AMQPConnection
        let channel: UInt16
        var next: ContinuousClock.Instant

        init(publisher: PresencePublisher, connection: AMQPConnection, channel: UInt16) {
            self.publisher = publisher
            self.connection = connection
            self.channel = channel
            next = ContinuousClock.now + publisher.configuration.interval
        }

        static func carryOut(_ command: NoCommand) throws {}
        static func ignore(_ event: AMQPEvent) throws {}

        func announceIfDue() throws {
            guard ContinuousClock.now >= next else { return }
            next = ContinuousClock.now + publisher.configuration.interval
            try send(.running)
        }

        func announceStopped() throws {
            try send(.stopped)
        }

        func send(_ state: PresenceAnnouncement.State) throws {
            try publisher.send(state, on: connection, channel: channel)
        }
    }

    private func send(
        _ state: PresenceAnnouncement.State, on connection: AMQPConnection, channel: UInt16
    ) throws(AMQPError) {
        let announcement = configuration.announcement(state)
        let properties = AMQPProperties(
            contentType: "application/json", deliveryMode: 1, messageID: UUID().uuidString.lowercased(),
            timestamp: UInt64(Date().timeIntervalSince1970), type: PresenceAnnouncement.messageType,
            appID: announcement.worker)
        // Not mandatory: with no stream declared the broker drops it, and the copy is only unseen.
        try connection.publish(
            channel: channel, exchange: "", routingKey: configuration.stream, mandatory: false,
            properties: properties, body: announcement.encoded())
        let outcomes = try connection.waitForConfirms(channel: channel, timeout: .seconds(10))
        if outcomes.values.allSatisfy({ $0 == .confirmed }) {
            lastSent.record(Date().timeIntervalSince1970)
        }
    }
}
