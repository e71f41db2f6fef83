import Glibc

/// `timeval` for the timeouts rabbitmq-c takes (connect, handshake, RPC).
extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
