import CommerceMessages
import Foundation
import Testing

@Suite("Message ids")
struct MessageIDTests {
    @Test("a new message id is a lower-case version 4 UUID with the RFC 4122 variant")
    func format() throws {
        for _ in 0..<1000 {
            let id = Envelope.newMessageID()
            let uuid = try #require(UUID(uuidString: id), "\(id) is a UUID")
            #expect(id == uuid.uuidString.lowercased())
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 4, "version nibble of \(id)")
            #expect(bytes.8 >> 6 == 0b10, "variant bits of \(id)")
        }
    }

    @Test("new message ids do not repeat")
    func unique() {
        let ids = (0..<10_000).map { _ in Envelope.newMessageID() }
        #expect(Set(ids).count == ids.count)
    }
}
