import Foundation
import Synchronization

/// An in-process card processor that behaves like a real one's test mode, for development and
/// tests (`payment.gateway` = `sandbox`). The token decides the answer:
///
/// - `tok_approve` captures;
/// - `tok_decline` is declined with `card_declined`, `tok_insufficient_funds` with
///   `insufficient_funds`, any other token with `invalid_token`;
/// - `tok_transient_N` throws ``GatewayError`` for the first N attempts of one idempotency key,
///   then captures.
///
/// Like a real processor it is idempotent: a key that got an answer gets the same answer again
/// (so one key never captures twice), a refund key likewise, and the refunds of a capture never
/// add up to more than it. Its memory is the process's: a restarted worker starts empty.
///
/// Thread-safe: one `Mutex` around the whole state, held only for the bookkeeping (no I/O).
public final class SandboxGateway: PaymentGateway {
    private struct Capture {
        var amount: Int
        var refunded: Int
    }

    private struct State {
        var charges: [String: ChargeResult] = [:]
        var failedAttempts: [String: Int] = [:]
        var captures: [String: Capture] = [:]
        var refunds: [String: RefundResult] = [:]
    }

    private let state = Mutex(State())

    /// An empty sandbox.
    public init() {}

    /// Answers by the token (see the type's documentation); a key that got an answer gets it again.
    public func charge(_ request: ChargeRequest) async throws -> ChargeResult {
        try state.withLock { state in
            if let answered = state.charges[request.idempotencyKey] { return answered }
            let result: ChargeResult
            switch request.paymentToken {
            case "tok_approve":
                result = Self.capture(request.amount, in: &state)
            case "tok_decline":
                result = .declined(code: "card_declined", message: "The card was declined.")
            case "tok_insufficient_funds":
                result = .declined(code: "insufficient_funds", message: "The card has insufficient funds.")
            case let token where token.hasPrefix("tok_transient_"):
                let failures = Int(token.dropFirst("tok_transient_".count)) ?? 0
                let failed = state.failedAttempts[request.idempotencyKey, default: 0]
                if failed < failures {
                    // Not remembered as an answer: the next attempt with this key is a new try.
                    state.failedAttempts[request.idempotencyKey] = failed + 1
                    throw GatewayError("sandbox failure \(failed + 1) of \(failures) for \(request.idempotencyKey)")
                }
                result = Self.capture(request.amount, in: &state)
            default:
                result = .declined(code: "invalid_token", message: "The payment token is not known.")
            }
            state.charges[request.idempotencyKey] = result
            return result
        }
    }

    /// Refunds if the capture has that much left, else refuses; a key that got an answer gets it again.
    public func refund(_ request: RefundRequest) async throws -> RefundResult {
        state.withLock { state in
            if let answered = state.refunds[request.idempotencyKey] { return answered }
            let result: RefundResult
            if var capture = state.captures[request.paymentID] {
                if request.amount <= 0 || request.amount > capture.amount - capture.refunded {
                    result = .refused(
                        code: "amount_exceeds_capture",
                        message:
                            "\(request.amount) exceeds the \(capture.amount - capture.refunded) left of the capture")
                } else {
                    capture.refunded += request.amount
                    state.captures[request.paymentID] = capture
                    result = .refunded(refundID: Self.newID("re"), amount: request.amount)
                }
            } else {
                result = .refused(code: "unknown_payment", message: "no capture '\(request.paymentID)'")
            }
            state.refunds[request.idempotencyKey] = result
            return result
        }
    }

    /// The answer given to the charge with `idempotencyKey`, from this process's memory.
    public func lookup(idempotencyKey: String) async throws -> ChargeResult? {
        state.withLock { $0.charges[idempotencyKey] }
    }

    /// Always healthy: the sandbox is in the process.
    public func checkHealth() async throws {}

    private static func capture(_ amount: Int, in state: inout State) -> ChargeResult {
        let paymentID = newID("pay")
        state.captures[paymentID] = Capture(amount: amount, refunded: 0)
        return .captured(paymentID: paymentID)
    }

    private static func newID(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
    }
}
