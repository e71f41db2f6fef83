/// What a payment token of the card processor's test mode does, modelled on the test cards of
/// Stripe and Toss Payments. Pure: the token alone decides.
///
/// - `tok_approve` captures;
/// - `tok_decline` is declined with `card_declined`, `tok_insufficient_funds` with
///   `insufficient_funds`;
/// - `tok_transient_N` is answered 503 for the first N attempts of one idempotency key, then
///   captures (the attempts are counted in the database, so the count survives a restart);
/// - `tok_slow_MS` captures after MS milliseconds (at most ``maximumSlowMilliseconds``);
/// - anything else, a malformed `tok_transient_`/`tok_slow_` included, is declined with
///   `invalid_token`.
public enum TestToken: Sendable, Hashable {
    /// Captures.
    case approve
    /// Declined with a machine-readable code and a sentence.
    case decline(code: String, message: String)
    /// Unavailable (503) for the first `failures` attempts of a key, then captures.
    case transient(failures: Int)
    /// Captures after `milliseconds`.
    case slow(milliseconds: Int)

    /// The longest delay `tok_slow_MS` may ask for: 2 minutes.
    public static let maximumSlowMilliseconds = 120_000
    /// The most failures `tok_transient_N` may ask for.
    public static let maximumTransientFailures = 1_000

    /// The behaviour of `token`.
    public init(_ token: String) {
        switch token {
        case "tok_approve": self = .approve
        case "tok_decline": self = .decline(code: "card_declined", message: "The card was declined.")
        case "tok_insufficient_funds":
            self = .decline(code: "insufficient_funds", message: "The card has insufficient funds.")
        default:
            if let count = Self.number(after: "tok_transient_", in: token), count <= Self.maximumTransientFailures {
                self = .transient(failures: count)
            } else if let milliseconds = Self.number(after: "tok_slow_", in: token),
                milliseconds <= Self.maximumSlowMilliseconds
            {
                self = .slow(milliseconds: milliseconds)
            } else {
                self = .decline(code: "invalid_token", message: "The payment token is not known.")
            }
        }
    }

    /// The decimal number that follows `prefix` (digits only, at most 9 of them), or `nil`.
    private static func number(after prefix: String, in token: String) -> Int? {
        guard token.hasPrefix(prefix) else { return nil }
        let digits = token.dropFirst(prefix.count)
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }
}
