import CommerceMessages

/// What ``NotificationsAudit`` found: how many notifications each order has per event type, and
/// which of those counts break "exactly one notification per terminal event" (docs/saga.md,
/// "Invariants", 5).
public struct NotificationsAuditReport: Sendable, Hashable {
    /// One order's notifications for one event type.
    public struct Key: Sendable, Hashable, Comparable {
        /// The order id.
        public var orderID: String
        /// The event type (`order.confirmed` …), as stored.
        public var eventType: String

        /// Creates a key.
        public init(orderID: String, eventType: String) {
            self.orderID = orderID
            self.eventType = eventType
        }

        /// By order id, then event type: a stable order for reports.
        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.orderID, lhs.eventType) < (rhs.orderID, rhs.eventType)
        }
    }

    /// An order with more than one notification for the same event type.
    public struct Duplicate: Sendable, Hashable {
        /// The order and event type.
        public var key: Key
        /// How many notifications it has (two or more).
        public var count: Int
        /// The `_id`s (event message ids) of those notifications, sorted.
        public var messageIDs: [String]

        /// Creates a finding.
        public init(key: Key, count: Int, messageIDs: [String]) {
            self.key = key
            self.count = count
            self.messageIDs = messageIDs
        }
    }

    /// The number of notifications per order and event type.
    public var counts: [Key: Int]
    /// Every key with two or more notifications, sorted by key.
    public var duplicates: [Duplicate]
    /// Documents without a string `order_id` or `event_type`: not counted, reported by `_id`.
    public var malformedIDs: [String]

    /// Creates a report.
    public init(counts: [Key: Int], duplicates: [Duplicate], malformedIDs: [String] = []) {
        self.counts = counts
        self.duplicates = duplicates
        self.malformedIDs = malformedIDs
    }

    /// How many notifications there are in all.
    public var total: Int { counts.values.reduce(0, +) }

    /// Whether every order has at most one notification per event type and none is malformed.
    public var isClean: Bool { duplicates.isEmpty && malformedIDs.isEmpty }

    /// The count for `orderID` and `eventType` (0 when there is none).
    public func count(orderID: String, eventType: MessageType) -> Int {
        counts[Key(orderID: orderID, eventType: eventType.rawValue)] ?? 0
    }
}
