import Foundation
import Glibc

/// An in-process TCP proxy on `127.0.0.1` (an ephemeral port) to a server on the loopback, that
/// can go silent: ``freeze()`` stops it reading, forwarding and accepting in both directions
/// while every socket stays open, as a frozen server, a half-open connection or a network
/// partition looks to a client (the kernel still accepts and acknowledges, nothing answers).
/// ``thaw()`` resumes where it stopped; ``dropAll()`` closes every connection (a reset).
///
/// Point a client at it with ``redirect(_:)``. Only the client's own connections go through it,
/// so a test can silence one worker's database or broker without touching the shared servers.
/// One thread serves every connection with `poll(2)` and writes with blocking sends, so an end
/// that stops reading stalls every connection of the proxy: one proxy per silenced link.
/// ``stop()`` ends the thread (which holds the proxy until then).
public final class FreezableProxy: @unchecked Sendable {
    // @unchecked: `frozen`, `dropping` and `stopping` are guarded by `lock`; `pairs` belongs to
    // the proxy's thread alone.
    /// The port the proxy listens on (`127.0.0.1`).
    public let port: Int
    private let targetPort: Int
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = NSCondition()
    private var frozen = false
    private var dropping = false
    private var stopping = false
    private var finished = false
    private var accepted = 0
    private var pairs: [(client: Int32, server: Int32)] = []

    /// A proxy to `127.0.0.1:targetPort`.
    public init(targetPort: Int) throws {
        self.targetPort = targetPort
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw Self.failure("socket") }
        var one: Int32 = 1
        _ = setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw Self.failure("bind/listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            close(listener)
            throw Self.failure("pipe")
        }
        for end in ends { _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        let thread = Thread { [self] in run() }
        thread.name = "freezable-proxy-\(port)"
        thread.start()
    }

    /// A proxy to the host and port of `url` (`postgresql://…`, `amqp://…`), which must be on the
    /// loopback: test traffic never leaves the machine.
    public convenience init(forwardingTo url: String) throws {
        guard let components = URLComponents(string: url), let host = components.host,
            ["127.0.0.1", "localhost"].contains(host)
        else { throw ProxyError(message: "FreezableProxy forwards to 127.0.0.1 only, not to the host of \(url)") }
        let port = components.port ?? (components.scheme?.hasPrefix("amqp") == true ? 5672 : 5432)
        try self.init(targetPort: port)
    }

    deinit {
        stop()
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    /// `url` with its host and port replaced by the proxy's; user, path and query kept.
    public func redirect(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.host = "127.0.0.1"
        components.port = port
        return components.string ?? url
    }

    /// Stops reading, forwarding and accepting, in both directions; every socket stays open.
    public func freeze() { set { $0.frozen = true } }

    /// Forwards again what was held and what comes next.
    public func thaw() { set { $0.frozen = false } }

    /// Closes every connection through the proxy (each client sees its connection reset).
    public func dropAll() { set { $0.dropping = true } }

    /// Connections accepted so far.
    public var acceptedConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    /// Closes every connection and ends the proxy's thread; returns once it has. Idempotent.
    public func stop() {
        set { $0.stopping = true }
        lock.lock()
        while !finished { lock.wait() }
        lock.unlock()
    }

    private func set(_ change: (FreezableProxy) -> Void) {
        lock.lock()
        change(self)
        lock.unlock()
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    // MARK: - The proxy's thread

    private func run() {
        defer {
            closeAll()
            lock.lock()
            finished = true
            lock.broadcast()
            lock.unlock()
        }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            lock.lock()
            let (isFrozen, drop, stop) = (frozen, dropping, stopping)
            dropping = false
            lock.unlock()
            if stop { return }
            if drop { closeAll() }
            var descriptors = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if !isFrozen {
                descriptors.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
                for pair in pairs {
                    descriptors.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
                    descriptors.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
                }
            }
            if poll(&descriptors, nfds_t(descriptors.count), -1) < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(wakeRead, &drain, drain.count) > 0 {}
                continue  // the state may have changed: frozen connections must not be read
            }
            guard !isFrozen else { continue }
            // The pairs polled; one accepted below is polled from the next round on.
            let polled = pairs
            if descriptors[1].revents != 0 { acceptOne() }
            var closed: Set<Int> = []
            for (index, pair) in polled.enumerated() {
                let clientEvents = descriptors[2 + 2 * index].revents
                let serverEvents = descriptors[3 + 2 * index].revents
                var alive = true
                if clientEvents != 0 { alive = forward(from: pair.client, to: pair.server, &buffer) }
                if alive, serverEvents != 0 { alive = forward(from: pair.server, to: pair.client, &buffer) }
                if !alive {
                    close(pair.client)
                    close(pair.server)
                    closed.insert(index)
                }
            }
            if !closed.isEmpty {
                pairs = pairs.enumerated().filter { !closed.contains($0.offset) }.map(\.element)
            }
        }
    }

    private func acceptOne() {
        let client = accept(listener, nil, nil)
        guard client >= 0 else { return }
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: targetPort)
        let connected =
            server >= 0
            && withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
        guard connected else {
            close(client)
            if server >= 0 { close(server) }
            return
        }
        var one: Int32 = 1
        for end in [client, server] {
            _ = setsockopt(end, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        pairs.append((client, server))
        lock.lock()
        accepted += 1
        lock.unlock()
    }

    /// Copies what `source` has to `destination`; false when either end is closed.
    private func forward(from source: Int32, to destination: Int32, _ buffer: inout [UInt8]) -> Bool {
        let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        if count < 0 { return errno == EINTR || errno == EAGAIN }
        if count == 0 { return false }
        var written = 0
        while written < count {
            let result = buffer.withUnsafeBytes {
                send(destination, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL))
            }
            if result < 0 {
                if errno == EINTR { continue }
                return false
            }
            written += result
        }
        return true
    }

    private func closeAll() {
        for pair in pairs {
            close(pair.client)
            close(pair.server)
        }
        pairs.removeAll()
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private static func failure(_ call: String) -> ProxyError {
        ProxyError(message: "FreezableProxy: \(call) failed: \(String(cString: strerror(errno)))")
    }

    /// The proxy could not be set up.
    public struct ProxyError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }
}
