import AMQP
import CommerceTestKit
import Foundation
import Logging
import Resilience
import Testing

@testable import WorkerRuntime

/// The reconnecting I/O thread that both of a consumer's broker connections run on: its backoff
/// rule and its rule for commands it cannot carry out, without a broker, and its loop against an
/// address where nothing listens (loopback only; the shared broker is never touched).
@Suite("ReconnectingLink: backoff and unanswered commands")
struct ReconnectingLinkTests {
    private static let steady = Backoff(
        initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(1), jitter: .none)

    @Test("failures back off further until a connection is set up; a failure after that starts again")
    func backoff() {
        var reconnection = Reconnection(delays: Self.steady)
        #expect(reconnection.failed(afterSetUp: false) == .milliseconds(100))
        #expect(reconnection.failed(afterSetUp: false) == .milliseconds(200))
        #expect(reconnection.failed(afterSetUp: false) == .milliseconds(400))
        #expect(reconnection.attempt == 3, "a broker refusing the topology is backed off from")
        #expect(reconnection.failed(afterSetUp: true) == .milliseconds(100))
        #expect(reconnection.attempt == 1)
        for _ in 0..<10 { _ = reconnection.failed(afterSetUp: false) }
        #expect(reconnection.failed(afterSetUp: false) == .seconds(1), "capped")
    }

    private struct Broken: Error, CustomStringConvertible {
        var description: String { "socket gone" }
    }

    @Test("when a command throws, every later command taken with it is refused with that failure")
    func carryOut() {
        var carried: [Int] = []
        var refused: [(Int, AMQPError)] = []
        let thrown = #expect(throws: Broken.self) {
            try ReconnectingLink<Int>.carryOut([1, 2, 3, 4], context: "test connection") { command in
                carried.append(command)
                if command == 2 { throw Broken() }
            } refuse: {
                refused.append(($0, $1))
            }
        }
        #expect(thrown != nil)
        #expect(carried == [1, 2], "nothing runs on a connection that is going")
        #expect(refused.map(\.0) == [3, 4])
        #expect(refused.allSatisfy { $0.1.code == .socketError && $0.1.context == "test connection" })

        refused.removeAll()
        let amqp = AMQPError(code: .channelClosed, message: "404", context: "publish")
        #expect(throws: AMQPError.self) {
            try ReconnectingLink<Int>.carryOut([1, 2], context: "test connection") { _ in
                throw amqp
            } refuse: {
                refused.append(($0, $1))
            }
        }
        #expect(refused.map(\.0) == [2])
        #expect(
            refused.first?.1.code == .channelClosed && refused.first?.1.message == "404",
            "a broker's own error is passed on as it is")

        refused.removeAll()
        #expect(throws: Never.self) {
            try ReconnectingLink<Int>.carryOut([1, 2], context: "test connection") { _ in
            } refuse: {
                refused.append(($0, $1))
            }
        }
        #expect(refused.isEmpty)
    }

    @Test(
        "commands waiting while the broker cannot be reached are refused with the failure; those left at stop, as stopping"
    )
    func unreachable() throws {
        let answers = Answers()
        // Port 1 on loopback: nothing listens, every connect is refused at once.
        let amqp = AMQPConfiguration(endpoints: [.init(host: "127.0.0.1", port: 1)], connectionName: "link-test")
        let link = ReconnectingLink<Int>(
            amqp: amqp,
            reconnectDelays: Backoff(initialDelay: .seconds(30), maximumDelay: .seconds(30), jitter: .none),
            name: "test connection", stoppingContext: "test link", logger: Logger(label: "link-test"))
        link.submit(1)
        link.start(
            threadName: "link-test",
            role: .init(
                setUp: { _ in
                    Issue.record("set up a connection nobody accepted")
                    return .init(carryOut: { _ in }, handle: { _ in })
                },
                // Slow on purpose: `stop()` must still return only after the last refusal.
                refuse: {
                    Thread.sleep(forTimeInterval: 0.05)
                    answers.add($0, $1)
                }))
        try waitUntil("the first failure", { link.lastConnectionError }) { $0 != nil }
        #expect(!link.isConnected)
        let first = try waitUntil("command 1 to be refused", { answers.all }) { !$0.isEmpty }
        #expect(first.map(\.0) == [1])
        #expect(first.first?.1.code == .socketError)
        #expect(first.first?.1.context == "test connection")

        // The thread now waits 30 s before the next try: a command stays in the inbox until stop.
        link.submit(2)
        link.stop()
        let all = answers.all
        #expect(all.map(\.0) == [1, 2])
        #expect(all.last?.1.code == .invalidState)
        #expect(all.last?.1.message == "the worker is stopping")
        #expect(all.last?.1.context == "test link")
    }
}

/// The commands a link refused, in order, from its I/O thread.
private final class Answers: @unchecked Sendable {
    // @unchecked: `answers` is only touched with `lock` held.
    private let lock = NSLock()
    private var answers: [(Int, AMQPError)] = []

    func add(_ command: Int, _ error: AMQPError) {
        lock.lock()
        answers.append((command, error))
        lock.unlock()
    }

    var all: [(Int, AMQPError)] {
        lock.lock()
        defer { lock.unlock() }
        return answers
    }
}
