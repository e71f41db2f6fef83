import Synchronization

/// A circuit breaker: stops calling a failing dependency for a while, then lets a few trial
/// calls through to learn whether it has recovered.
///
/// - **Closed**: calls pass. ``Configuration-swift.struct/failureThreshold`` consecutive
///   failures open the circuit; a success resets the count.
/// - **Open**: calls are refused with ``CircuitBreakerError/open(retryAfter:)`` until
///   ``Configuration-swift.struct/openTimeout`` has passed, then the circuit is half-open.
/// - **Half-open**: trial calls pass, at most ``Configuration-swift.struct/successThreshold`` at
///   a time, others are refused. One failed trial opens the circuit again for a full timeout;
///   after ``Configuration-swift.struct/successThreshold`` successful trials it closes (by
///   default three, so one lucky call does not send the full load back to a dependency that is
///   still recovering).
///
/// A result is counted only in the phase that admitted its call: a slow call admitted while
/// closed that fails after the circuit opened does not extend the open period, and does not
/// count as a trial.
///
/// Thread-safe: the state machine sits behind a `Mutex`, so one breaker can guard a dependency
/// shared by many tasks and threads. It never sleeps or does I/O; time comes from the injected
/// clock.
public final class CircuitBreaker: Sendable {
    /// Thresholds and timeout.
    public struct Configuration: Sendable, Hashable {
        /// Consecutive failures in the closed state that open the circuit; at least 1.
        public var failureThreshold: Int
        /// How long the circuit stays open before trial calls are allowed.
        public var openTimeout: Duration
        /// Successful trial calls in the half-open state that close the circuit; also the most
        /// trials admitted while half-open (the calls beyond those could not change the verdict).
        /// At least 1.
        public var successThreshold: Int

        /// A configuration. Defaults: open after 5 consecutive failures, for 30 s, then close
        /// after 3 successful trial calls.
        ///
        /// - Precondition: `failureThreshold` ≥ 1, `successThreshold` ≥ 1, `openTimeout` ≥ 0.
        public init(failureThreshold: Int = 5, openTimeout: Duration = .seconds(30), successThreshold: Int = 3) {
            precondition(failureThreshold >= 1, "failureThreshold must be at least 1")
            precondition(successThreshold >= 1, "successThreshold must be at least 1")
            precondition(openTimeout >= .zero, "openTimeout must not be negative")
            self.failureThreshold = failureThreshold
            self.openTimeout = openTimeout
            self.successThreshold = successThreshold
        }
    }

    /// The circuit's phase, for logs, metrics and health checks.
    public enum State: Sendable, Hashable {
        /// Calls pass.
        case closed
        /// Calls are refused.
        case open
        /// A limited number of trial calls pass.
        case halfOpen
    }

    /// What a finished call tells the breaker.
    public enum Outcome: Sendable, Hashable {
        /// The dependency worked (this includes a business refusal, such as a declined card:
        /// the gateway answered).
        case success
        /// The dependency failed (timeout, connection refused, 5xx).
        case failure
        /// The call says nothing about the dependency (the caller cancelled it). A half-open
        /// trial slot it held is given back.
        case ignored
    }

    /// Admission of one call, returned by ``acquire()`` and handed back to
    /// ``record(_:outcome:)``.
    public struct Permit: Sendable, Hashable {
        let generation: UInt64
    }

    /// A change of phase: the phase left and the phase entered.
    public typealias Transition = (from: State, to: State)

    private let machine: Mutex<StateMachine>
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let onTransition: (@Sendable (Transition) -> Void)?

    /// A closed breaker.
    ///
    /// - Parameters:
    ///   - clock: The current time; `ContinuousClock.now` by default. Tests pass a closure over a
    ///     time they advance by hand.
    ///   - onTransition: Told of every change of phase (for metrics and logs), after the breaker's
    ///     lock is released, on the thread that observed it. The open → half-open change happens
    ///     with time, so it is reported when a call or a ``state`` read first sees it.
    public init(
        configuration: Configuration = Configuration(),
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        onTransition: (@Sendable (Transition) -> Void)? = nil
    ) {
        machine = Mutex(StateMachine(configuration: configuration))
        self.clock = clock
        self.onTransition = onTransition
    }

    /// The current phase. An open circuit whose timeout has passed reports ``State/halfOpen``.
    public var state: State {
        let now = clock()
        return observing { $0.state(now: now) }
    }

    /// Runs `body` on the state machine under the lock and reports a change of phase it caused.
    private func observing<T>(_ body: (inout StateMachine) -> T) -> T {
        let (value, before, after) = machine.withLock { machine in
            let before = machine.currentState
            let value = body(&machine)
            return (value, before, machine.currentState)
        }
        if before != after, let onTransition { onTransition((from: before, to: after)) }
        return value
    }

    /// Asks to make one call. Pair every permit with exactly one ``record(_:outcome:)``, or use
    /// ``run(classifyError:isolation:_:)``, which does both.
    ///
    /// - Throws: ``CircuitBreakerError/open(retryAfter:)`` when the call must not be made:
    ///   the time left while open, or the whole open timeout while the half-open trials are in
    ///   flight (the longest wait if they fail).
    public func acquire() throws(CircuitBreakerError) -> Permit {
        let now = clock()
        switch observing({ $0.acquire(now: now) }) {
        case .allow(let permit): return permit
        case .reject(let retryAfter): throw .open(retryAfter: retryAfter)
        }
    }

    /// Reports how a call admitted by `permit` ended.
    public func record(_ permit: Permit, outcome: Outcome) {
        let now = clock()
        observing { $0.record(outcome, for: permit, now: now) }
    }

    /// Runs `operation` if the circuit admits it and records its outcome.
    ///
    /// - Parameters:
    ///   - classifyError: What an error of `operation` says about the dependency. By default
    ///     `CancellationError` is ``Outcome/ignored`` and anything else a ``Outcome/failure``.
    ///   - operation: The call to the dependency. Its result or error is passed through.
    /// - Throws: ``CircuitBreakerError/open(retryAfter:)`` without calling `operation`, or the
    ///   error of `operation`.
    public func run<T>(
        classifyError: (any Error) -> Outcome = CircuitBreaker.defaultClassification,
        isolation: isolated (any Actor)? = #isolation,
        _ operation: () async throws -> T
    ) async throws -> T {
        let permit = try acquire()
        do {
            let value = try await operation()
            record(permit, outcome: .success)
            return value
        } catch {
            record(permit, outcome: classifyError(error))
            throw error
        }
    }

    /// The blocking form of ``run(classifyError:isolation:_:)`` for code on a dedicated thread.
    public func runBlocking<T>(
        classifyError: (any Error) -> Outcome = CircuitBreaker.defaultClassification,
        _ operation: () throws -> T
    ) throws -> T {
        let permit = try acquire()
        do {
            let value = try operation()
            record(permit, outcome: .success)
            return value
        } catch {
            record(permit, outcome: classifyError(error))
            throw error
        }
    }

    /// `CancellationError` is ``Outcome/ignored``; every other error is a ``Outcome/failure``.
    public static func defaultClassification(_ error: any Error) -> Outcome {
        error is CancellationError ? .ignored : .failure
    }
}
