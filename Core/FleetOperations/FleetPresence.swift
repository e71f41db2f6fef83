import AMQP
import Foundation
import WorkerRuntime

/// Every worker copy that announced itself on the fleet's presence stream lately
/// (``PresenceStream``, ``PresenceAnnouncement``): what `commerce status` shows without a list of
/// addresses, across machines.
///
/// Reading takes nothing away: the stream is read from a timestamp (`window` ago) by a consumer
/// of its own, so any number of operators read it at once. To know when it has read everything
/// sent so far, the reader appends a marker of its own (type `fleet.presence.marker`, which every
/// reader skips) and reads up to it; this needs only the right to write to the default exchange,
/// which an operator has. A copy's last announcement decides its state: `stopped` when it said
/// so, `stale` when it is older than three of the copy's intervals (it died, hangs, or lost the
/// broker), else `running`. Ages come from the copies' clocks (`sent_at`), so hosts must keep
/// time. A message that is not a well-formed announcement is listed as invalid and otherwise
/// ignored: anyone who may write to the default exchange can publish to the stream.
public struct FleetPresence: Encodable, Sendable {
    public enum CopyState: String, Encodable, Sendable {
        case running, stale, stopped
    }

    /// One copy, as its last announcement in the window described it.
    public struct Copy: Encodable, Sendable {
        public var worker: String
        public var queue: String
        public var copyID: String
        public var version: String
        public var host: String
        public var pid: Int
        public var metricsURL: String?
        public var healthURL: String?
        public var startedAt: String
        /// The last announcement's `sent_at`.
        public var lastSeen: String
        public var ageSeconds: Double
        public var intervalSeconds: Double
        public var state: CopyState
        /// The broker user that published the last announcement (`user_id`, verified by RabbitMQ).
        public var publishedBy: String?
        public var announcements: Int

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(worker, forKey: .worker)
            try container.encode(queue, forKey: .queue)
            try container.encode(copyID, forKey: .copyID)
            try container.encode(version, forKey: .version)
            try container.encode(host, forKey: .host)
            try container.encode(pid, forKey: .pid)
            try container.encode(metricsURL, forKey: .metricsURL)
            try container.encode(healthURL, forKey: .healthURL)
            try container.encode(startedAt, forKey: .startedAt)
            try container.encode(lastSeen, forKey: .lastSeen)
            try container.encode(ageSeconds, forKey: .ageSeconds)
            try container.encode(intervalSeconds, forKey: .intervalSeconds)
            try container.encode(state, forKey: .state)
            try container.encode(publishedBy, forKey: .publishedBy)
            try container.encode(announcements, forKey: .announcements)
        }

        private enum CodingKeys: String, CodingKey {
            case worker, queue, copyID = "copy_id", version, host, pid, metricsURL = "metrics_url",
                healthURL = "health_url", startedAt, lastSeen, ageSeconds, intervalSeconds, state, publishedBy,
                announcements
        }

        /// The copy's endpoint for `/health` and `/metrics`, when it announced a usable one.
        public var endpoint: WorkerEndpoint? {
            guard let metricsURL, metricsURL.hasSuffix("/metrics") else { return nil }
            return WorkerEndpoint(url: String(metricsURL.dropLast("/metrics".count)))
        }
    }

    /// A message on the stream that is not a well-formed announcement.
    public struct Invalid: Encodable, Sendable {
        public var messageID: String?
        public var publishedBy: String?
        public var reason: String

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(messageID, forKey: .messageID)
            try container.encode(publishedBy, forKey: .publishedBy)
            try container.encode(reason, forKey: .reason)
        }

        private enum CodingKeys: String, CodingKey { case messageID, publishedBy, reason }
    }

    /// The AMQP `type` of the reader's own marker.
    public static let markerType = "fleet.presence.marker"
    /// At most this many invalid messages are listed (``invalidCount`` counts them all).
    public static let invalidListed = 20

    public var stream: String
    public var state: QueueState
    public var windowSeconds: Double
    /// Whether the stream was read up to the marker (else the deadline passed first, and the
    /// latest announcements may be missing).
    public var complete: Bool
    /// Running and stale copies first, then stopped ones; by worker, then host, then pid.
    public var copies: [Copy]
    public var invalid: [Invalid]
    public var invalidCount: Int
    public var error: String?

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stream, forKey: .stream)
        try container.encode(state, forKey: .state)
        try container.encode(windowSeconds, forKey: .windowSeconds)
        try container.encode(complete, forKey: .complete)
        try container.encode(copies, forKey: .copies)
        try container.encode(invalid, forKey: .invalid)
        try container.encode(invalidCount, forKey: .invalidCount)
        try container.encode(error, forKey: .error)
    }

    private enum CodingKeys: String, CodingKey {
        case stream, state, windowSeconds, complete, copies, invalid, invalidCount, error
    }

    /// The endpoints of the copies that have not said they stopped (stale ones too: whether they
    /// answer is worth seeing), each once.
    public var endpoints: [WorkerEndpoint] {
        var seen: [WorkerEndpoint] = []
        for copy in copies where copy.state != .stopped {
            if let endpoint = copy.endpoint, !seen.contains(endpoint) { seen.append(endpoint) }
        }
        return seen
    }

    /// Reads the announcements of the last `window` from `stream` on `connection`, for at most
    /// `timeout`. A stream that does not exist is reported (state `missing`), not thrown.
    /// - Throws: ``OperationFailure`` when the connection to the broker is lost.
    public static func read(
        stream: String, window: Duration, timeout: Duration = .seconds(5), on connection: AMQPConnection,
        address: String
    ) throws -> FleetPresence {
        var report = FleetPresence(
            stream: stream, state: .present, windowSeconds: window.seconds, complete: false, copies: [], invalid: [],
            invalidCount: 0)
        let channel: UInt16
        do {
            channel = try connection.openChannel()
            _ = try connection.queueStatus(channel: channel, name: stream)
        } catch  where error.code == .channelClosed {
            report.state = .missing
            report.error =
                "no presence stream '\(stream)' on RabbitMQ at \(address): `commerce setup` declares it, and so do workers with queue.declare"
            return report
        } catch {
            throw OperationFailure("could not read the presence stream on RabbitMQ at \(address): \(error)")
        }
        defer { connection.closeChannel(channel) }

        let started = Date()
        let marker = "presence-marker-\(UUID().uuidString.lowercased())"
        var latest: [String: (announcement: PresenceAnnouncement, sent: Date, user: String?, count: Int)] = [:]
        do {
            try connection.setPrefetch(channel: channel, count: 500)
            let from = UInt64(max(0, started.timeIntervalSince1970 - window.seconds))
            let tag = try connection.consume(
                channel: channel, queue: stream, arguments: ["x-stream-offset": .timestamp(from)])
            try connection.publish(
                channel: channel, exchange: "", routingKey: stream, mandatory: false,
                properties: AMQPProperties(
                    deliveryMode: 1, messageID: marker, timestamp: UInt64(started.timeIntervalSince1970),
                    type: markerType, appID: "commerce"),
                body: [])
            let deadline = ContinuousClock.now + timeout
            reading: while ContinuousClock.now < deadline {
                guard let event = try connection.nextEvent(timeout: deadline - ContinuousClock.now) else { continue }
                switch event {
                case .delivery(let delivery) where delivery.channel == channel:
                    try connection.ack(channel: channel, deliveryTag: delivery.deliveryTag)
                    let properties = delivery.properties
                    if properties.type == markerType {
                        if properties.messageID == marker {
                            report.complete = true
                            break reading
                        }
                        continue
                    }
                    switch validate(delivery) {
                    case .success(let found):
                        let previous = latest[found.announcement.copyID]
                        let count = (previous?.count ?? 0) + 1
                        if let previous, previous.sent > found.sent {
                            latest[found.announcement.copyID]?.count = count
                        } else {
                            latest[found.announcement.copyID] = (
                                found.announcement, found.sent, properties.userID, count
                            )
                        }
                    case .failure(let reason):
                        report.invalidCount += 1
                        if report.invalid.count < invalidListed {
                            report.invalid.append(
                                Invalid(
                                    messageID: properties.messageID.map { printable($0) },
                                    publishedBy: properties.userID.map { printable($0) }, reason: reason.description))
                        }
                    }
                case .channelClosed(let closed, let error) where closed == channel:
                    report.error = "the broker closed the presence stream's channel: \(error)"
                    break reading
                default:
                    continue
                }
            }
            if report.error == nil { try? connection.cancel(channel: channel, consumerTag: tag) }
        } catch let error where error.code == .channelClosed {
            report.error = "could not read the presence stream '\(stream)': \(error)"
        } catch {
            throw OperationFailure("lost RabbitMQ at \(address) while reading the presence stream: \(error)")
        }
        if !report.complete, report.error == nil {
            report.error = "the presence stream was not read to its end within \(timeout.seconds) s"
        }

        let now = Date()
        report.copies = latest.values.map { entry in
            let announcement = entry.announcement
            let age = max(0, now.timeIntervalSince(entry.sent))
            let state: CopyState =
                announcement.state == .stopped
                ? .stopped : age > 3 * announcement.intervalSeconds ? .stale : .running
            return Copy(
                worker: announcement.worker, queue: announcement.queue, copyID: announcement.copyID,
                version: announcement.version, host: announcement.host, pid: announcement.pid,
                metricsURL: announcement.metricsURL, healthURL: announcement.healthURL,
                startedAt: announcement.startedAt, lastSeen: announcement.sentAt, ageSeconds: age,
                intervalSeconds: announcement.intervalSeconds, state: state, publishedBy: entry.user,
                announcements: entry.count)
        }
        .sorted { left, right in
            let (l, r) = (left.state == .stopped ? 1 : 0, right.state == .stopped ? 1 : 0)
            if l != r { return l < r }
            return (left.worker, left.host, left.pid, left.copyID) < (right.worker, right.host, right.pid, right.copyID)
        }
        return report
    }

    /// The announcement in `delivery`, or why it is not one.
    static func validate(
        _ delivery: AMQPDelivery
    ) -> Result<(announcement: PresenceAnnouncement, sent: Date), InvalidReason> {
        guard delivery.properties.type == PresenceAnnouncement.messageType else {
            return .failure(
                InvalidReason(
                    "type is \(delivery.properties.type.map { "'\(printable($0))'" } ?? "missing"), not '\(PresenceAnnouncement.messageType)'"
                ))
        }
        guard delivery.body.count <= 16_384 else {
            return .failure(InvalidReason("body of \(delivery.body.count) bytes is over 16384"))
        }
        guard let announcement = PresenceAnnouncement.decode(delivery.body) else {
            return .failure(InvalidReason("body is not a presence announcement (JSON with every field)"))
        }
        let texts = [
            announcement.worker, announcement.queue, announcement.copyID, announcement.version, announcement.host,
        ]
        guard texts.allSatisfy({ !$0.isEmpty && $0.count <= 255 && printable($0) == $0 }) else {
            return .failure(InvalidReason("a name is empty, over 255 characters or holds control characters"))
        }
        guard let sent = PresenceAnnouncement.date(announcement.sentAt),
            PresenceAnnouncement.date(announcement.startedAt) != nil
        else {
            return .failure(InvalidReason("sent_at or started_at is not an ISO 8601 time"))
        }
        // A time far ahead would let one forged `stopped` outlast every real announcement after it.
        guard sent.timeIntervalSinceNow <= 300 else {
            return .failure(InvalidReason("sent_at is more than 5 min ahead of this machine's clock"))
        }
        guard announcement.intervalSeconds.isFinite, announcement.intervalSeconds > 0,
            announcement.intervalSeconds <= 86_400
        else {
            return .failure(InvalidReason("interval_seconds must be more than 0 and at most a day"))
        }
        guard (1...Int(Int32.max)).contains(announcement.pid) else {
            return .failure(InvalidReason("pid \(announcement.pid) is not a process id"))
        }
        for url in [announcement.metricsURL, announcement.healthURL].compactMap({ $0 }) {
            let path = url.hasSuffix("/metrics") ? "/metrics" : url.hasSuffix("/health") ? "/health" : nil
            guard let path, WorkerEndpoint(url: String(url.dropLast(path.count))) != nil else {
                return .failure(InvalidReason("'\(printable(url))' is not http://host:port/metrics or /health"))
            }
        }
        return .success((announcement, sent))
    }

    /// Why a message is not an announcement.
    public struct InvalidReason: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// `text` with control characters replaced and cut at 200 characters, for a report.
    static func printable(_ text: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0 }))
        return cleaned.count > 200 ? String(cleaned.prefix(200)) + "…" : cleaned
    }
}
