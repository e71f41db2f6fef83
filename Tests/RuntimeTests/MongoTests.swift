import CommerceTestKit
import Foundation
import Mongo
import Testing

// The client is blocking and thread-confined: each test makes its own, on its own database.
@Suite("MongoDB wrapper against the real server")
struct MongoTests {
    @Test("a document with nested documents, arrays, unicode and quotes comes back unchanged")
    func roundTrip() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            let placedAt = Date(timeIntervalSince1970: 1_700_000_000.123)
            let document: Document = [
                "_id": .objectID(ObjectID()),
                "event_id": "5b0f8a3e-3c1d-4a8e-9d6b-2f1e7c9a0b11",
                "message": "주문이 확정되었습니다 ✓ — \"quoted\", 'single', back\\slash, {\"$json\": 1} 🎉",
                "amount": .int64(9_007_199_254_740_993),
                "quantity": .int32(2),
                "rate": 0.125,
                "gold": true,
                "coupon": nil,
                "placed_at": .date(placedAt),
                "customer": ["id": "c-1001", "address": ["city": "Seoul", "detail": "5F \"rear\""]],
                "items": [["sku": "KB-001", "quantity": 2], ["sku": "MS-002", "quantity": 1], "loose", 3, []],
                "empty": [:],
                "blob": .binary(subtype: 0, bytes: [0, 1, 254, 255]),
                "stamp": .timestamp(seconds: 1_700_000_000, increment: 7),
            ]
            let id = try collection.insertOne(document)
            #expect(id == document["_id"])

            let found = try collection.find(["_id": id])
            #expect(found == [document])
            #expect(found.first?.keys == document.keys, "key order is kept")
            #expect(found.first?["placed_at"]?.dateValue == placedAt)
        }
    }

    @Test("insertOne without _id generates an ObjectId and returns it")
    func generatedID() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            let id = try collection.insertOne(["kind": "order.confirmed"])
            let objectID = try #require(id.objectIDValue)
            #expect(ObjectID(hexString: objectID.hexString) == objectID)
            let stored = try #require(try collection.findOne(["_id": id]))
            #expect(stored.keys == ["_id", "kind"])
        }
    }

    @Test("find sorts and limits")
    func findSortLimit() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            let inserted = try collection.insertMany(
                (1...5).map { ["n": .int64(Int64($0)), "odd": .bool($0 % 2 == 1)] })
            #expect(inserted.insertedCount == 5)
            let top = try collection.find(["odd": true], sort: ["n": -1], limit: 2)
            #expect(top.map { $0["n"]?.intValue } == [5, 3])
            let projected = try collection.find(sort: ["n": 1], limit: 1, projection: ["_id": 0, "n": 1])
            #expect(projected == [["n": 1]])
        }
    }

    @Test("a unique index turns a second insert of the same key into duplicate-key error 11000")
    func duplicateKey() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            #expect(try collection.createIndex(["event_id": 1], unique: true) == "event_id_1")
            // Creating the same index again is a no-op, so start-up code can always call it.
            #expect(try collection.createIndex(["event_id": 1], unique: true) == "event_id_1")

            try collection.insertOne(["event_id": "e-1", "text": "first"])
            let error = try #require(throws: MongoError.self) {
                try collection.insertOne(["event_id": "e-1", "text": "second"])
            }
            #expect(error.isDuplicateKey)
            #expect(error.code == .serverError)
            #expect(error.serverCode == 11000)
            #expect(!error.description.contains("e-1"), "description redacts the duplicated key's value")
            #expect(try collection.countDocuments() == 1)
        }
    }

    @Test("insertMany (unordered) stores every document but the duplicate and reports its index")
    func insertManyWithDuplicate() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            try collection.createIndex(["event_id": 1], unique: true)
            let batch: [Document] = ["e-1", "e-2", "e-1", "e-3", "e-4"].map { ["event_id": .string($0)] }

            let first = try collection.insertMany(batch)
            #expect(first.insertedCount == 4)
            #expect(first.duplicateKeyIndexes == [2])
            #expect(first.writeErrors.map(\.code) == [11000])
            #expect(try collection.countDocuments() == 4)

            // A redelivered batch: everything is already there, nothing is thrown.
            let again = try collection.insertMany(batch)
            #expect(again.insertedCount == 0)
            #expect(again.duplicateKeyIndexes == [0, 1, 2, 3, 4])
            #expect(try collection.countDocuments() == 4)

            #expect(try collection.insertMany([]).insertedCount == 0)
        }
    }

    @Test("updateOne with $set upserts, then updates, then reports no change")
    func updateUpsert() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            let inserted = try collection.updateOne(filter: ["_id": "n-1"], set: ["status": "queued"], upsert: true)
            #expect(inserted.matchedCount == 0)
            #expect(inserted.upsertedID == "n-1")

            let updated = try collection.updateOne(filter: ["_id": "n-1"], set: ["status": "sent"], upsert: true)
            #expect(updated.matchedCount == 1)
            #expect(updated.modifiedCount == 1)
            #expect(updated.upsertedID == nil)

            let unchanged = try collection.updateOne(filter: ["_id": "n-1"], set: ["status": "sent"])
            #expect(unchanged.matchedCount == 1)
            #expect(unchanged.modifiedCount == 0)

            let missing = try collection.updateOne(filter: ["_id": "n-2"], update: ["$inc": ["attempts": 1]])
            #expect(missing.matchedCount == 0)
            #expect(missing.upsertedID == nil)

            #expect(try collection.find() == [["_id": "n-1", "status": "sent"]])
        }
    }

    @Test("countDocuments counts what the filter matches")
    func count() throws {
        try MongoTestSupport.withTemporaryCollection { collection in
            #expect(try collection.countDocuments() == 0)
            _ = try collection.insertMany(
                (0..<7).map { ["kind": .string($0 < 3 ? "order.cancelled" : "order.confirmed")] })
            #expect(try collection.countDocuments() == 7)
            #expect(try collection.countDocuments(["kind": "order.cancelled"]) == 3)
            #expect(try collection.countDocuments(["kind": "order.rejected"]) == 0)
        }
    }

    @Test("an unreachable server is a connectionFailed error within the selection timeout")
    func unreachableServer() throws {
        // Port 9 (discard) on loopback has no listener here, so the connection is refused.
        let client = try MongoClient(
            configuration: .init(uri: "mongodb://127.0.0.1:9/", serverSelectionTimeout: .milliseconds(300)))
        let started = ContinuousClock.now
        let error = try #require(throws: MongoError.self) { try client.ping() }
        #expect(error.code == .connectionFailed)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test("an invalid URI and a key with NUL are rejected before any I/O")
    func invalidInput() throws {
        let uriError = try #require(throws: MongoError.self) { try MongoClient(uri: "postgres://nope") }
        #expect(uriError.code == .invalidURI)

        try MongoTestSupport.withTemporaryCollection { collection in
            let keyError = try #require(throws: MongoError.self) { try collection.insertOne(["bad\0key": 1]) }
            #expect(keyError.code == .invalidDocument)
        }
    }

    @Test("a duplicate key inside a bulk write's errors is recognised")
    func duplicateInsideWriteErrors() {
        let error = MongoError(
            code: .writeConcernFailed, message: "write concern",
            writeErrors: [.init(index: 3, code: 11000, message: "E11000 duplicate key")])
        #expect(error.isDuplicateKey)
        #expect(!MongoError(code: .serverError, serverCode: 121, message: "validation").isDuplicateKey)
    }
}
