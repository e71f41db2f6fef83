import CMongoC

/// One collection of a database: owns a `mongoc_collection_t`.
///
/// Made by ``MongoClient/collection(_:in:)``. It keeps its client alive and shares its
/// threading rule: one thread at a time, and every method **blocks** on network I/O. `deinit`
/// calls `mongoc_collection_destroy`, always before the client's own destruction.
public final class MongoCollection {
    /// What ``insertMany(_:)`` did.
    public struct InsertManyResult: Sendable, Hashable {
        /// How many documents were stored.
        public var insertedCount: Int
        /// The documents that were not stored, by their index in the array given.
        public var writeErrors: [MongoError.WriteError]

        /// The indexes of the documents rejected by a unique index: already stored.
        public var duplicateKeyIndexes: [Int] {
            writeErrors.filter(\.isDuplicateKey).map(\.index)
        }
    }

    /// What ``updateOne(filter:update:upsert:)`` did.
    public struct UpdateResult: Sendable, Hashable {
        /// How many documents matched the filter (0 or 1).
        public var matchedCount: Int
        /// How many documents were changed (0 when the update set the values they had).
        public var modifiedCount: Int
        /// The `_id` of the document an upsert inserted; `nil` when none was inserted.
        public var upsertedID: BSONValue?
    }

    /// The database's name.
    public let databaseName: String
    /// The collection's name.
    public let name: String

    // Kept so that the client outlives this handle: libmongoc requires every collection to be
    // destroyed before its client.
    private let client: MongoClient
    private let handle: OpaquePointer

    init(client: MongoClient, databaseName: String, name: String) {
        self.client = client
        self.databaseName = databaseName
        self.name = name
        handle = mongoc_client_get_collection(client.handle, databaseName, name)
    }

    deinit {
        mongoc_collection_destroy(handle)
    }

    /// Inserts one document (`mongoc_collection_insert_one`) and returns its `_id`. Blocks.
    ///
    /// A document without `_id` gets a new ``ObjectID`` as its first key, so the caller learns
    /// the id.
    ///
    /// - Throws: a ``MongoError`` whose ``MongoError/isDuplicateKey`` is true when a unique
    ///   index already holds the key.
    @discardableResult
    public func insertOne(_ document: Document) throws(MongoError) -> BSONValue {
        var stored = document
        let id: BSONValue
        if let existing = document["_id"] {
            id = existing
        } else {
            id = .objectID(ObjectID())
            stored = Document([("_id", id)] + document.map { ($0.key, $0.value) })
        }
        let bson = try BSONHandle(encoding: stored)
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        guard mongoc_collection_insert_one(handle, bson.pointer, nil, reply.pointer, &error) else {
            throw MongoError(wrapping: error, reply: try? reply.decode())
        }
        return id
    }

    /// Inserts documents in one unordered batch (`mongoc_collection_insert_many` with
    /// `ordered: false`). Blocks.
    ///
    /// The server tries every document, so one that is rejected (a duplicate key, typically,
    /// when a batch is redelivered) does not stop the others. Such per-document failures are
    /// **returned** in ``InsertManyResult/writeErrors``, not thrown.
    ///
    /// - Throws: ``MongoError`` when the batch as a whole failed (no server, a write concern
    ///   error, an invalid document); then some documents may have been stored.
    public func insertMany(_ documents: [Document]) throws(MongoError) -> InsertManyResult {
        // libmongoc rejects an empty batch as an invalid argument; an empty batch is no work.
        if documents.isEmpty { return InsertManyResult(insertedCount: 0, writeErrors: []) }
        var handles: [BSONHandle] = []
        handles.reserveCapacity(documents.count)
        for document in documents {
            handles.append(try BSONHandle(encoding: document))
        }
        let options = try BSONHandle(encoding: ["ordered": false])
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        var pointers: [OpaquePointer?] = handles.map(\.pointer)
        let succeeded = pointers.withUnsafeMutableBufferPointer { buffer in
            mongoc_collection_insert_many(
                handle, buffer.baseAddress, buffer.count, options.pointer, reply.pointer, &error)
        }
        // withExtendedLifetime: the pointers above borrow from these handles until here.
        withExtendedLifetime(handles) {}
        let replyDocument = try reply.decode()
        let writeErrors = MongoError.writeErrors(in: replyDocument)
        let hasWriteConcernError = !(replyDocument["writeConcernErrors"]?.arrayValue ?? []).isEmpty
        if succeeded || (!writeErrors.isEmpty && !hasWriteConcernError) {
            return InsertManyResult(
                insertedCount: replyDocument["insertedCount"]?.intValue ?? 0, writeErrors: writeErrors)
        }
        throw MongoError(wrapping: error, reply: replyDocument)
    }

    /// The documents matching `filter` (`mongoc_collection_find_with_opts`), read to the end of
    /// the cursor. Blocks.
    ///
    /// - Parameters:
    ///   - filter: A query document; empty matches everything.
    ///   - sort: Keys to sort by, in order, `1` ascending and `-1` descending.
    ///   - limit: The most documents to return; `nil` for all.
    ///   - projection: The fields to return (`["_id": 0, "email": 1]`); `nil` for all.
    public func find(
        _ filter: Document = [:], sort: Document? = nil, limit: Int? = nil, projection: Document? = nil
    ) throws(MongoError) -> [Document] {
        var options = Document()
        if let sort { options["sort"] = .document(sort) }
        if let limit { options["limit"] = .int64(Int64(limit)) }
        if let projection { options["projection"] = .document(projection) }
        let filterBSON = try BSONHandle(encoding: filter)
        let optionsBSON = try BSONHandle(encoding: options)
        // find_with_opts copies the filter and options, and never returns NULL: errors surface
        // through mongoc_cursor_error.
        let cursor = mongoc_collection_find_with_opts(handle, filterBSON.pointer, optionsBSON.pointer, nil)
        defer { mongoc_cursor_destroy(cursor) }
        var documents: [Document] = []
        // The cursor owns each current document; it is valid only until the next call.
        var current: OpaquePointer?
        while mongoc_cursor_next(cursor, &current) {
            documents.append(try BSONHandle.decode(current!))
        }
        var error = bson_error_t()
        if mongoc_cursor_error(cursor, &error) {
            throw MongoError(wrapping: error)
        }
        return documents
    }

    /// The first document matching `filter` in `sort` order, or `nil`. Blocks.
    public func findOne(_ filter: Document = [:], sort: Document? = nil) throws(MongoError) -> Document? {
        try find(filter, sort: sort, limit: 1).first
    }

    /// Updates the first document matching `filter` (`mongoc_collection_update_one`). Blocks.
    ///
    /// - Parameters:
    ///   - update: An update document of operators (`["$set": …, "$inc": …]`).
    ///   - upsert: Insert a document built from the filter and the update when none matches.
    /// - Throws: a ``MongoError``; ``MongoError/isDuplicateKey`` when the result would violate
    ///   a unique index (two concurrent upserts of the same key can do that: retry once).
    @discardableResult
    public func updateOne(filter: Document, update: Document, upsert: Bool = false) throws(MongoError) -> UpdateResult {
        let filterBSON = try BSONHandle(encoding: filter)
        let updateBSON = try BSONHandle(encoding: update)
        let options = try BSONHandle(encoding: ["upsert": .bool(upsert)])
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        guard
            mongoc_collection_update_one(
                handle, filterBSON.pointer, updateBSON.pointer, options.pointer, reply.pointer, &error)
        else {
            throw MongoError(wrapping: error, reply: try? reply.decode())
        }
        let replyDocument = try reply.decode()
        return UpdateResult(
            matchedCount: replyDocument["matchedCount"]?.intValue ?? 0,
            modifiedCount: replyDocument["modifiedCount"]?.intValue ?? 0,
            upsertedID: replyDocument["upsertedId"])
    }

    /// Sets `fields` on the first document matching `filter` (`$set`), inserting one when
    /// `upsert` is true and none matches. Blocks. See ``updateOne(filter:update:upsert:)``.
    @discardableResult
    public func updateOne(filter: Document, set fields: Document, upsert: Bool = false) throws(MongoError)
        -> UpdateResult
    {
        try updateOne(filter: filter, update: ["$set": .document(fields)], upsert: upsert)
    }

    /// The number of documents matching `filter` (`mongoc_collection_count_documents`, an
    /// exact count by aggregation). Blocks.
    public func countDocuments(_ filter: Document = [:]) throws(MongoError) -> Int {
        let filterBSON = try BSONHandle(encoding: filter)
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        let count = mongoc_collection_count_documents(handle, filterBSON.pointer, nil, nil, reply.pointer, &error)
        guard count >= 0 else { throw MongoError(wrapping: error) }
        return Int(count)
    }

    /// Creates an index with the `createIndexes` command and returns its name. Blocks.
    ///
    /// Sent through `mongoc_collection_write_command_with_opts`, because libmongoc 1.23 has no
    /// index-model API. Creating an index that exists with the same options does nothing, so
    /// start-up code may call this every time.
    ///
    /// - Parameters:
    ///   - keys: The indexed keys in order, `1` ascending, `-1` descending (`["event_id": 1]`).
    ///   - name: The index name; `nil` for MongoDB's convention (`event_id_1`).
    ///   - unique: Reject a second document with the same key (error 11000).
    /// - Throws: a ``MongoError``, for example when an index of that name exists with other
    ///   options, or when a unique index cannot be built over existing duplicates.
    @discardableResult
    public func createIndex(_ keys: Document, name: String? = nil, unique: Bool = false) throws(MongoError) -> String {
        let indexName = name ?? Self.defaultIndexName(keys)
        var index: Document = ["key": .document(keys), "name": .string(indexName)]
        if unique { index["unique"] = true }
        let command: Document = ["createIndexes": .string(self.name), "indexes": [.document(index)]]
        let commandBSON = try BSONHandle(encoding: command)
        let reply = BSONHandle.reply()
        var error = bson_error_t()
        guard mongoc_collection_write_command_with_opts(handle, commandBSON.pointer, nil, reply.pointer, &error) else {
            throw MongoError(wrapping: error, reply: try? reply.decode())
        }
        return indexName
    }

    /// Drops the collection and its indexes (`mongoc_collection_drop_with_opts`). Blocks.
    ///
    /// Dropping a collection that does not exist succeeds.
    public func drop() throws(MongoError) {
        var error = bson_error_t()
        guard mongoc_collection_drop_with_opts(handle, nil, &error) else {
            let wrapped = MongoError(wrapping: error)
            // 26 NamespaceNotFound: older servers report a missing collection; the goal holds.
            if wrapped.code == .serverError && wrapped.serverCode == 26 { return }
            throw wrapped
        }
    }

    /// MongoDB's default index name: each key and its value joined by underscores.
    private static func defaultIndexName(_ keys: Document) -> String {
        keys.map { key, value in
            let direction =
                switch value {
                case .string(let kind): kind
                case .double(let number): String(Int(number))
                default: value.intValue.map(String.init) ?? "1"
                }
            return "\(key)_\(direction)"
        }.joined(separator: "_")
    }
}

// Shares its client's C handle, which must stay on one thread at a time.
@available(*, unavailable)
extension MongoCollection: Sendable {}
