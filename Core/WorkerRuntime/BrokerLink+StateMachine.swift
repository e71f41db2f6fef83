extension BrokerLink {
    /// The deliveries the I/O thread read and the processing thread has not taken yet, each tagged
    /// with the generation of the connection it came on. Pure; the link keeps it under its lock.
    ///
    /// When a connection dies, or the consumer stops, that generation's deliveries are dropped:
    /// the broker redelivers them (or has them back after the cancel's `nack`), and their
    /// delivery tags mean nothing on a new channel.
    struct Mailbox<Delivery> {
        private var entries: [(generation: UInt64, delivery: Delivery)] = []

        var isEmpty: Bool { entries.isEmpty }
        var count: Int { entries.count }

        /// Adds a delivery read on connection `generation`.
        mutating func append(_ delivery: Delivery, generation: UInt64) {
            entries.append((generation, delivery))
        }

        /// Takes up to `maximum` deliveries, oldest first (natural batching: what is already
        /// here, never more).
        mutating func take(maximum: Int) -> [Delivery] {
            let count = min(maximum, entries.count)
            let taken = entries.prefix(count).map(\.delivery)
            entries.removeFirst(count)
            return taken
        }

        /// Drops every delivery of `generation`.
        mutating func drop(generation: UInt64) {
            entries.removeAll { $0.generation == generation }
        }
    }

    /// The I/O thread's view of its consuming channel on one connection, as a pure state machine:
    /// the consumer tag while it consumes, and the deliveries not yet settled. Each event returns
    /// what to send to the broker; ``BrokerLink`` sends it. It holds the link's ordering rules:
    /// a delivery that arrives after `basic.cancel` went out is given back at once; an ack for a
    /// delivery of an earlier connection is refused, not sent; a `multiple` ack never covers a
    /// delivery that is not being acked (``AckPlan``); stopping requeues everything not yet
    /// acked with one `nack`.
    struct ConsumingChannel: Equatable {
        /// The connection's generation (it counts the link's connections).
        let generation: UInt64
        /// Set while consuming.
        private(set) var consumerTag: String?
        /// Delivery tags not yet acked or requeued, in arrival order.
        private(set) var unacknowledged: [UInt64] = []

        init(generation: UInt64) {
            self.generation = generation
        }

        /// What to do with a delivery.
        enum DeliveryAction: Equatable {
            /// Into the mailbox: it is outstanding until acked or requeued.
            case accept
            /// Requeue it at once (`basic.nack`, `requeue`): it was sent to a consumer that is no
            /// longer ours (the broker sent it before it saw our `basic.cancel`, and rabbitmq-c
            /// held it while waiting for cancel-ok). Nobody would take it from the mailbox of a
            /// paused link, and a quorum queue would go on counting the cancelled consumer for it.
            case requeue
        }

        /// A delivery for `consumerTag` arrived with `deliveryTag`.
        mutating func delivered(deliveryTag: UInt64, consumerTag: String) -> DeliveryAction {
            guard let current = self.consumerTag, current == consumerTag else { return .requeue }
            unacknowledged.append(deliveryTag)
            return .accept
        }

        /// What to send for an acknowledgement command.
        enum AcknowledgeAction: Equatable {
            /// The deliveries came on an earlier connection: refuse the command (the broker
            /// redelivers them).
            case refuse
            /// Send, in this order: one `multiple` ack up to `multipleUpTo` (if any), single acks,
            /// then a `nack` with requeue per tag of `requeue`.
            case send(multipleUpTo: UInt64?, single: [UInt64], requeue: [UInt64])
        }

        /// Acks `ack` and requeues `requeue`, deliveries of connection `generation`.
        mutating func acknowledge(ack: [UInt64], requeue: [UInt64], generation: UInt64) -> AcknowledgeAction {
            guard generation == self.generation else { return .refuse }
            let plan = AckPlan(outstanding: unacknowledged, acks: ack)
            let settled = Set(ack).union(requeue)
            unacknowledged.removeAll { settled.contains($0) }
            return .send(multipleUpTo: plan.multipleUpTo, single: plan.single, requeue: requeue)
        }

        /// Consuming started under `consumerTag`.
        mutating func started(consumerTag: String) {
            self.consumerTag = consumerTag
        }

        /// What to send to stop consuming.
        struct Stop: Equatable {
            /// `basic.cancel` for this tag, if consuming.
            var cancel: String?
            /// Then one `basic.nack(multiple, requeue)` up to this tag: every delivery not yet
            /// settled goes back to the queue (the mailbox's copies are dropped by the link).
            var requeueUpTo: UInt64?
        }

        /// Stops consuming: nothing is outstanding afterwards.
        mutating func stop() -> Stop {
            let stop = Stop(cancel: consumerTag, requeueUpTo: unacknowledged.max())
            consumerTag = nil
            unacknowledged.removeAll()
            return stop
        }

        /// The broker cancelled our consumer (the queue was deleted, say); the link consumes again
        /// if it wants to. Deliveries already outstanding stay so.
        mutating func cancelledByBroker() {
            consumerTag = nil
        }
    }
}
