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
/// It has a broker connection and a thread of its own, as the worker's broker user: a broker that
/// blocks publishers (a memory or disk alarm) stalls only this thread, never a consumer's acks, and
/// an announcement that cannot be sent costs the worker nothing but its visibility. It reports
/// `commerce_presence_last_sent_seconds{queue}` (Unix time of the last announcement the broker
/// confirmed, or of the start before the first) and `commerce_presence_interval_seconds{queue}`, so that an alert can tell a copy
/// whose heartbeat stopped.
final class PresencePublisher: @unchecked Sendable {
    // @unchecked: `stopping` and `finished` are read and written only with `condition` locked; the
    // AMQPConnection never leaves the thread (a local of `run()`).

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

    private let configuration: Configuration
    private let logger: Logger
    private let condition = NSCondition()
    private let wakeDescriptor: Int32
    private let wakeWriter: Int32
    private var stopping = false
    private var finished = true
    private let lastSent: Gauge

    init(configuration: Configuration, queue: String, logger: Logger) {
        var configuration = configuration
        configuration.amqp.connectionName += " (presence)"
        self.configuration = configuration
        self.logger = logger
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) != 0 { fatalError("pipe(2) failed: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        wakeDescriptor = ends[0]
        wakeWriter = ends[1]
        lastSent = Gauge(label: "commerce_presence_last_sent_seconds", dimensions: [("queue", queue)])
        // Until the first confirm, the start: a copy that never gets one through alerts as one that stopped.
        lastSent.record(Date().timeIntervalSince1970)
        Gauge(label: "commerce_presence_interval_seconds", dimensions: [("queue", queue)])
            .record(configuration.interval.seconds)
    }

    deinit {
        close(wakeDescriptor)
        close(wakeWriter)
    }

    func start() {
        condition.lock()
        finished = false
        condition.unlock()
        let thread = Thread { [self] in
            run()
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "presence"
        thread.start()
    }

    /// Sends the `stopped` announcement (when connected) and closes the connection; returns once
    /// done or after `timeout`, whichever comes first: a broker that does not answer must not hold
    /// a worker's stop.
    func stop(timeout: Duration = .seconds(3)) {
        condition.lock()
        stopping = true
        condition.unlock()
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
        let deadline = Date().addingTimeInterval(timeout.seconds)
        condition.lock()
        while !finished && condition.wait(until: deadline) {}
        condition.unlock()
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    private func run() {
        var failures = 0
        var lastProblem: String?
        while !isStopping {
            do {
                try announce()
                return
            } catch {
                let problem = "\(error)"
                // One warning per distinct problem, not one per retry.
                if problem != lastProblem {
                    logger.warning(
                        "cannot announce this copy on the presence stream; retrying",
                        metadata: ["stream": "\(configuration.stream)", "error": "\(problem)"])
                    lastProblem = problem
                }
                failures += 1
                sleep(configuration.reconnectDelays.delay(forAttempt: failures))
            }
        }
    }

    /// One connection's life: announce every interval until asked to stop, then say so.
    private func announce() throws(AMQPError) {
        let connection = try AMQPConnection(configuration: configuration.amqp)
        defer { connection.close() }
        var channel = try connection.openChannel()
        if configuration.declare {
            do {
                try PresenceStream.declare(name: configuration.stream, on: connection, channel: channel)
            } catch let error where error.code == .channelClosed {
                logger.info(
                    "the broker refused to declare the presence stream; announcing to it as declared by commerce setup",
                    metadata: ["stream": "\(configuration.stream)", "error": "\(error)"])
                channel = try connection.openChannel()
            }
        }
        try connection.enableConfirms(channel: channel)
        logger.debug("announcing this copy", metadata: ["stream": "\(configuration.stream)"])
        while true {
            let stop = isStopping
            try send(stop ? .stopped : .running, on: connection, channel: channel)
            if stop { return }
            let deadline = ContinuousClock.now + configuration.interval
            while !isStopping, ContinuousClock.now < deadline {
                _ = try connection.nextEvent(
                    timeout: deadline - ContinuousClock.now, wakeDescriptor: wakeDescriptor)
            }
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

    /// Sleeps `delay`, or less when asked to stop.
    private func sleep(_ delay: Duration) {
        var descriptor = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(clamping: delay.milliseconds))
    }
}
