/// How a notification reaches the customer.
public enum NotificationChannel: String, Sendable, Hashable, CaseIterable {
    /// An email to the customer's address.
    case email
    /// No channel: the event carries no address (`payment.refunded` has no customer), so the
    /// notification is recorded for the audit and for support but sent nowhere.
    case none
}
