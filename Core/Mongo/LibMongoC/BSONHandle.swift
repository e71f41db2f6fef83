import CMongoC
import Foundation

/// Owns one `bson_t` and destroys it (`bson_destroy`) in `deinit`.
///
/// Swift imports `bson_t *` as `OpaquePointer` because the struct is declared 128-byte aligned,
/// so a document is either made by `bson_new` (heap, freed by `bson_destroy`) or, for a
/// libmongoc out-parameter such as `bson_t *reply`, placed in storage this class allocates with
/// the C size and alignment. Confined to the thread that uses it, like the client.
final class BSONHandle {
    /// The `bson_t *` to pass to libmongoc.
    let pointer: OpaquePointer
    // Set only for out-parameter storage: bson_destroy does not free a bson_t it did not
    // allocate itself (bson_init marks it static), so the storage is released here.
    private let storage: UnsafeMutableRawPointer?

    /// An empty document from `bson_new`.
    init() {
        // bson_new aborts on allocation failure rather than returning NULL.
        pointer = bson_new()
        storage = nil
    }

    private init(storage: UnsafeMutableRawPointer) {
        self.storage = storage
        pointer = OpaquePointer(storage)
        // Initialised here so that destroying it is valid even if libmongoc never writes it.
        bson_init(pointer)
    }

    /// Storage for a `bson_t *reply` out-parameter. libmongoc always (re)initialises the
    /// reply, so it must be destroyed after every call, which `deinit` does.
    static func reply() -> BSONHandle {
        BSONHandle(storage: .allocate(byteCount: CMongoC_bsonSize(), alignment: CMongoC_bsonAlignment()))
    }

    /// A copy of `document` in BSON, made with the `bson_append_*` functions.
    convenience init(encoding document: Document) throws(MongoError) {
        self.init()
        for (key, value) in document {
            try append(value, forKey: key)
        }
    }

    /// An array in BSON: a document whose keys are "0", "1", … in order.
    convenience init(encodingArray elements: [BSONValue]) throws(MongoError) {
        self.init()
        for (index, element) in elements.enumerated() {
            try append(element, forKey: String(index))
        }
    }

    deinit {
        bson_destroy(pointer)
        storage?.deallocate()
    }

    /// Appends one key-value pair; an embedded document or array is built separately and
    /// copied in with `bson_append_document` / `bson_append_array`.
    func append(_ value: BSONValue, forKey key: String) throws(MongoError) {
        if key.utf8.contains(0) {
            throw MongoError(code: .invalidDocument, message: "a document key contains the NUL character")
        }
        let child: BSONHandle? =
            switch value {
            case .document(let document): try BSONHandle(encoding: document)
            case .array(let elements): try BSONHandle(encodingArray: elements)
            default: nil
            }
        let keyLength = Int32(key.utf8.count)
        let appended = key.withCString { key -> Bool in
            switch value {
            case .string(let string):
                // An explicit length keeps a NUL inside the string, which BSON allows.
                return string.withCString { bson_append_utf8(pointer, key, keyLength, $0, Int32(string.utf8.count)) }
            case .int32(let number):
                return bson_append_int32(pointer, key, keyLength, number)
            case .int64(let number):
                return bson_append_int64(pointer, key, keyLength, number)
            case .double(let number):
                return bson_append_double(pointer, key, keyLength, number)
            case .bool(let flag):
                return bson_append_bool(pointer, key, keyLength, flag)
            case .null:
                return bson_append_null(pointer, key, keyLength)
            case .date(let date):
                let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
                return bson_append_date_time(pointer, key, keyLength, milliseconds)
            case .document:
                return bson_append_document(pointer, key, keyLength, child!.pointer)
            case .array:
                return bson_append_array(pointer, key, keyLength, child!.pointer)
            case .objectID(let objectID):
                var oid = bson_oid_t(objectID)
                return bson_append_oid(pointer, key, keyLength, &oid)
            case .binary(let subtype, let bytes):
                return bytes.withUnsafeBufferPointer {
                    bson_append_binary(
                        pointer, key, keyLength, bson_subtype_t(UInt32(subtype)), $0.baseAddress, UInt32($0.count))
                }
            case .timestamp(let seconds, let increment):
                return bson_append_timestamp(pointer, key, keyLength, seconds, increment)
            }
        }
        // bson_append_* fail only when the document would outgrow BSON's size limit.
        guard appended else {
            throw MongoError(code: .invalidDocument, message: "the document is too large for BSON (at key \"\(key)\")")
        }
    }

    /// The document, read back with `bson_iter`.
    func decode() throws(MongoError) -> Document {
        try Self.decode(pointer)
    }

    /// Reads a `bson_t` that this class does not own (a cursor's current document).
    static func decode(_ bson: OpaquePointer) throws(MongoError) -> Document {
        let iterator = BSONIterator()
        guard bson_iter_init(iterator.pointer, bson) else {
            throw MongoError(code: .invalidDocument, message: "the server sent a malformed BSON document")
        }
        return try iterator.readDocument()
    }
}

/// A `bson_iter_t` in storage with the C size and alignment (Swift cannot lay it out).
private final class BSONIterator {
    let pointer: OpaquePointer
    private let storage: UnsafeMutableRawPointer

    init() {
        storage = .allocate(byteCount: CMongoC_iterSize(), alignment: CMongoC_iterAlignment())
        pointer = OpaquePointer(storage)
    }

    deinit { storage.deallocate() }

    /// Reads the remaining pairs of the document this iterator is positioned in.
    func readDocument() throws(MongoError) -> Document {
        var document = Document()
        while bson_iter_next(pointer) {
            let key = String(cString: bson_iter_key(pointer))
            document.append(key, try readValue(key: key))
        }
        return document
    }

    private func readValue(key: String) throws(MongoError) -> BSONValue {
        let type = bson_iter_type(pointer)
        switch type {
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            let bytes = bson_iter_utf8(pointer, &length)
            return .string(String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(length)), as: UTF8.self))
        case BSON_TYPE_INT32:
            return .int32(bson_iter_int32(pointer))
        case BSON_TYPE_INT64:
            return .int64(bson_iter_int64(pointer))
        case BSON_TYPE_DOUBLE:
            return .double(bson_iter_double(pointer))
        case BSON_TYPE_BOOL:
            return .bool(bson_iter_bool(pointer))
        case BSON_TYPE_NULL:
            return .null
        case BSON_TYPE_DATE_TIME:
            return .date(Date(timeIntervalSince1970: Double(bson_iter_date_time(pointer)) / 1000))
        case BSON_TYPE_OID:
            return .objectID(ObjectID(bson_iter_oid(pointer).pointee))
        case BSON_TYPE_BINARY:
            var subtype = BSON_SUBTYPE_BINARY
            var length: UInt32 = 0
            var bytes: UnsafePointer<UInt8>?
            bson_iter_binary(pointer, &subtype, &length, &bytes)
            return .binary(
                subtype: UInt8(truncatingIfNeeded: subtype.rawValue),
                bytes: Array(UnsafeBufferPointer(start: bytes, count: Int(length))))
        case BSON_TYPE_TIMESTAMP:
            var seconds: UInt32 = 0
            var increment: UInt32 = 0
            bson_iter_timestamp(pointer, &seconds, &increment)
            return .timestamp(seconds: seconds, increment: increment)
        case BSON_TYPE_DOCUMENT, BSON_TYPE_ARRAY:
            let child = BSONIterator()
            guard bson_iter_recurse(pointer, child.pointer) else {
                throw MongoError(code: .invalidDocument, message: "malformed embedded document at key \"\(key)\"")
            }
            let document = try child.readDocument()
            return type == BSON_TYPE_ARRAY ? .array(document.values) : .document(document)
        default:
            let hex = String(type.rawValue, radix: 16)
            throw MongoError(code: .invalidDocument, message: "BSON type 0x\(hex) at key \"\(key)\" is not supported")
        }
    }
}
