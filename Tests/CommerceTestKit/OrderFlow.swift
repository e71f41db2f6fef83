import CommerceMessages
import Foundation
import Testing

/// What a failover costs, from the orders of one drill: completions per second before, during
/// and after the fault, the longest time without any terminal event, and the orders' latency
/// (publish to terminal event). Computed from times the test itself took, so that the figures
/// of docs/scaling.md come from the same run that checked nothing was lost.
public struct FlowFigures: Sendable, Hashable, CustomStringConvertible {
    /// One order of the drill: when it was published and when its first terminal event was seen
    /// (nil: never).
    public struct Order: Sendable, Hashable {
        public var sent: Date
        public var ended: Date?
        public init(sent: Date, ended: Date?) {
            self.sent = sent
            self.ended = ended
        }
    }

    public var orders: Int
    public var ended: Int
    /// Terminal events per second in [start, faultStart), [faultStart, faultEnd), [faultEnd, end).
    public var beforePerSecond: Double
    public var duringPerSecond: Double
    public var afterPerSecond: Double
    /// The longest interval between two consecutive terminal events (or from the fault's start
    /// to the first one after it), in seconds.
    public var longestGap: Double
    /// Publish to terminal event, nearest rank, in seconds.
    public var p50: Double
    public var p99: Double
    public var max: Double
    /// How long the fault itself took (the node down, the link cut, the failover, the copies in).
    public var faultSeconds: Double

    public init(orders list: [Order], start: Date, faultStart: Date, faultEnd: Date, end: Date) {
        orders = list.count
        let arrivals = list.compactMap(\.ended).sorted()
        ended = arrivals.count
        func rate(_ from: Date, _ to: Date) -> Double {
            let seconds = to.timeIntervalSince(from)
            guard seconds > 0 else { return 0 }
            return Double(arrivals.filter { $0 >= from && $0 < to }.count) / seconds
        }
        beforePerSecond = rate(start, faultStart)
        duringPerSecond = rate(faultStart, faultEnd)
        afterPerSecond = rate(faultEnd, end)
        var gap = 0.0
        var previous: Date? = nil
        for arrival in arrivals {
            if let previous { gap = Swift.max(gap, arrival.timeIntervalSince(previous)) }
            previous = arrival
        }
        // A fault that stops everything until it ends shows as the wait for the first event after it began.
        if let first = arrivals.first(where: { $0 >= faultStart }) {
            let last = arrivals.last(where: { $0 < faultStart }) ?? faultStart
            gap = Swift.max(gap, first.timeIntervalSince(Swift.max(last, start)))
        }
        longestGap = gap
        let latencies = list.compactMap { order in order.ended.map { $0.timeIntervalSince(order.sent) } }.sorted()
        func rank(_ percentile: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let index = Int((percentile / 100 * Double(latencies.count)).rounded(.up)) - 1
            return latencies[Swift.min(Swift.max(index, 0), latencies.count - 1)]
        }
        p50 = rank(50)
        p99 = rank(99)
        max = latencies.last ?? 0
        faultSeconds = faultEnd.timeIntervalSince(faultStart)
    }

    public var description: String {
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        return
            "orders=\(orders) ended=\(ended) before=\(f(beforePerSecond))/s during=\(f(duringPerSecond))/s "
            + "after=\(f(afterPerSecond))/s fault=\(f(faultSeconds))s longest_gap=\(f(longestGap))s "
            + "p50=\(f(p50))s p99=\(f(p99))s max=\(f(max))s"
    }
}

/// A steady flow of orders through the whole saga on a ``ServiceFixture``: published at `rate`
/// per second on the test's own connection, their terminal events read from the fixture's watch
/// queue as they come, each with the time it was seen. One thread does both (the fixture's
/// connection is not shared), so a fault's action runs beside it (``runInBackground(_:)``) or between
/// its ticks (``tick()``).
public final class OrderFlow {
    public struct Sent {
        public var command: PlaceOrder
        public var declined: Bool
        public var sent: Date
    }

    private let fixture: ServiceFixture
    private let saga: SagaDriver
    private let rate: Double
    private let sku: String
    /// Every order published, in order.
    public private(set) var sent: [Sent] = []
    /// Each order's terminal events (identical copies, an at-least-once redelivery, once).
    public private(set) var events: [String: [AnyMessage]] = [:]
    /// When each order's first terminal event was seen.
    public private(set) var endedAt: [String: Date] = [:]
    private var paceStart = Date()
    private var pacedCount = 0

    public init(fixture: ServiceFixture, saga: SagaDriver, rate: Double, sku: String) {
        self.fixture = fixture
        self.saga = saga
        self.rate = rate
        self.sku = sku
    }

    /// Starts pacing from now (orders due at `rate` since this instant).
    public func resume() {
        paceStart = Date()
        pacedCount = 0
    }

    /// Publishes the orders due by now (one in ten declined) and reads the terminal events that came.
    public func tick() throws {
        let due = Int(Date().timeIntervalSince(paceStart) * rate) - pacedCount
        for _ in 0..<Swift.max(due, 0) {
            let declined = sent.count % 10 == 0
            let command = saga.order([(sku, 1, 30_000)], token: declined ? "tok_decline" : "tok_approve")
            try fixture.publish(command)
            sent.append(Sent(command: command, declined: declined, sent: Date()))
            pacedCount += 1
        }
        try collect()
    }

    /// Reads whatever terminal events are on the watch queue now.
    public func collect() throws {
        while let delivery = try fixture.amqp.get(channel: fixture.channel, queue: fixture.watchQueue, autoAck: true) {
            let event = try AnyMessage.decode(type: delivery.properties.type ?? "", body: delivery.body)
            if !(events[event.orderID] ?? []).contains(event) { events[event.orderID, default: []].append(event) }
            if endedAt[event.orderID] == nil { endedAt[event.orderID] = Date() }
        }
    }

    /// Keeps the flow going for `seconds`.
    public func run(seconds: Double) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            try tick()
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Keeps the flow going while `action` runs on a thread of its own; then throws its error, if any.
    public func runInBackground(_ action: @escaping @Sendable () throws -> Void) throws {
        let outcome = BackgroundOutcome()
        let thread = Thread {
            do {
                try action()
                outcome.finish(nil)
            } catch {
                outcome.finish(error)
            }
        }
        thread.start()
        while !outcome.isDone {
            try tick()
            Thread.sleep(forTimeInterval: 0.02)
        }
        if let error = outcome.error { throw error }
    }

    /// Waits, publishing nothing more, until every order published since `first` has a terminal
    /// event, or `timeout`; returns how many have none.
    @discardableResult
    public func settle(from first: Int, timeout: Duration) throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            try collect()
            if sent[first...].allSatisfy({ endedAt[$0.command.orderID] != nil }) { return 0 }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return sent[first...].filter { endedAt[$0.command.orderID] == nil }.count
    }

    /// The figures of the orders published since `first`.
    public func figures(from first: Int, start: Date, faultStart: Date, faultEnd: Date, end: Date) -> FlowFigures {
        FlowFigures(
            orders: sent[first...].map { FlowFigures.Order(sent: $0.sent, ended: endedAt[$0.command.orderID]) },
            start: start, faultStart: faultStart, faultEnd: faultEnd, end: end)
    }
}

/// The end of a fault's action, run on a thread of its own.
private final class BackgroundOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private var failure: (any Error)?

    func finish(_ error: (any Error)?) {
        lock.lock()
        defer { lock.unlock() }
        if done { return }
        done = true
        failure = error
    }

    var isDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return done
    }

    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }
}
