import Testing

@testable import WorkerRuntime

/// The broker link's rules for its mailbox and consuming channel, without a broker: the races
/// between the processing thread, the I/O thread and the broker that the integration tests
/// (`WorkerRuntimeReviewTests`) play against a real RabbitMQ.
@Suite("BrokerLink: mailbox and consuming channel")
struct BrokerLinkStateMachineTests {
    typealias Channel = BrokerLink.ConsumingChannel

    @Test("the mailbox hands out what is there, oldest first, never more than asked")
    func naturalBatching() {
        var mailbox = BrokerLink.Mailbox<Int>()
        for delivery in 1...5 { mailbox.append(delivery, generation: 1) }
        #expect(mailbox.take(maximum: 3) == [1, 2, 3])
        #expect(mailbox.take(maximum: 3) == [4, 5])
        #expect(mailbox.take(maximum: 3) == [])
    }

    @Test("a dead connection's deliveries leave the mailbox; a newer connection's stay")
    func dropGeneration() {
        var mailbox = BrokerLink.Mailbox<String>()
        mailbox.append("old-1", generation: 1)
        mailbox.append("new-1", generation: 2)
        mailbox.append("old-2", generation: 1)
        mailbox.drop(generation: 1)
        #expect(mailbox.take(maximum: 10) == ["new-1"])
    }

    @Test("a delivery for our consumer is accepted and outstanding until settled")
    func accepted() {
        var channel = Channel(generation: 1)
        channel.started(consumerTag: "ctag-1")
        #expect(channel.delivered(deliveryTag: 1, consumerTag: "ctag-1") == .accept)
        #expect(channel.delivered(deliveryTag: 2, consumerTag: "ctag-1") == .accept)
        #expect(channel.unacknowledged == [1, 2])
    }

    @Test("a delivery that arrives after basic.cancel (sent before the broker saw it) is requeued at once")
    func deliveryAfterCancel() {
        var channel = Channel(generation: 1)
        channel.started(consumerTag: "ctag-1")
        #expect(channel.delivered(deliveryTag: 1, consumerTag: "ctag-1") == .accept)
        let stop = channel.stop()
        #expect(stop == Channel.Stop(cancel: "ctag-1", requeueUpTo: 1))
        #expect(channel.delivered(deliveryTag: 2, consumerTag: "ctag-1") == .requeue)
        #expect(channel.unacknowledged.isEmpty, "nothing outstanding on a paused link")
        // Consuming again under a new tag: a late delivery for the old tag is still given back.
        channel.started(consumerTag: "ctag-2")
        #expect(channel.delivered(deliveryTag: 3, consumerTag: "ctag-1") == .requeue)
        #expect(channel.delivered(deliveryTag: 4, consumerTag: "ctag-2") == .accept)
    }

    @Test("an ack for deliveries of an earlier connection is refused, not sent")
    func staleGeneration() {
        var channel = Channel(generation: 2)
        channel.started(consumerTag: "ctag")
        _ = channel.delivered(deliveryTag: 1, consumerTag: "ctag")
        #expect(channel.acknowledge(ack: [1], requeue: [], generation: 1) == .refuse)
        #expect(channel.unacknowledged == [1], "the current connection's delivery 1 is untouched")
    }

    @Test("acks use one multiple ack where no other outstanding delivery is covered; requeues follow")
    func acknowledge() {
        var channel = Channel(generation: 1)
        channel.started(consumerTag: "ctag")
        for tag in UInt64(1)...6 { _ = channel.delivered(deliveryTag: tag, consumerTag: "ctag") }
        // 4 is still in another batch; 5 is requeued.
        #expect(
            channel.acknowledge(ack: [1, 2, 3, 6], requeue: [5], generation: 1)
                == .send(multipleUpTo: 3, single: [6], requeue: [5]))
        #expect(channel.unacknowledged == [4])
        #expect(
            channel.acknowledge(ack: [4], requeue: [], generation: 1)
                == .send(multipleUpTo: nil, single: [4], requeue: []))
        #expect(channel.unacknowledged.isEmpty)
    }

    @Test("stopping requeues everything outstanding with one nack up to the highest tag")
    func stop() {
        var channel = Channel(generation: 1)
        #expect(channel.stop() == Channel.Stop(cancel: nil, requeueUpTo: nil), "not consuming: nothing to send")
        channel.started(consumerTag: "ctag")
        for tag in UInt64(1)...3 { _ = channel.delivered(deliveryTag: tag, consumerTag: "ctag") }
        _ = channel.acknowledge(ack: [3], requeue: [], generation: 1)
        #expect(channel.stop() == Channel.Stop(cancel: "ctag", requeueUpTo: 2))
        #expect(channel.consumerTag == nil)
    }

    @Test("the broker cancelling our consumer keeps what is outstanding; consuming again takes a new tag")
    func cancelledByBroker() {
        var channel = Channel(generation: 1)
        channel.started(consumerTag: "ctag-1")
        _ = channel.delivered(deliveryTag: 1, consumerTag: "ctag-1")
        channel.cancelledByBroker()
        #expect(channel.consumerTag == nil)
        #expect(channel.unacknowledged == [1])
        #expect(channel.delivered(deliveryTag: 2, consumerTag: "ctag-1") == .requeue)
    }
}
