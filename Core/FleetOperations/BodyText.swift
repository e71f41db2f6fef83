import Foundation

/// A message body for a terminal: pretty JSON when it is JSON, else its text with every byte
/// that is not printable UTF-8 escaped (`\x00`), so a hostile body cannot drive the terminal.
public enum BodyText {
    public static func render(_ body: [UInt8]) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(
                withJSONObject: object,
                options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        {
            return escaped(Array(pretty))
        }
        return escaped(body)
    }

    /// `bytes` as text: valid UTF-8 kept (newlines and tabs too), control characters and invalid bytes as `\xNN`.
    public static func escaped(_ bytes: [UInt8]) -> String {
        var result = ""
        if let text = String(validating: bytes, as: UTF8.self) {
            for scalar in text.unicodeScalars {
                if scalar == "\n" || scalar == "\t" {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    result += "\\x" + hex(UInt8(scalar.value))
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
            return result
        }
        for byte in bytes {
            if byte == 0x5C {
                result += "\\\\"
            } else if (0x20..<0x7F).contains(byte) || byte == 0x0A {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "\\x" + hex(byte)
            }
        }
        return result
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
