import AMQP
import Foundation

/// Reads dead-letter queues without losing or reordering anything irrecoverably: every message
/// is taken with `basic.get` without auto-ack and stays unacknowledged on one channel until
/// ``finish()``, which acks the ones removed and returns all others with one `basic.nack`
/// (multiple, requeue). A crash in between returns them too: the broker requeues whatever an
/// unacknowledged channel held. The dead-letter queues have no delivery limit, so the
/// redeliveries a quorum queue counts cost nothing.
final class DeadLetterSession {
    let connection: AMQPConnection
    let address: String
    private let readChannel: UInt16
    private var controlChannel: UInt16?
    private var publishChannel: UInt16?
    private var highestTag: UInt64 = 0
    private var settled: Set<UInt64> = []

    init(broker: BrokerOptions, name: String) throws {
        address = Setting.redacted(broker.resolvedURL)
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: name))
            readChannel = try connection.openChannel()
        } catch {
            throw CommandFailure("cannot reach RabbitMQ at \(address): \(SmokeCommand.describe(error))")
        }
    }

    deinit { connection.close() }

    /// Whether `queue` exists (a passive declare on a channel of its own, since a 404 closes the channel).
    func exists(_ queue: String) throws -> Bool {
        do {
            if controlChannel == nil || !connection.isChannelOpen(controlChannel!) {
                controlChannel = try connection.openChannel()
            }
            _ = try connection.queueStatus(channel: controlChannel!, name: queue)
            return true
        } catch let error where error.replyCode == 404 {
            return false
        } catch {
            throw CommandFailure("cannot check queue '\(queue)' at \(address): \(error)")
        }
    }

    /// Every message now in `queue`, held unacknowledged. With `stopAfter`, reading stops once
    /// that many of them satisfy `isWanted`.
    func read(
        _ queue: String, stopAfter limit: Int? = nil, isWanted: (DeadLetter) -> Bool = { _ in true }
    ) throws -> [DeadLetter] {
        var letters: [DeadLetter] = []
        var wanted = 0
        while true {
            if let limit, wanted >= limit { break }
            let delivery: AMQPDelivery?
            do {
                delivery = try connection.get(channel: readChannel, queue: queue)
            } catch {
                throw CommandFailure("cannot read '\(queue)' at \(address): \(error)")
            }
            guard let delivery else { break }
            highestTag = max(highestTag, delivery.deliveryTag)
            let letter = DeadLetter(
                queue: queue, deliveryTag: delivery.deliveryTag, properties: delivery.properties, body: delivery.body)
            if isWanted(letter) { wanted += 1 }
            letters.append(letter)
        }
        return letters
    }

    /// Removes `letter` from its queue (`basic.ack`).
    func remove(_ letter: DeadLetter) throws {
        do {
            try connection.ack(channel: readChannel, deliveryTag: letter.deliveryTag)
            settled.insert(letter.deliveryTag)
        } catch {
            throw CommandFailure("lost RabbitMQ at \(address) while removing '\(letter.messageID)': \(error)")
        }
    }

    /// Publishes `copies` through the default exchange under publisher confirms and returns, for
    /// each, `nil` when the broker confirmed it or what went wrong.
    func publish(_ copies: [(queue: String, properties: AMQPProperties, body: [UInt8])]) throws -> [String?] {
        guard !copies.isEmpty else { return [] }
        do {
            if publishChannel == nil || !connection.isChannelOpen(publishChannel!) {
                let channel = try connection.openChannel()
                try connection.enableConfirms(channel: channel)
                publishChannel = channel
            }
            var sequences: [UInt64] = []
            for copy in copies {
                sequences.append(
                    try connection.publish(
                        channel: publishChannel!, exchange: "", routingKey: copy.queue, mandatory: true,
                        properties: copy.properties, body: copy.body))
            }
            let outcomes = try connection.waitForConfirms(channel: publishChannel!, timeout: .seconds(30))
            return sequences.enumerated().map { index, sequence in
                switch outcomes[sequence] {
                case .confirmed?: nil
                case .refused?: "the broker refused the copy for '\(copies[index].queue)'"
                case .returned(let code, let text)?:
                    "no queue '\(copies[index].queue)' took the copy (\(code) \(text))"
                case nil: "no confirm for the copy"
                }
            }
        } catch {
            throw CommandFailure("publishing to RabbitMQ at \(address) failed, nothing was removed: \(error)")
        }
    }

    /// Returns every message read and not removed to its queue, then closes the connection.
    func finish() throws {
        defer { connection.close() }
        guard highestTag > 0, settled.count < Int(highestTag) else { return }
        do {
            // Delivery tags of a channel run 1, 2, 3 …: a multiple nack up to the highest covers
            // every one not acked.
            try connection.nack(channel: readChannel, deliveryTag: highestTag, multiple: true, requeue: true)
            connection.closeChannel(readChannel)
        } catch {
            throw CommandFailure(
                "could not return the dead letters read to their queues at \(address) (\(error)); "
                    + "the broker requeues them when the connection closes")
        }
    }
}

extension DeadLetterSession {
    /// The dead letters of `queues` that `filter` matches, at most `limit`, read with
    /// ``readAll(_:filter:limit:)`` and so held until ``finish()``.
    func readMatching(
        _ queues: [String], filter: DeadLetterFilter, limit: Int?
    ) throws -> (letters: [DeadLetter], missing: [String]) {
        let (letters, missing) = try readAll(queues, filter: filter, limit: limit)
        var matching = letters.filter(filter.matches)
        if let limit { matching = Array(matching.prefix(limit)) }
        return (matching, missing)
    }

    /// Reads every existing queue of `queues` (dead-letter queue names) and returns everything read (all held
    /// unacknowledged) and the queues that do not exist.
    func readAll(
        _ queues: [String], filter: DeadLetterFilter, limit: Int? = nil
    ) throws -> (letters: [DeadLetter], missing: [String]) {
        var letters: [DeadLetter] = []
        var missing: [String] = []
        for queue in queues {
            guard try exists(queue) else {
                missing.append(queue)
                continue
            }
            let remaining = limit.map { $0 - letters.filter(filter.matches).count }
            if let remaining, remaining <= 0 { break }
            letters += try read(queue, stopAfter: remaining, isWanted: filter.matches)
        }
        return (letters, missing)
    }
}
