import AMQP
import Foundation

/// Reads dead-letter queues without losing or reordering anything irrecoverably: every message
/// is taken with `basic.get` without auto-ack and stays unacknowledged on one channel until
/// ``finish()``, which acks the ones removed and returns all others with one `basic.nack`
/// (multiple, requeue). A crash in between returns them too: the broker requeues whatever an
/// unacknowledged channel held. A quorum queue counts each return as a delivery; the runtime
/// declares its dead-letter queues with a delivery limit no reading reaches
/// (`Topology.deadLetterDeliveryLimit`), so reading a letter any number of times never drops it.
///
/// Blocking, like its `AMQPConnection`: use a session on one thread. Every failure is a
/// ``DeadLetterSessionError`` saying what the session was doing and on which broker.
public final class DeadLetterSession {
    /// The broker connection the session reads, acks and publishes on (one thread at a time).
    public let connection: AMQPConnection
    /// The broker's address as errors name it.
    public let address: String
    private let readChannel: UInt16
    private var controlChannel: UInt16?
    private var publishChannel: UInt16?
    private var highestTag: UInt64 = 0
    private var settled: Set<UInt64> = []
    /// The queue each delivery held came from, by delivery tag.
    private var queueOfTag: [UInt64: String] = [:]
    /// Delivery tags returned to their queues with ``returnAll(except:)``.
    private var returned: Set<UInt64> = []
    /// Messages acked since the session last waited for the broker to apply its acks (``finish()``).
    private var recentlyAcked = 0

    /// A session over `connection`, which it owns from now on (``finish()`` or the session's end
    /// closes it); `address` names the broker in errors (give it with any password redacted).
    /// - Throws: ``DeadLetterSessionError`` when no channel can be opened.
    public init(connection: AMQPConnection, address: String) throws {
        self.connection = connection
        self.address = address
        do {
            readChannel = try connection.openChannel()
        } catch {
            connection.close()
            throw DeadLetterSessionError("cannot reach RabbitMQ at \(address): \(error)")
        }
    }

    deinit { connection.close() }

    /// Whether `queue` exists (a passive declare on a channel of its own, since a 404 closes the channel).
    public func exists(_ queue: String) throws -> Bool {
        do {
            if controlChannel == nil || !connection.isChannelOpen(controlChannel!) {
                controlChannel = try connection.openChannel()
            }
            _ = try connection.queueStatus(channel: controlChannel!, name: queue)
            return true
        } catch let error where error.replyCode == 404 {
            return false
        } catch {
            throw DeadLetterSessionError("cannot check queue '\(queue)' at \(address): \(error)")
        }
    }

    /// Every message now in `queue`, held unacknowledged. With `stopAfter`, reading stops once
    /// that many of them satisfy `isWanted`.
    public func read(
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
                throw DeadLetterSessionError("cannot read '\(queue)' at \(address): \(error)")
            }
            guard let delivery else { break }
            highestTag = max(highestTag, delivery.deliveryTag)
            queueOfTag[delivery.deliveryTag] = queue
            let letter = DeadLetter(
                queue: queue, deliveryTag: delivery.deliveryTag, properties: delivery.properties, body: delivery.body)
            if isWanted(letter) { wanted += 1 }
            letters.append(letter)
        }
        return letters
    }

    /// Removes `letter` from its queue (`basic.ack`).
    public func remove(_ letter: DeadLetter) throws {
        try remove([letter])
    }

    /// Removes `letters` from their queues with as few acks as possible: one `multiple` ack for
    /// the longest run of held messages, from the lowest delivery tag, that are all to be
    /// removed, then one ack for each of the others (``returnAll(except:)`` first makes the
    /// removed ones the only messages held). ``finish()`` waits for the broker to apply them.
    public func remove(_ letters: [DeadLetter]) throws {
        let tags = Set(letters.map(\.deliveryTag)).subtracting(settled)
        guard !tags.isEmpty else { return }
        var prefixEnd: UInt64?
        for tag in 1...highestTag where !settled.contains(tag) {
            guard tags.contains(tag) else { break }
            prefixEnd = tag
        }
        do {
            if let prefixEnd {
                try connection.ack(channel: readChannel, deliveryTag: prefixEnd, multiple: true)
                for tag in 1...prefixEnd { settled.insert(tag) }
            }
            for tag in tags.sorted() where !settled.contains(tag) {
                try connection.ack(channel: readChannel, deliveryTag: tag)
                settled.insert(tag)
            }
            recentlyAcked += tags.count
        } catch {
            let first = letters.first { !settled.contains($0.deliveryTag) }?.messageID ?? ""
            throw DeadLetterSessionError("lost RabbitMQ at \(address) while removing '\(first)': \(error)")
        }
    }

    /// Returns to their queues (`basic.nack`, requeue) every message held except `kept`, so that
    /// ``remove(_:)-([DeadLetter])`` can take the kept ones with `multiple` acks. A return the
    /// broker drops does no harm: closing the channel returns whatever is still held.
    public func returnAll(except kept: [DeadLetter]) throws {
        guard highestTag > 0 else { return }
        let keep = Set(kept.map(\.deliveryTag))
        do {
            for tag in 1...highestTag where !settled.contains(tag) && !keep.contains(tag) {
                try connection.nack(channel: readChannel, deliveryTag: tag, requeue: true)
                settled.insert(tag)
                returned.insert(tag)
            }
        } catch {
            throw DeadLetterSessionError(
                "lost RabbitMQ at \(address) while returning the dead letters not chosen: \(error)")
        }
    }

    /// Publishes `copies` through the default exchange under publisher confirms and returns, for
    /// each, `nil` when the broker confirmed it or what went wrong.
    public func publish(_ copies: [(queue: String, properties: AMQPProperties, body: [UInt8])]) throws -> [String?] {
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
            throw DeadLetterSessionError("publishing to RabbitMQ at \(address) failed, nothing was removed: \(error)")
        }
    }

    /// Returns every message read and not removed to its queue, waits until the queues show them
    /// again, then closes the connection.
    ///
    /// Before closing, it gives the broker time to apply the session's last acks. A quorum
    /// queue's channel sends the settlements of `basic.get` deliveries about 32 at a time, each
    /// batch once the queue applied the one before; what it still holds when the connection
    /// closes is dropped, and those messages go back to their queue as if never acked (a replay
    /// of 3,000 dead letters acked at once before the close left the last 167 in their DLQ, their
    /// copies replayed). So it waits, between synchronous round trips on the channel, about
    /// 20 ms per 32 acks not yet waited for. This is a mitigation measured on this broker, not a
    /// guarantee AMQP gives: a dead letter left behind this way was replayed (its copy
    /// confirmed), so a second replay only makes a duplicate, which the worker's inbox drops.
    ///
    /// A quorum queue also applies returns asynchronously: just after the nack, a passive declare
    /// can count fewer ready messages than the queue holds, and the next command (a `list`
    /// followed at once by a `purge` or a depth check) would miss some. So the session waits, up
    /// to ``returnDeadline``, until each queue read counts at least as many ready messages as
    /// were returned to it; past the deadline it closes anyway (the letters are safe, only not
    /// yet visible — another reader may be holding them).
    public func finish() throws {
        defer { connection.close() }
        if recentlyAcked > 0 {
            for _ in 0..<(recentlyAcked / 32 + 3) {
                Thread.sleep(forTimeInterval: 0.02)
                guard (try? connection.setPrefetch(channel: readChannel, count: 0)) != nil else { break }
            }
            recentlyAcked = 0
        }
        let unsettled = highestTag == 0 ? [] : (1...highestTag).filter { !settled.contains($0) }
        if !unsettled.isEmpty {
            do {
                // Delivery tags of a channel run 1, 2, 3 …: a multiple nack up to the highest
                // covers every one not acked.
                try connection.nack(channel: readChannel, deliveryTag: highestTag, multiple: true, requeue: true)
                connection.closeChannel(readChannel)
            } catch {
                throw DeadLetterSessionError(
                    "could not return the dead letters read to their queues at \(address) (\(error)); "
                        + "the broker requeues them when the connection closes")
            }
        }
        var expected: [String: Int] = [:]
        for tag in returned.union(unsettled) {
            if let queue = queueOfTag[tag] { expected[queue, default: 0] += 1 }
        }
        waitUntilReady(expected)
    }

    /// How long ``finish()`` waits for the queues to show the letters it returned.
    public var returnDeadline: Duration = .seconds(5)

    private func waitUntilReady(_ expected: [String: Int]) {
        guard !expected.isEmpty else { return }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: returnDeadline)
        var waiting = expected
        while !waiting.isEmpty, clock.now < deadline {
            for (queue, count) in waiting {
                if controlChannel == nil || !connection.isChannelOpen(controlChannel!) {
                    guard let channel = try? connection.openChannel() else { return }
                    controlChannel = channel
                }
                guard let status = try? connection.queueStatus(channel: controlChannel!, name: queue) else { return }
                if Int(status.messageCount) >= count { waiting[queue] = nil }
            }
            if !waiting.isEmpty { Thread.sleep(forTimeInterval: 0.02) }
        }
    }
}

extension DeadLetterSession {
    /// The dead letters of `queues` that `filter` matches, at most `limit`, read with
    /// ``readAll(_:filter:limit:)`` and so held until ``finish()``.
    public func readMatching(
        _ queues: [String], filter: DeadLetterFilter, limit: Int?
    ) throws -> (letters: [DeadLetter], missing: [String]) {
        let (letters, missing) = try readAll(queues, filter: filter, limit: limit)
        var matching = letters.filter(filter.matches)
        if let limit { matching = Array(matching.prefix(limit)) }
        return (matching, missing)
    }

    /// Reads every existing queue of `queues` (dead-letter queue names) and returns everything read (all held
    /// unacknowledged) and the queues that do not exist.
    public func readAll(
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

/// What a ``DeadLetterSession`` could not do, and on which broker and queue: one message for a
/// person (the broker's address is given with its password redacted).
public struct DeadLetterSessionError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
