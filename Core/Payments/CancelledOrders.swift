import Synchronization

/// The orders this process has seen an `order.cancelled` for, so that a `stock.reserved` arriving
/// after it charges nothing (docs/saga.md: "`stock.reserved` after `order.cancelled` charges
/// nothing").
///
/// Why a memory and not the tombstone row: the charge happens in `prepare`, outside the
/// transaction, where the handler has no database. A cancellation is a fact of the saga once its
/// message exists (the order is terminal), so it is noted as soon as it is prepared, before its
/// transaction commits. The memory is only a first line: another worker copy, or this one after
/// a restart, does not have it, and then the tombstone in `handle` catches the late capture
/// (recorded as `refund_due`).
///
/// Bounded: past ``capacity`` the oldest orders are forgotten first.
public final class CancelledOrders: Sendable {
    private struct State {
        var members: Set<String> = []
        var order: [String] = []
        var start = 0
    }

    /// The most orders remembered.
    public let capacity: Int
    private let state = Mutex(State())

    /// An empty memory of at most `capacity` orders.
    public init(capacity: Int = 100_000) {
        precondition(capacity >= 1, "capacity must be at least 1")
        self.capacity = capacity
    }

    /// Notes that `orderID` is cancelled.
    public func insert(_ orderID: String) {
        state.withLock { state in
            guard state.members.insert(orderID).inserted else { return }
            state.order.append(orderID)
            if state.members.count > capacity {
                state.members.remove(state.order[state.start])
                state.start += 1
                // Compacts now and then, so forgetting stays O(1) amortised.
                if state.start >= capacity {
                    state.order.removeFirst(state.start)
                    state.start = 0
                }
            }
        }
    }

    /// Whether `orderID` was noted as cancelled (and not yet forgotten).
    public func contains(_ orderID: String) -> Bool {
        state.withLock { $0.members.contains(orderID) }
    }
}
