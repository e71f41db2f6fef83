import ArgumentParser
import CommandLineSupport
import CommerceMessages
import CommerceTracing
import FleetOperations
import Foundation

/// `commerce place-order`: publishes `order.place` commands to the fleet's exchange exactly as an
/// upstream system would, from a file (checked with the contract's decoder first) or generated
/// samples, and prints the order ids.
struct PlaceOrderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place-order",
        abstract: "Publish order.place commands: one from a file, or generated samples.",
        discussion: """
            --file takes an order.place body (docs/schemas/order.place.json; '-' reads standard input), \
            checked with the contract's decoder before anything is published: a body the contract \
            refuses exits with status 64 naming the field. --sample N generates N orders from the \
            cycle of eight that `commerce-lab demo` places (four that should be confirmed, a declined \
            card, a card that fails twice, an item nobody stocks, an invalid order). Messages are \
            persistent, mandatory and confirmed; one the broker returns as unroutable (no queue \
            bound: the fleet's topology is not declared) exits with status 1. Prints the order ids, \
            one per line, as each window of publishes is confirmed. The command does not wait for \
            the orders to end: watch them with the order-worker's log, `commerce queues` or `commerce audit`.
            """)

    @Option(help: ArgumentHelp("An order.place body to publish ('-' for standard input).", valueName: "file"))
    var file: String?

    @Option(help: ArgumentHelp("Generated sample orders to publish.", valueName: "n"))
    var sample: Int?

    @Option(
        help: ArgumentHelp(
            "Orders per second for --sample (default: as fast as the broker confirms, in windows of 200).",
            valueName: "r"))
    var rate: Double?

    @OptionGroup var publishing: PublishOptions
    @OptionGroup var output: OutputOptions

    static let window = 200

    func validate() throws {
        guard (file == nil) != (sample == nil) else {
            throw ValidationError("give either --file FILE or --sample N")
        }
        if let sample, sample <= 0 { throw ValidationError("--sample must be positive, not \(sample)") }
        if let rate {
            guard sample != nil else { throw ValidationError("--rate goes with --sample") }
            guard rate > 0, rate.isFinite else { throw ValidationError("--rate must be positive, not \(rate)") }
        }
    }

    struct Report: Encodable {
        var exchange: String
        var routingKey: String
        var orderIDs: [String]
        var orders: [Order]

        enum CodingKeys: String, CodingKey {
            case exchange, routingKey, orders
            // Spelled out: the snake_case strategy would make `orderIDs` "order_i_ds".
            case orderIDs = "order_ids"
        }

        struct Order: Encodable {
            var orderID: String
            var messageID: String
            /// The trace the order's saga runs in (`commerce order show` prints it too).
            var traceID: String
            /// The sample's kind and the status it should end in (`--sample` only).
            var sample: String?
            var expected: String?
        }
    }

    func run() throws {
        var orders: [(orderID: String, body: [UInt8], sample: String?, expected: String?)] = []
        if let file {
            let command = try readCommand(file)
            orders.append((command.orderID, command.body, nil, nil))
        } else {
            for index in 0..<(sample ?? 0) {
                let (kind, expected, command) = SampleOrders.sample(index)
                orders.append((command.orderID, command.encodedBody(), kind, expected))
            }
        }
        let publisher: OrderPublisher
        do {
            try publishing.installTracing()
            publisher = try OrderPublisher(publishing, command: "place-order")
        } catch {
            throw reported(error)
        }
        // The publish spans, when tracing is on; a collector that does not answer costs at most this.
        defer { CommerceTracing.shutdown(deadline: .seconds(5)) }
        // Confirms in windows: 200 as fast as possible, or about one second's worth under --rate.
        let windowSize = rate.map { max(1, min(Self.window, Int($0.rounded(.up)))) } ?? Self.window
        let started = ContinuousClock.now
        var placed: [Report.Order] = []
        for start in stride(from: 0, to: orders.count, by: windowSize) {
            let slice = orders[start..<min(start + windowSize, orders.count)]
            var published: [OrderPublisher.Published] = []
            if let rate {
                // One at a time at its scheduled instant, confirmed together at the window's end.
                for (offset, order) in slice.enumerated() {
                    let due = started + .seconds(Double(start + offset) / rate)
                    let wait = due - ContinuousClock.now
                    if wait > .zero {
                        Thread.sleep(
                            forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds)
                                / 1e18)
                    }
                    published += try publishReported(publisher, [(order.orderID, order.body)])
                }
            } else {
                published = try publishReported(publisher, slice.map { ($0.orderID, $0.body) })
            }
            for (order, message) in zip(slice, published) {
                placed.append(
                    Report.Order(
                        orderID: order.orderID, messageID: message.messageID, traceID: message.traceID,
                        sample: order.sample,
                        expected: order.expected))
                if !output.json { print(order.orderID) }
            }
        }
        if output.json {
            output.printJSON(
                Report(
                    exchange: publisher.exchange, routingKey: MessageType.orderPlace.rawValue,
                    orderIDs: placed.map(\.orderID), orders: placed))
        }
    }

    /// The file's body, checked with the contract's decoder; a contract error exits 64 naming the field.
    private func readCommand(_ path: String) throws -> (orderID: String, body: [UInt8]) {
        let data: Data
        do {
            data =
                path == "-"
                ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw reported(CommandFailure("cannot read \(path): \(error.localizedDescription)"))
        }
        let body = [UInt8](data)
        do {
            return (try PlaceOrder.decode(from: body).orderID, body)
        } catch {
            let field = error.field.isEmpty ? "the body" : error.field
            let message = "\(path) is not a valid order.place body: \(field): \(error.code): \(error.message)"
            if output.json {
                struct Failure: Encodable {
                    var error: String
                    var field: String
                    var code: String
                }
                output.printJSON(Failure(error: message, field: error.field, code: error.code.name))
            }
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            throw ExitCode.validationFailure
        }
    }

    private func publishReported(_ publisher: OrderPublisher, _ bodies: [(orderID: String, body: [UInt8])]) throws
        -> [OrderPublisher.Published]
    {
        do {
            return try publisher.publish(bodies, type: .orderPlace, trace: publishing.trace)
        } catch {
            throw reported(error)
        }
    }

    /// `error`, also printed as JSON with `--json`.
    private func reported(_ error: any Error) -> any Error {
        if output.json {
            struct Failure: Encodable { var error: String }
            output.printJSON(Failure(error: "\(error)"))
        }
        return error
    }
}
