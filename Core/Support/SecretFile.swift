import Foundation

/// A secret kept in a file (`<VARIABLE>_FILE`, the container convention: docs/security.md,
/// "Secrets"), read the same way by the workers and by the command-line tools.
public enum SecretFile {
    /// The file's content with one trailing newline (`\n` or `\r\n`, as editors and `echo` add
    /// it) removed, or `nil` when the file cannot be read.
    public static func contents(atPath path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var value = String(decoding: data, as: UTF8.self)
        if value.hasSuffix("\r\n") {
            value.removeLast()
        } else if value.hasSuffix("\n") {
            value.removeLast()
        }
        return value
    }
}
