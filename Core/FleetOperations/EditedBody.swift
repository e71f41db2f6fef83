import Foundation

/// A dead letter's body edited by hand before a replay (`commerce dlq replay ID --edit`): the
/// form to edit, and whether an edit may be sent.
public enum EditedBody {
    /// Why an edited body is not replayed.
    public enum Rejection: Error, Equatable, Sendable {
        /// Nothing but white space.
        case empty
        /// The same bytes as the form given to edit.
        case unchanged
        /// Not JSON; the parser's reason.
        case notJSON(String)
    }

    /// `body` pretty-printed with sorted keys if it is JSON (easier to edit), else as it is.
    public static func editable(_ body: [UInt8]) -> [UInt8] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return body }
        return Array(data) + [0x0A]
    }

    /// Why `edited` may not be replayed, `nil` when it may: it must hold something, differ from
    /// `original` (what ``editable(_:)`` gave to edit) and be JSON.
    public static func rejection(of edited: [UInt8], original: [UInt8]) -> Rejection? {
        if edited.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .empty }
        if edited == original { return .unchanged }
        do {
            _ = try JSONSerialization.jsonObject(with: Data(edited), options: [.fragmentsAllowed])
        } catch {
            return .notJSON(error.localizedDescription)
        }
        return nil
    }
}
