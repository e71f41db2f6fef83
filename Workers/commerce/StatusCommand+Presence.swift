import FleetOperations
import Foundation

extension StatusCommand {
    /// The copies that announced themselves, then the stream's invalid messages, if any.
    func printPresence(_ presence: FleetPresence) {
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        let window = String(format: "%.0f", presence.windowSeconds)
        if presence.state == .missing || presence.copies.isEmpty {
            print("No worker copy announced itself on \(presence.stream) in the last \(window) s.")
        } else {
            let counts = [FleetPresence.CopyState.running, .stale, .stopped].map { state in
                "\(presence.copies.filter { $0.state == state }.count) \(state.rawValue)"
            }
            print("Copies announced on \(presence.stream) in the last \(window) s: \(counts.joined(separator: ", "))")
            let rows = presence.copies.map { copy in
                [
                    copy.worker, copy.copyID, copy.host, "\(copy.pid)", copy.version, copy.state.rawValue,
                    String(format: "%.0f s ago", copy.ageSeconds),
                    copy.metricsURL ?? "–",
                ]
            }
            let header = ["WORKER", "COPY", "HOST", "PID", "VERSION", "STATE", "LAST SEEN", "METRICS"]
            let widths = header.indices.map { column in
                max(header[column].count, rows.map { $0[column].count }.max() ?? 0) + 2
            }
            // The last column unpadded: no trailing blanks.
            func line(_ cells: [String]) -> String {
                cells.indices.map { $0 == cells.count - 1 ? cells[$0] : pad(cells[$0], widths[$0]) }.joined()
            }
            print(line(header))
            for row in rows { print(line(row)) }
        }
        if let error = presence.error { print("  ! \(error)") }
        if presence.invalidCount > 0 {
            print("  ! \(presence.invalidCount) invalid message(s) on \(presence.stream), ignored:")
            for invalid in presence.invalid {
                let from = invalid.publishedBy.map { " from \($0)" } ?? ""
                print("    \(invalid.messageID ?? "(no message id)")\(from): \(invalid.reason)")
            }
        }
        print("")
    }
}
