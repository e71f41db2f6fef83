extension CircuitBreaker {
    /// The breaker's rules as a value: every input is a method that takes the time, updates the
    /// phase and returns what the caller must do. Not thread-safe by itself; ``CircuitBreaker``
    /// keeps it behind its mutex.
    struct StateMachine {
        enum Phase: Equatable {
            case closed(consecutiveFailures: Int)
            case open(until: ContinuousClock.Instant)
            case halfOpen(admitted: Int, succeeded: Int)
        }

        enum AcquireDecision: Equatable {
            case allow(Permit)
            case reject(retryAfter: Duration)
        }

        let configuration: Configuration
        private(set) var phase: Phase = .closed(consecutiveFailures: 0)
        // Bumped on every change of phase. Permits carry it, so a result that arrives after the
        // phase it was admitted in has ended is recognised as stale and dropped.
        private(set) var generation: UInt64 = 0

        init(configuration: Configuration) {
            self.configuration = configuration
        }

        mutating func state(now: ContinuousClock.Instant) -> State {
            expireOpenPhase(now: now)
            return currentState
        }

        mutating func acquire(now: ContinuousClock.Instant) -> AcquireDecision {
            expireOpenPhase(now: now)
            switch phase {
            case .closed:
                return .allow(Permit(generation: generation))
            case .open(let until):
                return .reject(retryAfter: until - now)
            case .halfOpen(let admitted, let succeeded):
                guard admitted < configuration.successThreshold else {
                    return .reject(retryAfter: configuration.openTimeout)
                }
                phase = .halfOpen(admitted: admitted + 1, succeeded: succeeded)
                return .allow(Permit(generation: generation))
            }
        }

        mutating func record(_ outcome: Outcome, for permit: Permit, now: ContinuousClock.Instant) {
            guard permit.generation == generation else { return }
            switch (phase, outcome) {
            case (.closed(let failures), .failure):
                if failures + 1 >= configuration.failureThreshold {
                    enter(.open(until: now + configuration.openTimeout))
                } else {
                    phase = .closed(consecutiveFailures: failures + 1)
                }
            case (.closed, .success):
                phase = .closed(consecutiveFailures: 0)
            case (.closed, .ignored):
                break
            case (.halfOpen, .failure):
                enter(.open(until: now + configuration.openTimeout))
            case (.halfOpen(let admitted, let succeeded), .success):
                if succeeded + 1 >= configuration.successThreshold {
                    enter(.closed(consecutiveFailures: 0))
                } else {
                    phase = .halfOpen(admitted: admitted, succeeded: succeeded + 1)
                }
            case (.halfOpen(let admitted, let succeeded), .ignored):
                phase = .halfOpen(admitted: admitted - 1, succeeded: succeeded)
            case (.open, _):
                // No permit of the current generation is issued while open: opening bumps it.
                break
            }
        }

        /// The phase as last computed, without looking at the time.
        var currentState: State {
            switch phase {
            case .closed: .closed
            case .open: .open
            case .halfOpen: .halfOpen
            }
        }

        private mutating func expireOpenPhase(now: ContinuousClock.Instant) {
            if case .open(let until) = phase, now >= until {
                enter(.halfOpen(admitted: 0, succeeded: 0))
            }
        }

        private mutating func enter(_ newPhase: Phase) {
            phase = newPhase
            generation &+= 1
        }
    }
}
