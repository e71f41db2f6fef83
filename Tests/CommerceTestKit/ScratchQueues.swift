import AMQP
import WorkerRuntime

extension AMQPConnection {
    /// Declares the queues `names` (`type`: classic or quorum) on `channel`, as a test's own (no
    /// dead-lettering, no retry tiers: the test publishes into them directly).
    /// ``deleteScratchQueues(_:channel:)`` removes them.
    public func declareScratchQueues(_ names: [String], channel: UInt16, type: String = "classic") throws {
        for name in names { try declareQueue(channel: channel, name: name, arguments: ["x-queue-type": .string(type)]) }
    }

    /// Deletes the queues `names`, best effort: a teardown that must not hide the test's own failure.
    public func deleteScratchQueues(_ names: [String], channel: UInt16) {
        for name in names { _ = try? deleteQueue(channel: channel, name: name) }
    }

    /// Deletes every queue of `topologies` and the exchange `exchange`, best effort, on a channel
    /// of its own: the teardown of a fleet a test set up.
    public func deleteFleet(_ topologies: [Topology], exchange: String) {
        guard let channel = try? openChannel() else { return }
        for topology in topologies {
            for (name, _) in topology.queues { _ = try? deleteQueue(channel: channel, name: name) }
        }
        _ = try? deleteExchange(channel: channel, name: exchange)
    }
}
