import CRabbitMQ

// MARK: - Publishing

extension AMQPConnection {
    /// Puts `channel` in publisher-confirm mode (`confirm.select`).
    public func enableConfirms(channel: UInt16) throws(AMQPError) {
        let state = try liveState(context: "confirm.select")
        amqp_confirm_select(state, channel)
        try checkReply(context: "confirm.select on channel \(channel)", channel: channel)
        confirms[channel] = ConfirmTracker()
    }

    /// Publishes one message (`basic.publish`). Returns its confirm sequence number when the
    /// channel is in confirm mode (0 otherwise). The publish is asynchronous: an error the broker
    /// raises for it (404 on a missing exchange) arrives later, from ``waitForConfirms(channel:timeout:)``.
    ///
    /// The message's `user_id` is always this connection's user (``AMQPConfiguration/username``),
    /// whatever `properties` say: RabbitMQ closes the channel on a `user_id` that is not the
    /// connection's user, and consumers trust it because of that (a copy of a received message,
    /// such as a retry or a replayed dead letter, would otherwise carry its first sender's).
    @discardableResult
    public func publish(
        channel: UInt16, exchange: String, routingKey: String, mandatory: Bool = true,
        properties: AMQPProperties, body: [UInt8]
    ) throws(AMQPError) -> UInt64 {
        let context = "basic.publish to '\(exchange)' with '\(routingKey)'"
        let state = try liveState(context: context)
        guard openChannels.contains(channel) else {
            throw AMQPError(code: .invalidState, message: "channel \(channel) is closed", context: context)
        }
        var properties = properties
        properties.userID = configuration.username
        let arena = CArena()
        var cProperties = properties.cProperties(in: arena)
        let status = body.withUnsafeBytes { buffer in
            amqp_basic_publish(
                state, channel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &cProperties,
                amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
        }
        if status != 0 { throw failConnection(AMQPError.wrapping(status: status, context: context)) }
        guard var tracker = confirms[channel] else { return 0 }
        let sequence = tracker.nextSequence
        tracker.nextSequence += 1
        tracker.unconfirmed[sequence] = properties.messageID ?? ""
        confirms[channel] = tracker
        return sequence
    }

    /// Waits until every message published on `channel` so far is confirmed or refused, reading
    /// (and queueing for ``nextEvent(timeout:wakeDescriptor:)``) whatever else arrives meanwhile.
    /// Returns the outcome of each sequence number and forgets them.
    /// - Throws: ``AMQPError/Code/timeout`` past `timeout` (outcomes so far are kept),
    ///   ``AMQPError/Code/channelClosed`` when the broker closed the channel (for example 404 for
    ///   a publish to a missing exchange), or a connection-level error.
    public func waitForConfirms(channel: UInt16, timeout: Duration) throws(AMQPError) -> [UInt64: PublishOutcome] {
        let context = "waiting for publisher confirms on channel \(channel)"
        let deadline = ContinuousClock.now + timeout
        while let tracker = confirms[channel], !tracker.unconfirmed.isEmpty {
            if let closed = takeChannelClose(channel) { throw closed }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                throw AMQPError(
                    code: .timeout, message: "\(tracker.unconfirmed.count) publish(es) unconfirmed after \(timeout)",
                    context: context)
            }
            // Returns after every frame, so a confirm ends the wait at once.
            if let event = try readEvent(timeout: remaining, wakeDescriptor: nil, returnAfterAnyFrame: true) {
                pendingEvents.append(event)
            }
        }
        if let closed = takeChannelClose(channel) { throw closed }
        guard var tracker = confirms[channel] else {
            throw AMQPError(code: .invalidState, message: "channel \(channel) is not in confirm mode", context: context)
        }
        let outcomes = tracker.outcomes
        tracker.outcomes = [:]
        tracker.returned = [:]
        confirms[channel] = tracker
        return outcomes
    }

    /// A queued `channelClosed` event for `channel`, removed from the queue.
    private func takeChannelClose(_ channel: UInt16) -> AMQPError? {
        guard
            let index = pendingEvents.firstIndex(where: {
                if case .channelClosed(channel, _) = $0 { return true }
                return false
            }), case .channelClosed(_, let error) = pendingEvents.remove(at: index)
        else { return nil }
        return error
    }

    // Internal, not private: the event loop in AMQPConnection+Events.swift calls it.
    /// Records a `basic.ack` or `basic.nack` (`multiple` covers every sequence number up to `tag`)
    /// as the outcome of the publishes it confirms.
    func recordConfirm(channel: UInt16, tag: UInt64, multiple: Bool, acked: Bool) {
        guard var tracker = confirms[channel] else { return }
        let tags = multiple ? tracker.unconfirmed.keys.filter { $0 <= tag } : [tag]
        for sequence in tags {
            guard let messageID = tracker.unconfirmed.removeValue(forKey: sequence) else { continue }
            if !acked {
                tracker.outcomes[sequence] = .refused
            } else if let (code, text) = tracker.returned.removeValue(forKey: messageID) {
                tracker.outcomes[sequence] = .returned(replyCode: code, replyText: text)
            } else {
                tracker.outcomes[sequence] = .confirmed
            }
        }
        confirms[channel] = tracker
    }
}
