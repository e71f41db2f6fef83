import AMQP
import CommerceSupport
import Foundation
import Glibc
import Logging
import Resilience

/// One broker connection owned by a dedicated I/O thread that reconnects it with backoff: the part
/// that a consumer's two connections (``BrokerLink``'s consuming one, ``PublishingLink``) share.
///
/// rabbitmq-c connections are not thread-safe and only service heartbeats inside library calls,
/// so the connection never leaves this thread. Other threads hand it commands through an inbox
/// and wake it through a pipe that it polls beside the socket, so nothing spins. What a command
/// does, and what the connection is set up with, is the owner's (a ``Role``); this type holds the
/// loop around it:
///
/// - connect (trying every configured endpoint), let the owner set the connection up, then carry
///   out commands and hand broker events to the owner until the connection fails or the link stops;
/// - when it fails, answer every command still in the inbox with the failure (their callers would
///   otherwise wait in vain), let the owner clear its per-connection state, and try again after a
///   backoff delay (``Reconnection``);
/// - when it stops, answer what is left in the inbox and exit.
///
/// The owner's own thread-shared state (the consumer's mailbox, the publishing connection's alarm)
/// is kept under ``condition`` too, so that one broadcast on stopping wakes every waiter.
final class ReconnectingLink<Command>: @unchecked Sendable {
    // @unchecked: every mutable property below is read and written only with `condition` locked;
    // the AMQPConnection itself never leaves the I/O thread (it is a local of `run`).

    /// What the owner does on one connection, once it is set up. Called on the I/O thread only.
    struct Session {
        /// Carries out one command and answers it; throws when the connection can no longer be used.
        var carryOut: (Command) throws -> Void
        /// Handles one broker event; throws when it means the connection must be given up.
        var handle: (AMQPEvent) throws -> Void
        /// Runs after every wait for an event, whether one came or not; throws when the
        /// connection must be given up.
        var afterWait: () throws -> Void = {}
        /// Runs once when the link stops while this connection is up, before it is closed (a
        /// last message to send); its failure is logged, not retried.
        var closing: () throws -> Void = {}
        /// The longest wait for an event, so that ``afterWait`` runs at least this often.
        var longestWait: Duration = .seconds(1)
    }

    /// The owner's part of the loop.
    struct Role: @unchecked Sendable {
        // @unchecked: its closures run only on the link's I/O thread.

        /// Sets up a new connection (channels, topology), calls ``ReconnectingLink/markConnected(_:)``
        /// once it is usable, and returns how to serve it.
        var setUp: (AMQPConnection) throws -> Session
        /// Answers a command that will not be carried out: its connection was lost, or the link is
        /// stopping. Called without the lock held.
        var refuse: (Command, AMQPError) -> Void
        /// Clears the owner's per-connection state when a connection is lost. Called with
        /// ``ReconnectingLink/condition`` locked.
        var connectionLost: () -> Void = {}
    }

    /// The lock of the link's state, and of the owner's state that other threads share with it.
    let condition = NSCondition()
    /// The read end of the wake pipe: the I/O thread polls it beside the broker socket.
    let wakeDescriptor: Int32
    private let wakeWriter: Int32
    private let amqp: AMQPConfiguration
    private let reconnectDelays: Backoff
    /// What the link calls its connection in logs and errors ("broker connection").
    private let name: String
    /// The context of the error that answers the commands left when the link stops.
    private let stoppingContext: String
    private let logger: Logger
    private var inbox: [Command] = []
    private var connected = false
    /// Whether the connection being served got as far as ``markConnected(_:)``.
    private var setUpSinceConnect = false
    private var stopping = false
    private var finished = true
    private var lastError: String?
    private var thread: Thread?
    /// The socket of the connection being served, -1 between connections: shut down when a
    /// command's answer is overdue. Cleared before the connection is closed, so it never names a
    /// descriptor that was reused.
    private var servedSocket: Int32 = -1

    init(
        amqp: AMQPConfiguration, reconnectDelays: Backoff, name: String, stoppingContext: String, logger: Logger
    ) {
        self.amqp = amqp
        self.reconnectDelays = reconnectDelays
        self.name = name
        self.stoppingContext = stoppingContext
        self.logger = logger
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

    /// Starts the I/O thread, which serves connections in `role` until the link stops.
    func start(threadName: String, role: Role) {
        condition.lock()
        finished = false
        condition.unlock()
        let thread = Thread { [self] in run(role) }
        thread.name = threadName
        self.thread = thread
        thread.start()
    }

    /// Asks the I/O thread to close its connection and exit; returns once it has, or once
    /// `limit` has passed if one is given (a thread stuck in a write the broker does not read
    /// then exits on its own once the write returns).
    func stop(waitingAtMost limit: Duration? = nil) {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        wake()
        condition.lock()
        if let limit {
            let deadline = Date().addingTimeInterval(limit.seconds)
            while !finished && condition.wait(until: deadline) {}
        } else {
            while !finished { condition.wait() }
        }
        condition.unlock()
    }

    /// Whether a connection is up and set up.
    var isConnected: Bool {
        condition.lock()
        defer { condition.unlock() }
        return connected
    }

    /// Why the last connection failed; nil while one is up.
    var lastConnectionError: String? {
        condition.lock()
        defer { condition.unlock() }
        return lastError
    }

    /// Whether the link was asked to stop.
    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// ``isStopping`` for a caller that already holds ``condition`` (a waiter on the owner's state).
    var isStoppingLocked: Bool { stopping }

    /// Hands `command` to the I/O thread and wakes it.
    func submit(_ command: Command) {
        condition.lock()
        inbox.append(command)
        condition.unlock()
        wake()
    }

    /// Shuts down the socket of the connection being served, if any: a write stuck on a broker
    /// that stopped reading fails at once, and the thread reconnects.
    func dropServedConnection() {
        condition.lock()
        if servedSocket >= 0 { _ = shutdown(servedSocket, Int32(SHUT_RDWR)) }
        condition.unlock()
    }

    /// Called by ``Role/setUp`` once the connection is usable: the link reports itself connected
    /// and counts a later failure as a new run of attempts. `update` runs with the lock held.
    func markConnected(_ update: () -> Void = {}) {
        condition.lock()
        connected = true
        lastError = nil
        setUpSinceConnect = true
        update()
        condition.unlock()
    }

    private func wake() {
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
    }

    /// Carries out `commands` in order. When one throws, the connection is going: every command
    /// after it is answered with that failure through `refuse` (its caller would otherwise wait in
    /// vain), and the error is thrown on. `context` names the connection in a failure that is not
    /// already an ``AMQPError``.
    static func carryOut(
        _ commands: [Command], context: String, _ body: (Command) throws -> Void,
        refuse: (Command, AMQPError) -> Void
    ) throws {
        for (position, command) in commands.enumerated() {
            do {
                try body(command)
            } catch {
                let failure =
                    error as? AMQPError ?? AMQPError(code: .socketError, message: "\(error)", context: context)
                for later in commands[(position + 1)...] { refuse(later, failure) }
                throw error
            }
        }
    }

    // MARK: - I/O thread

    private func run(_ role: Role) {
        var reconnection = Reconnection(delays: reconnectDelays)
        while !isStopping {
            condition.lock()
            setUpSinceConnect = false
            condition.unlock()
            do {
                let connection = try AMQPConnection(configuration: amqp)
                try serve(connection, role)
                connection.close()
            } catch {
                condition.lock()
                let wasSetUp = setUpSinceConnect
                condition.unlock()
                let delay = reconnection.failed(afterSetUp: wasSetUp)
                logger.warning(
                    "\(name) lost; reconnecting",
                    metadata: ["error": "\(error)", "attempt": "\(reconnection.attempt)", "retry_in": "\(delay)"])
                connectionLost(error: "\(error)", role)
                sleepUnlessStopping(delay)
            }
        }
        // Every command still waiting is refused before the link counts as finished, so that
        // `stop()` returns only once each has its answer (one submitted meanwhile included).
        let stopped = AMQPError(code: .invalidState, message: "the worker is stopping", context: stoppingContext)
        while true {
            condition.lock()
            connected = false
            let leftover = inbox
            inbox.removeAll()
            if leftover.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            condition.unlock()
            for command in leftover { role.refuse(command, stopped) }
        }
    }

    /// Sets the connection up and serves commands and events until it fails or the link stops.
    private func serve(_ connection: AMQPConnection, _ role: Role) throws {
        condition.lock()
        servedSocket = connection.socketDescriptor
        condition.unlock()
        defer {
            condition.lock()
            servedSocket = -1
            condition.unlock()
        }
        let session = try role.setUp(connection)
        while true {
            try Self.carryOut(takeInbox(), context: name, session.carryOut, refuse: role.refuse)
            if isStopping {
                logger.info("closing \(name)")
                do {
                    try session.closing()
                } catch {
                    logger.warning("\(name): the last message before closing failed", metadata: ["error": "\(error)"])
                }
                return
            }
            if let event = try connection.nextEvent(timeout: session.longestWait, wakeDescriptor: wakeDescriptor) {
                try session.handle(event)
            }
            try session.afterWait()
        }
    }

    private func takeInbox() -> [Command] {
        condition.lock()
        defer { condition.unlock() }
        let taken = inbox
        inbox.removeAll()
        return taken
    }

    private func connectionLost(error: String, _ role: Role) {
        condition.lock()
        connected = false
        lastError = error
        role.connectionLost()
        let pending = inbox
        inbox.removeAll()
        condition.unlock()
        let failure = AMQPError(code: .socketError, message: error, context: name)
        for command in pending { role.refuse(command, failure) }
    }

    private func sleepUnlessStopping(_ delay: Duration) {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(delay.seconds)
        while !stopping && condition.wait(until: deadline) {}
    }
}

/// The reconnect rule of a ``ReconnectingLink``, as a pure value: the delay before the next try
/// grows with the failures since the last connection that got fully set up, so that a broker that
/// accepts the connection but refuses the topology is backed off from instead of hammered.
struct Reconnection {
    let delays: Backoff
    /// Failures counted in the current run, 1 for the first.
    private(set) var attempt = 0

    init(delays: Backoff) {
        self.delays = delays
    }

    /// A connection failed; `afterSetUp` says whether it had been fully set up first. Returns how
    /// long to wait before the next try.
    mutating func failed(afterSetUp: Bool) -> Duration {
        if afterSetUp { attempt = 0 }
        attempt += 1
        return delays.delay(forAttempt: attempt)
    }
}
