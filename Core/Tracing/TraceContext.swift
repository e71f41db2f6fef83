import Tracing

/// A W3C Trace Context (`traceparent`, `tracestate`): the trace a message or request belongs to
/// and the span that sent it. Parsed strictly, so that a malformed header from an upstream is
/// ignored (the receiver starts a new trace) instead of being carried on.
public struct TraceContext: Sendable, Hashable {
    /// The trace id's 128 bits, high and low; never both zero.
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    /// The span id; never zero.
    public var spanID: UInt64
    /// The trace flags (bit 0: sampled).
    public var flags: UInt8
    /// The vendor entries of `tracestate`, carried unchanged.
    public var traceState: String?

    /// The header names, in lower case as W3C Trace Context writes them.
    public static let traceparentHeader = "traceparent"
    public static let tracestateHeader = "tracestate"

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, flags: UInt8 = 1, traceState: String? = nil) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.flags = flags
        self.traceState = traceState
    }

    /// Reads a `traceparent` header (and its `tracestate`); `nil` when it does not follow the
    /// W3C format: version 00 is exactly `00-<32 hex>-<16 hex>-<2 hex>`, in lower case, with a
    /// trace id and a span id that are not all zeros; a later version may append fields after a
    /// `-`; version `ff` is invalid. A `tracestate` longer than 512 bytes is dropped, as the
    /// recommendation allows.
    public init?(traceparent: String, traceState: String? = nil) {
        let bytes = Array(traceparent.utf8)
        guard bytes.count >= 55, bytes[2] == 0x2D, bytes[35] == 0x2D, bytes[52] == 0x2D,
            let version = Self.hex(bytes[0..<2]), version != 0xFF,
            let high = Self.hex(bytes[3..<19]), let low = Self.hex(bytes[19..<35]),
            let span = Self.hex(bytes[36..<52]), let flags = Self.hex(bytes[53..<55])
        else { return nil }
        if version == 0 {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard bytes[55] == 0x2D else { return nil }
        }
        guard high != 0 || low != 0, span != 0 else { return nil }
        self.init(
            traceIDHigh: high, traceIDLow: low, spanID: span, flags: UInt8(flags),
            traceState: traceState.flatMap { $0.isEmpty || $0.utf8.count > 512 ? nil : $0 })
    }

    /// A new trace: random trace and span ids, sampled.
    public static func newTrace() -> TraceContext {
        var random = SystemRandomNumberGenerator()
        var high: UInt64 = 0
        var low: UInt64 = 0
        while high == 0 && low == 0 {
            high = random.next()
            low = random.next()
        }
        return TraceContext(traceIDHigh: high, traceIDLow: low, spanID: newSpanID(using: &random))
    }

    /// The same trace and state, a new span id: the context a span started under this one has.
    public func child() -> TraceContext {
        var random = SystemRandomNumberGenerator()
        var context = self
        context.spanID = Self.newSpanID(using: &random)
        return context
    }

    /// `00-<trace id>-<span id>-<flags>`.
    public var traceparent: String {
        "00-\(traceID)-\(Self.hex(spanID, digits: 16))-\(Self.hex(UInt64(flags), digits: 2))"
    }

    /// The trace id, 32 lower-case hex digits.
    public var traceID: String { Self.hex(traceIDHigh, digits: 16) + Self.hex(traceIDLow, digits: 16) }

    /// The span id, 16 lower-case hex digits.
    public var spanIDHex: String { Self.hex(spanID, digits: 16) }

    public var isSampled: Bool { flags & 1 == 1 }

    static func newSpanID(using random: inout SystemRandomNumberGenerator) -> UInt64 {
        var id: UInt64 = 0
        while id == 0 { id = random.next() }
        return id
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let alphabet = Array("0123456789abcdef".utf8)
        var text = [UInt8](repeating: 0x30, count: digits)
        var rest = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            text[index] = alphabet[Int(rest & 0xF)]
            rest >>= 4
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Lower-case hex digits only (W3C forbids upper case), at most 16.
    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        for digit in digits {
            switch digit {
            case 0x30...0x39: value = value << 4 | UInt64(digit - 0x30)
            case 0x61...0x66: value = value << 4 | UInt64(digit - 0x61 + 10)
            default: return nil
            }
        }
        return value
    }
}

/// Where a ``TraceContext`` lives in a swift-distributed-tracing context.
enum TraceContextKey: ServiceContextKey {
    typealias Value = TraceContext
    static var nameOverride: String? { "commerce.trace-context" }
}

extension ServiceContext {
    /// The span this context is in (or the remote span it continues).
    public var traceContext: TraceContext? {
        get { self[TraceContextKey.self] }
        set { self[TraceContextKey.self] = newValue }
    }

    /// A top-level context holding `trace`.
    public static func holding(_ trace: TraceContext) -> ServiceContext {
        var context = ServiceContext.topLevel
        context.traceContext = trace
        return context
    }
}
