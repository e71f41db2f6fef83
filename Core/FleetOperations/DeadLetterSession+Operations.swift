import AMQP

/// What became of one dead letter a replay chose: replayed (`error` nil), or why not.
public struct ReplayOutcome: Sendable, Hashable, Encodable {
    public var messageId: String
    /// The dead-letter queue it was in.
    public var from: String
    /// The queue its copy went to (or would have).
    public var to: String
    public var error: String?
}

/// A replay's result: an outcome for every dead letter it chose, and the dead-letter queues
/// asked for that do not exist.
public struct ReplayRun: Sendable, Hashable {
    public var outcomes: [ReplayOutcome]
    public var missingQueues: [String]

    public var replayed: Int { outcomes.filter { $0.error == nil }.count }
    public var failed: Int { outcomes.count - replayed }
}

/// The operations on dead letters that change something, and their count, each over a whole
/// session: each reads what it needs, does its work and ends the session (``finish()``), so a
/// session serves one of them. The `commerce dlq` commands and the console share them.
extension DeadLetterSession {
    /// The dead-letter reason of a message refused for its sender (the runtime's `Admission`).
    public static let forbiddenSender = "forbidden_sender"

    /// How many dead letters of `queues` match `filter` (at most `limit`), every one returned to
    /// its queue before this returns: nothing stays held while a person decides (a purge asks
    /// first). Ends the session.
    public func count(_ queues: [String], filter: DeadLetterFilter, limit: Int?) throws -> Int {
        let (letters, _) = try readAll(queues, filter: filter, limit: limit)
        try finish()
        let count = letters.filter(filter.matches).count
        return limit.map { min(count, $0) } ?? count
    }

    /// Removes the dead letters of `queues` that match `filter` (at most `limit`) and returns how
    /// many. The others go back first, so that the chosen go with one `multiple` ack. Ends the
    /// session.
    public func purge(_ queues: [String], filter: DeadLetterFilter, limit: Int?) throws -> Int {
        let (chosen, _) = try readMatching(queues, filter: filter, limit: limit)
        do {
            try returnAll(except: chosen)
            try remove(chosen)
        } catch {
            try? finish()
            throw error
        }
        try finish()
        return chosen.count
    }

    /// Sends the dead letters of `queues` that match `filter` (at most `limit`) back to the queue
    /// they failed in, as fresh messages (``DeadLetter/replayCopy(body:)``, `body` replacing
    /// each one's body when given), and removes each one whose copy the broker confirmed.
    ///
    /// Copies go in windows of 200, each window's confirmed before its dead letters are acked:
    /// an interrupted replay loses nothing, and one repeated takes effect once (the worker's inbox
    /// drops the duplicate). A copy goes out under this session's broker user, which the workers
    /// accept for every type, so a dead letter refused for its sender (``forbiddenSender``) is
    /// never replayed: a replay would launder it (docs/security.md). It stays, with an outcome
    /// saying why. Ends the session.
    public func replay(_ queues: [String], filter: DeadLetterFilter, limit: Int?, body: [UInt8]? = nil) throws
        -> ReplayRun
    {
        let (matching, missing) = try readMatching(queues, filter: filter, limit: limit)
        let refused = matching.filter { $0.reason == Self.forbiddenSender }
        let chosen = matching.filter { $0.reason != Self.forbiddenSender }
        // Only the chosen stay held, so that each window's dead letters go with one ack.
        try returnAll(except: chosen)
        var outcomes: [ReplayOutcome] = refused.map { letter in
            ReplayOutcome(
                messageId: letter.messageID, from: letter.queue, to: letter.originalQueue,
                error: "not replayed: its sender may not send it (forbidden_sender); a replay would send it "
                    + "as the operator's; purge it instead")
        }
        for start in stride(from: 0, to: chosen.count, by: 200) {
            let window = Array(chosen[start..<min(start + 200, chosen.count)])
            let copies = window.map { letter in
                let copy = letter.replayCopy(body: body)
                return (queue: letter.originalQueue, properties: copy.properties, body: copy.body)
            }
            let errors = try publish(copies)
            // Only the dead letters whose copy the broker confirmed are removed.
            var removeFailed = false
            do {
                try remove(zip(window, errors).filter { $0.1 == nil }.map(\.0))
            } catch {
                removeFailed = true
            }
            for (letter, error) in zip(window, errors) {
                var outcome = error
                if error == nil, removeFailed {
                    outcome = "replayed, but its dead letter could not be removed: it may be replayed again"
                }
                outcomes.append(
                    ReplayOutcome(
                        messageId: letter.messageID, from: letter.queue, to: letter.originalQueue, error: outcome))
            }
            if removeFailed { break }
        }
        try finish()
        return ReplayRun(outcomes: outcomes, missingQueues: missing)
    }
}
