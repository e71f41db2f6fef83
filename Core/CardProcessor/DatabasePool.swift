import Dispatch
import Postgres
import Synchronization

/// A small pool of PostgreSQL connections for async code, each connection confined to a serial
/// `DispatchQueue` of its own.
///
/// libpq blocks and a `PGconn` must not be used from two threads at once, so a connection never
/// runs on the caller's thread (a NIO event loop or Swift's cooperative pool): the caller waits
/// for a free slot, its closure runs on that slot's queue, and the result comes back through a
/// continuation. This is the model of swift-kafka-client's `DispatchQueueTaskExecutor`.
///
/// Connections are opened lazily and replaced after an infrastructure failure
/// (``PostgresError/isInfrastructureFailure``: the server restarted, the network broke), so a
/// pool outlives a PostgreSQL restart: while the server is down every call fails fast with the
/// connection error, and the first call after it is back connects again. `prepare` runs on every
/// new connection before its first use (the card processor runs its idempotent migrations there).
///
/// Thread-safe: the free list and the waiters are one `Mutex`-protected state.
public final class DatabasePool: Sendable {
    /// Where and how many.
    public struct Configuration: Sendable {
        /// A libpq connection string or URL (secret: never logged).
        public var url: String
        /// How many connections at most; also how many statements run at once.
        public var size: Int
        /// `application_name` of each session, so `pg_stat_activity` names the program.
        public var applicationName: String

        /// A pool configuration. Default size 8.
        public init(url: String, size: Int = 8, applicationName: String = "payment-gateway") {
            self.url = url
            self.size = max(1, size)
            self.applicationName = applicationName
        }
    }

    /// One connection and the queue it is confined to.
    private final class Slot: @unchecked Sendable {
        // @unchecked: `connection` is only read and written by blocks running on `queue`, a
        // serial queue, and a slot is handed to one caller at a time by the pool.
        let queue: DispatchQueue
        var connection: PostgresConnection?

        init(index: Int) {
            queue = DispatchQueue(label: "payment-gateway.postgres.\(index)")
        }
    }

    private struct State {
        var free: [Int]
        var waiters: [CheckedContinuation<Int, Never>] = []
    }

    private let configuration: Configuration
    private let prepare: @Sendable (PostgresConnection) throws -> Void
    private let slots: [Slot]
    private let state: Mutex<State>

    /// A pool that connects on first use.
    ///
    /// - Parameter prepare: Runs once on every new connection before its first statement; an
    ///   error closes the connection and fails the call that needed it.
    public init(
        configuration: Configuration, prepare: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.prepare = prepare
        slots = (0..<configuration.size).map { Slot(index: $0) }
        state = Mutex(State(free: Array((0..<configuration.size).reversed())))
    }

    /// Runs `body` with a connection of the pool, off the caller's thread, and returns its result.
    ///
    /// Waits while every connection is busy (first come, first served). `body` must leave the
    /// connection as it found it: no transaction open (``PostgresConnection/transaction(_:)``
    /// does that).
    /// - Throws: ``PostgresError/Code/connectionFailed`` when no connection can be made, or
    ///   whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws
        -> T
    {
        let index = await acquire()
        defer { release(index) }
        let slot = slots[index]
        let configuration = configuration
        let prepare = prepare
        return try await withCheckedThrowingContinuation { continuation in
            slot.queue.async {
                continuation.resume(
                    with: Result { try Self.run(body, on: slot, configuration: configuration, prepare: prepare) })
            }
        }
    }

    /// On the slot's queue: (re)connects if needed, runs `body`, drops a connection that broke.
    private static func run<T>(
        _ body: (PostgresConnection) throws -> T, on slot: Slot, configuration: Configuration,
        prepare: (PostgresConnection) throws -> Void
    ) throws -> T {
        if let connection = slot.connection, !connection.isConnected {
            connection.close()
            slot.connection = nil
        }
        let connection: PostgresConnection
        if let open = slot.connection {
            connection = open
        } else {
            connection = try PostgresConnection(url: configuration.url, applicationName: configuration.applicationName)
            do {
                try prepare(connection)
            } catch {
                connection.close()
                throw error
            }
            slot.connection = connection
        }
        do {
            return try body(connection)
        } catch {
            // A broken session is not reused: the next call on this slot connects afresh.
            let broken = (error as? PostgresError)?.isInfrastructureFailure ?? false
            if broken || !connection.isConnected || connection.inTransaction {
                connection.close()
                slot.connection = nil
            }
            throw error
        }
    }

    private func acquire() async -> Int {
        await withCheckedContinuation { continuation in
            let index = state.withLock { state -> Int? in
                if let index = state.free.popLast() { return index }
                state.waiters.append(continuation)
                return nil
            }
            if let index { continuation.resume(returning: index) }
        }
    }

    private func release(_ index: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Int, Never>? in
            if state.waiters.isEmpty {
                state.free.append(index)
                return nil
            }
            return state.waiters.removeFirst()
        }
        // Handed straight to the longest waiter: the slot never passes through the free list.
        waiter?.resume(returning: index)
    }
}
