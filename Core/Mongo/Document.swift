/// A BSON document: string keys in the order they were added, each with a ``BSONValue``.
///
/// Order matters to MongoDB (a command's first key names the command; a sort or index key
/// document is read left to right), so this is not a dictionary. Build one from a literal,
/// `["order_id": "o-1", "items": [["sku": "KB-001", "quantity": 2]]]`, or append to it.
///
/// Keys may not contain the NUL character; sending such a document fails with
/// ``MongoError/Code-swift.struct/invalidDocument``. Duplicate keys are kept as given, because
/// the server may send them; ``subscript(_:)`` reads the first.
public struct Document: Sendable, Hashable {
    // Two parallel arrays rather than an array of tuples, so that Hashable is synthesised.
    private var storedKeys: [String]
    private var storedValues: [BSONValue]

    /// An empty document.
    public init() {
        storedKeys = []
        storedValues = []
    }

    /// A document with the given key-value pairs, in order.
    public init(_ elements: some Sequence<(String, BSONValue)>) {
        self.init()
        for (key, value) in elements { append(key, value) }
    }

    /// The keys, in order.
    public var keys: [String] { storedKeys }

    /// The values, in the order of ``keys``.
    public var values: [BSONValue] { storedValues }

    /// The number of key-value pairs.
    public var count: Int { storedKeys.count }

    /// Whether the document has no keys.
    public var isEmpty: Bool { storedKeys.isEmpty }

    /// Adds a pair at the end, even if the key is already present.
    public mutating func append(_ key: String, _ value: BSONValue) {
        storedKeys.append(key)
        storedValues.append(value)
    }

    /// The value of the first pair with this key; setting replaces it in place, appends a new
    /// pair when the key is absent, and removes every pair with the key when set to `nil`.
    public subscript(key: String) -> BSONValue? {
        get {
            guard let index = storedKeys.firstIndex(of: key) else { return nil }
            return storedValues[index]
        }
        set {
            guard let newValue else {
                while let index = storedKeys.firstIndex(of: key) {
                    storedKeys.remove(at: index)
                    storedValues.remove(at: index)
                }
                return
            }
            if let index = storedKeys.firstIndex(of: key) {
                storedValues[index] = newValue
            } else {
                append(key, newValue)
            }
        }
    }
}

extension Document: ExpressibleByDictionaryLiteral {
    /// A document whose keys keep the literal's order.
    public init(dictionaryLiteral elements: (String, BSONValue)...) {
        self.init(elements)
    }
}

extension Document: Sequence {
    /// Iterates the pairs in order.
    public func makeIterator() -> some IteratorProtocol<(key: String, value: BSONValue)> {
        zip(storedKeys, storedValues).lazy.map { (key: $0, value: $1) }.makeIterator()
    }
}
