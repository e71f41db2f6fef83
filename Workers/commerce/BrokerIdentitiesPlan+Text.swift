import CommandLineSupport
import FleetOperations
import Foundation
import WorkerRuntime

/// The readable form of ``FleetOperations/BrokerIdentitiesPlan``, for `commerce setup --dry-run`.
extension BrokerIdentitiesPlan {
    func printText() {
        print("Broker identities on exchange \(exchange) (docs/security.md):")
        let rows = identities.map { identity in
            [
                identity.party, identity.user,
                identity.publishes.isEmpty ? "—" : identity.publishes.joined(separator: " "),
                identity.accepted.count == FleetCatalog.contractTypes.count
                    ? "every type (dead-letter replay)"
                    : identity.accepted.isEmpty ? "—" : identity.accepted.joined(separator: " "),
            ]
        }
        let headers = ["party", "user", "publishes on the exchange", "accepted by workers from it"]
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        for row in [headers] + rows {
            let line = row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
            print("  " + line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
        print("Commands for the broker's administrator (PASSWORD: each user's own secret):")
        for command in commands { print("  \(command)") }
    }
}
