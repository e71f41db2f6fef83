import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq replay ID --edit`: the dead letter's body in the user's editor, before it goes back
/// (what may be sent is ``FleetOperations/EditedBody``'s rule).
///
/// The dead letter is read and returned to its queue at once (so it is not held unacknowledged,
/// on a connection whose heartbeats nobody answers, while someone edits); the replay that follows
/// finds it again by id and removes it only once the edited copy is confirmed. Nothing is
/// replayed when the editor fails, leaves the file empty or unchanged, or leaves something that
/// is not JSON; the file is then kept, and named, for `--body`.
enum DeadLetterEditor {
    /// The edited body of the dead letter `id`.
    /// - Throws: ``CommandFailure`` saying why nothing is replayed.
    static func edit(_ id: String, queues: [String], filter: DeadLetterFilter, broker: BrokerOptions) throws -> [UInt8]
    {
        let session = try DeadLetterSession(broker: broker, name: "commerce dlq replay --edit")
        let (letters, _) = try session.readMatching(queues, filter: filter, limit: 1)
        try session.finish()
        guard let letter = letters.first else {
            throw CommandFailure(
                "no dead letter with message id '\(BodyText.escaped(Array(id.utf8)))' matching the filters in "
                    + queues.joined(separator: ", "))
        }
        let original = EditedBody.editable(letter.body)
        let environment = ProcessInfo.processInfo.environment
        guard
            let editor = [environment["VISUAL"], environment["EDITOR"]].compactMap({ $0 }).first(where: { !$0.isEmpty })
        else {
            throw CommandFailure("--edit needs an editor: set VISUAL or EDITOR (or give the body with --body FILE)")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "commerce-dlq-\(safeName(id))-\(UUID().uuidString.prefix(8)).json")
        do {
            try Data(original).write(to: file)
        } catch {
            throw CommandFailure("cannot write the body to \(file.path): \(error)")
        }
        // Through the shell, as git and crontab do, so that EDITOR may carry arguments ("code --wait").
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(editor) \"$1\"", "editor", file.path]
        do {
            try process.run()
        } catch {
            throw CommandFailure("cannot start the editor '\(editor)': \(error)")
        }
        process.waitUntilExit()
        let keep = "; the body is kept in \(file.path) (replay it with --body)"
        guard process.terminationStatus == 0 else {
            throw CommandFailure(
                "the editor '\(editor)' exited with status \(process.terminationStatus); nothing replayed" + keep)
        }
        guard let edited = FileManager.default.contents(atPath: file.path) else {
            throw CommandFailure("cannot read the edited body back from \(file.path); nothing replayed")
        }
        switch EditedBody.rejection(of: Array(edited), original: original) {
        case .empty:
            try? FileManager.default.removeItem(at: file)
            throw CommandFailure("the edited body is empty; nothing replayed")
        case .unchanged:
            try? FileManager.default.removeItem(at: file)
            throw CommandFailure(
                "the body was not changed; nothing replayed (`commerce dlq replay \(id)` replays it as it is)")
        case .notJSON(let reason):
            throw CommandFailure("the edited body is not valid JSON (\(reason)); nothing replayed" + keep)
        case nil:
            break
        }
        try? FileManager.default.removeItem(at: file)
        return Array(edited)
    }

    /// `id` reduced to characters safe in a file name.
    private static func safeName(_ id: String) -> String {
        String(id.prefix(40).map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }
}
