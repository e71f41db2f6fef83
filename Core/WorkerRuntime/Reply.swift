import CommerceSupport
import Foundation

/// A one-shot reply from the I/O thread to a waiting processing thread.
final class Reply<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched with `condition` locked.
    private let condition = NSCondition()
    private var value: Value?

    func put(_ value: Value) {
        condition.lock()
        self.value = value
        condition.signal()
        condition.unlock()
    }

    /// The value, or `nil` when it has not come within `timeout`: the I/O thread is stuck (a
    /// write to a broker that stopped reading), and the waiter must not be stuck with it. A value
    /// put after that is dropped with the reply.
    func wait(timeout: Duration) -> Value? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout.seconds)
        while value == nil {
            if !condition.wait(until: deadline) { break }
        }
        return value
    }
}
