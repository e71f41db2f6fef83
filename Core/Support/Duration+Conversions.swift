import Foundation

/// Plain-number views of a `Duration`, for APIs that take seconds or milliseconds (Foundation's
/// `TimeInterval`, `poll(2)`, RabbitMQ's `x-message-ttl`, SQL intervals, metrics).
extension Duration {
    /// The duration as fractional seconds, to attosecond input precision (a `Double` keeps about
    /// 15 significant digits).
    public var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// The duration in whole milliseconds, truncated toward zero (sub-millisecond parts are dropped).
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
