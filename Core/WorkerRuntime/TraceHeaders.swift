import AMQP
import CommerceTracing

extension TraceContext {
    /// The AMQP headers of a message in this context: `traceparent`, and `tracestate` when it
    /// has one.
    public var headers: AMQPTable {
        var headers: AMQPTable = [TraceContext.traceparentHeader: .string(traceparent)]
        if let traceState { headers[TraceContext.tracestateHeader] = .string(traceState) }
        return headers
    }

    /// The headers of an upstream command that starts a trace of its own (what the lab's load
    /// generators publish, as an upstream that traces would).
    public static func newTraceHeaders() -> AMQPTable { newTrace().headers }
}
