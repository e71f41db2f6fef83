/// Error messages with their variable parts replaced by placeholders, so that `commerce dlq
/// summary` groups "order 1234 not found" with "order 5678 not found".
public enum ErrorMessageNormaliser {
    public static func normalise(_ message: String) -> String {
        var text = message
        // Quoted values first: they may contain digits or ids of their own.
        text = text.replacing(/'[^']*'/, with: "'<value>'")
        text = text.replacing(/"[^"]*"/, with: "\"<value>\"")
        text = text.replacing(
            /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/, with: "<uuid>")
        text = text.replacing(/\d+(\.\d+)?/, with: "<n>")
        return text
    }
}
