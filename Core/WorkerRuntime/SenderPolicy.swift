import CommerceMessages

/// Who may send each message type to a worker, by broker user: ``FleetCatalog/parties`` with the
/// broker users each party has in this deployment. A worker checks every fresh delivery's AMQP
/// `user_id` against it before a handler sees it (``Admission``); RabbitMQ guarantees that
/// `user_id`, when present, is the user of the connection that published the message.
public struct SenderPolicy: Sendable, Hashable {
    /// The broker users that act as each party, by party name.
    public private(set) var users: [String: [String]]
    /// For each routing key of the catalog, the broker users it is accepted from.
    private var allowed: [String: Set<String>]

    /// The catalog's policy with `users` (by party name) instead of the parties' default users;
    /// a party missing from `users` keeps its defaults.
    public init(users: [String: [String]] = [:]) {
        var resolved: [String: [String]] = [:]
        var allowed: [String: Set<String>] = [:]
        for party in FleetCatalog.parties {
            let partyUsers = users[party.name] ?? party.defaultUsers
            resolved[party.name] = partyUsers
            for type in party.mayDeliver { allowed[type.rawValue, default: []].formUnion(partyUsers) }
        }
        self.users = resolved
        self.allowed = allowed
    }

    /// The parties whose users include `user`, by name.
    public func parties(of user: String) -> [String] {
        FleetCatalog.parties.map(\.name).filter { users[$0]?.contains(user) == true }
    }

    /// Why a message of `type` published by broker user `userID` is refused, or `nil` when the
    /// catalog allows it. A type the catalog does not name is not the saga's: it is left to the
    /// handler, which refuses what it does not know.
    public func problem(type: String, userID: String?) -> String? {
        guard let senders = allowed[type] else { return nil }
        guard let userID, !userID.isEmpty else {
            return "\(type) has no user_id; the sender cannot be told"
        }
        if senders.contains(userID) { return nil }
        let parties = parties(of: userID)
        let who =
            parties.isEmpty ? "broker user '\(userID)'" : "broker user '\(userID)' (\(parties.joined(separator: ", ")))"
        let mayBy = FleetCatalog.parties.filter { $0.mayDeliver.contains { $0.rawValue == type } }.map(\.name)
        return "\(type) from \(who) is refused: only \(mayBy.joined(separator: ", ")) may send it"
    }
}
