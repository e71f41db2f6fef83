/// How to acknowledge a set of deliveries with as few `basic.ack` frames as possible: one
/// `multiple` ack up to the highest tag below which every outstanding delivery is being acked,
/// then single acks for the rest. A `multiple` ack never covers a delivery that is not in `acks`
/// (one still in another batch, or one to be requeued). Pure, unit-tested without a broker.
struct AckPlan: Equatable {
    /// Ack every outstanding delivery up to and including this tag with one `multiple` ack.
    var multipleUpTo: UInt64?
    /// Tags acked one by one, ascending.
    var single: [UInt64]

    /// - Parameters:
    ///   - outstanding: The channel's unacknowledged delivery tags.
    ///   - acks: The tags to acknowledge now (each outstanding).
    init(outstanding: [UInt64], acks: [UInt64]) {
        let toAck = Set(acks)
        var prefixEnd: UInt64?
        for tag in outstanding.sorted() {
            guard toAck.contains(tag) else { break }
            prefixEnd = tag
        }
        // A multiple ack of a single delivery is just an ack; keep the plan plain then.
        if let end = prefixEnd, toAck.filter({ $0 <= end }).count > 1 {
            multipleUpTo = end
            single = toAck.filter { $0 > end }.sorted()
        } else {
            multipleUpTo = nil
            single = toAck.sorted()
        }
    }
}
