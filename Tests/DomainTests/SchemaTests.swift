import CommerceMessages
import Foundation
import Testing

/// The Swift types and the published JSON Schemas (docs/schemas) must agree, checked by a real
/// validator (Python's jsonschema, Draft 2020-12 with format checking) in both directions:
/// what Swift encodes validates, and what the schemas show as examples decodes in Swift.
@Suite struct SchemaTests {
    static let schemaDirectory = Fixtures.packageRoot.appending(path: "docs/schemas")
    static let python = Fixtures.packageRoot.appending(path: ".venv/bin/python")
    static let script = Fixtures.packageRoot.appending(path: "scripts/validate_schemas.py")

    @Test func everyEncodedMessageValidatesAgainstItsSchema() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python.path) else {
            Issue.record(
                "\(Self.python.path) is missing: run `scripts/services.sh up` (it creates the venv with jsonschema)")
            return
        }
        let samples = FileManager.default.temporaryDirectory.appending(path: "commerce-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: samples, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: samples) }
        for message in Fixtures.everyMessage {
            try Data(message.encodedBody()).write(to: samples.appending(path: "\(message.messageType.rawValue).json"))
        }

        let process = Process()
        process.executableURL = Self.python
        process.arguments = [Self.script.path, Self.schemaDirectory.path, samples.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus == 0, "validate_schemas.py failed:\n\(text)")
        #expect(!text.contains("FAIL"), "\(text)")
        // 12 types × (schema valid, has examples, ≥1 example, sample, closed sample).
        #expect(text.contains("0 failed"), "\(text)")
    }

    @Test func schemaFileExistsForEveryType() {
        for type in MessageType.allCases {
            let path = Self.schemaDirectory.appending(path: "\(type.rawValue).json").path
            #expect(FileManager.default.fileExists(atPath: path), "missing \(path)")
        }
    }

    @Test(arguments: MessageType.allCases)
    func schemaExamplesDecodeWithTheSwiftTypes(type: MessageType) throws {
        let data = try Data(contentsOf: Self.schemaDirectory.appending(path: "\(type.rawValue).json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(schema["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
        let examples = try #require(schema["examples"] as? [Any])
        #expect(!examples.isEmpty)
        for (index, example) in examples.enumerated() {
            let body = try JSONSerialization.data(withJSONObject: example)
            do {
                let message = try AnyMessage.decode(type: type.rawValue, body: body)
                #expect(message.messageType == type)
            } catch {
                Issue.record("\(type.rawValue) examples[\(index)]: \(error)")
            }
        }
    }

    @Test func asyncAPIDocumentNamesEveryRoutingKeyAndQueue() throws {
        let text = try String(contentsOf: Fixtures.packageRoot.appending(path: "docs/asyncapi.yaml"), encoding: .utf8)
        for type in MessageType.allCases {
            #expect(text.contains("\n  \(type.rawValue):\n"), "channel \(type.rawValue)")
            #expect(text.contains("'./schemas/\(type.rawValue).json'"), "payload of \(type.rawValue)")
        }
        for queue in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            #expect(text.contains("name: \(queue)\n"), "queue \(queue)")
        }
    }
}
