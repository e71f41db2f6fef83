import AMQP
import CommerceSupport
import Foundation

/// What a worker copy says about itself on the fleet's presence stream, so that `commerce status`
/// finds every running copy without a list of addresses (docs/operations.md, "Finding the fleet").
///
/// A copy publishes one `running` announcement every `presence.intervalMs` and one `stopped`
/// announcement when it stops gracefully. The body is JSON with snake_case keys; it carries only
/// what `/metrics` already shows (name, version, host, pid, addresses), never a URL of a broker or
/// a store, nor any credential.
public struct PresenceAnnouncement: Codable, Sendable, Equatable {
    /// The AMQP `type` of an announcement.
    public static let messageType = "fleet.presence"

    public enum State: String, Codable, Sendable {
        case running, stopped
    }

    /// The executable (`app_id`): `order-worker`, `probe-worker` …
    public var worker: String
    /// The queue it consumes.
    public var queue: String
    /// Random per process: tells apart two copies on one host, or a copy restarted with the same pid.
    public var copyID: String
    public var version: String
    public var host: String
    public var pid: Int
    /// `http://host:port/metrics` and `/health`; `nil` when the copy serves no HTTP endpoint.
    public var metricsURL: String?
    public var healthURL: String?
    /// ISO 8601, UTC.
    public var startedAt: String
    public var sentAt: String
    /// The copy's heartbeat period: a reader counts a copy stale after three of them without news.
    public var intervalSeconds: Double
    public var state: State

    public init(
        worker: String, queue: String, copyID: String, version: String, host: String, pid: Int, metricsURL: String?,
        healthURL: String?, startedAt: Date, sentAt: Date, interval: Duration, state: State
    ) {
        self.worker = worker
        self.queue = queue
        self.copyID = copyID
        self.version = version
        self.host = host
        self.pid = pid
        self.metricsURL = metricsURL
        self.healthURL = healthURL
        self.startedAt = Self.format(startedAt)
        self.sentAt = Self.format(sentAt)
        intervalSeconds = interval.seconds
        self.state = state
    }

    private enum CodingKeys: String, CodingKey {
        case worker, queue, copyID = "copy_id", version, host, pid, metricsURL = "metrics_url",
            healthURL = "health_url", startedAt = "started_at", sentAt = "sent_at",
            intervalSeconds = "interval_seconds", state
    }

    /// The announcement's JSON body.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// An announcement read back from a body, or `nil` for anything that is not one.
    public static func decode(_ body: [UInt8]) -> PresenceAnnouncement? {
        try? JSONDecoder().decode(PresenceAnnouncement.self, from: Data(body))
    }

    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// A timestamp of an announcement (``sentAt``, ``startedAt``) as a date, `nil` when it is not ISO 8601.
    public static func date(_ text: String) -> Date? {
        (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: Date.ISO8601FormatStyle()))
    }
}

/// The fleet's presence stream: a RabbitMQ stream queue named `<exchange>.presence` that every
/// copy publishes its announcements to through the default exchange.
///
/// Why a stream reached through the default exchange: a worker's broker user may already write to
/// `amq.default` (its retries and dead letters go through it), so announcing needs no permission a
/// worker lacks, and a message sent there reaches only the queue it names, never a worker queue
/// bound on the saga's exchange. A stream is read without being consumed: every operator's
/// `commerce status` reads the last minutes of announcements from a timestamp, and the broker
/// trims old segments by age and size.
public enum PresenceStream {
    /// The stream's name for a fleet on `exchange`.
    public static func name(exchange: String) -> String { "\(exchange).presence" }

    /// Retention: announcements older than an hour, or past 20 MB, go with their segment (1 MB).
    public static let arguments: AMQPTable = [
        "x-queue-type": "stream", "x-max-age": "1h", "x-max-length-bytes": .int(20_000_000),
        "x-stream-max-segment-size-bytes": .int(1_000_000),
    ]

    /// Declares the stream (durable, as streams must be).
    public static func declare(name: String, on connection: AMQPConnection, channel: UInt16) throws(AMQPError) {
        try connection.declareQueue(channel: channel, name: name, durable: true, arguments: arguments)
    }
}
