import CRabbitMQ
import Glibc

/// Owns the C memory behind the `amqp_bytes_t` and `amqp_table_t` values of one call.
///
/// rabbitmq-c borrows the memory of its arguments for the duration of a call only; the arena
/// copies Swift values into `malloc`ed blocks and frees all of them when it is released, so
/// nothing outlives the call and nothing leaks.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    private func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let block = malloc(max(size, 1))!
        blocks.append(block)
        return block
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var copy = string
        return copy.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ array: [UInt8]) -> amqp_bytes_t {
        array.withUnsafeBytes { bytes($0) }
    }

    func bytes(_ buffer: UnsafeRawBufferPointer) -> amqp_bytes_t {
        let block = allocate(buffer.count)
        if buffer.count > 0 { block.copyMemory(from: buffer.baseAddress!, byteCount: buffer.count) }
        return amqp_bytes_t(len: buffer.count, bytes: block)
    }

    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * table.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: table.count)
        // Sorted so that the encoded table is the same for the same headers.
        for (index, (key, value)) in table.sorted(by: { $0.key < $1.key }).enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: field(value))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let string):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(string)
        case .int(let int):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = int
        case .bool(let bool):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = bool ? 1 : 0
        case .double(let double):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = double
        case .timestamp(let seconds):
            field.kind = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
            field.value.u64 = seconds
        case .bytes(let array):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = bytes(array)
        case .array(let values):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * max(values.count, 1))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(values.count, 1))
            for (index, element) in values.enumerated() { entries[index] = self.field(element) }
            field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: entries)
        case .table(let nested):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(nested)
        case .decimal(let scale, let value):
            field.kind = UInt8(AMQP_FIELD_KIND_DECIMAL.rawValue)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: value)
        case .void:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }
}

extension AMQPFieldValue {
    /// Copies a decoded C field value into Swift.
    init(_ field: amqp_field_value_t) {
        switch Int32(field.kind) {
        case Int32(AMQP_FIELD_KIND_UTF8.rawValue): self = .string(String(amqpBytes: field.value.bytes))
        case Int32(AMQP_FIELD_KIND_BYTES.rawValue): self = .bytes([UInt8](amqpBytes: field.value.bytes))
        case Int32(AMQP_FIELD_KIND_BOOLEAN.rawValue): self = .bool(field.value.boolean != 0)
        case Int32(AMQP_FIELD_KIND_I8.rawValue): self = .int(Int64(field.value.i8))
        case Int32(AMQP_FIELD_KIND_U8.rawValue): self = .int(Int64(field.value.u8))
        case Int32(AMQP_FIELD_KIND_I16.rawValue): self = .int(Int64(field.value.i16))
        case Int32(AMQP_FIELD_KIND_U16.rawValue): self = .int(Int64(field.value.u16))
        case Int32(AMQP_FIELD_KIND_I32.rawValue): self = .int(Int64(field.value.i32))
        case Int32(AMQP_FIELD_KIND_U32.rawValue): self = .int(Int64(field.value.u32))
        case Int32(AMQP_FIELD_KIND_I64.rawValue): self = .int(field.value.i64)
        case Int32(AMQP_FIELD_KIND_U64.rawValue): self = .int(Int64(truncatingIfNeeded: field.value.u64))
        case Int32(AMQP_FIELD_KIND_F32.rawValue): self = .double(Double(field.value.f32))
        case Int32(AMQP_FIELD_KIND_F64.rawValue): self = .double(field.value.f64)
        case Int32(AMQP_FIELD_KIND_TIMESTAMP.rawValue): self = .timestamp(field.value.u64)
        case Int32(AMQP_FIELD_KIND_DECIMAL.rawValue):
            self = .decimal(scale: field.value.decimal.decimals, value: field.value.decimal.value)
        case Int32(AMQP_FIELD_KIND_TABLE.rawValue): self = .table(AMQPTable(field.value.table))
        case Int32(AMQP_FIELD_KIND_ARRAY.rawValue):
            let array = field.value.array
            var values: [AMQPFieldValue] = []
            for index in 0..<Int(array.num_entries) { values.append(AMQPFieldValue(array.entries[index])) }
            self = .array(values)
        default: self = .void
        }
    }
}

extension Dictionary where Key == String, Value == AMQPFieldValue {
    /// Copies a decoded C table into Swift.
    init(_ table: amqp_table_t) {
        self.init()
        for index in 0..<Int(table.num_entries) {
            let entry = table.entries[index]
            self[String(amqpBytes: entry.key)] = AMQPFieldValue(entry.value)
        }
    }
}
