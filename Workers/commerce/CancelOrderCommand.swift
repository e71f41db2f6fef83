import ArgumentParser
import CommandLineSupport
import CommerceMessages
import CommerceTracing
import FleetOperations
import Foundation

/// `commerce cancel-order`: publishes one `order.cancel` as the customer's system would (before
/// or after confirmation); the order-worker answers with `order.cancelled` and the fleet refunds
/// and restocks.
struct CancelOrderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel-order",
        abstract: "Publish an order.cancel for an order.",
        discussion: """
            The message is persistent, mandatory and confirmed, like `commerce place-order`'s; one \
            the broker returns as unroutable (the fleet's topology is not declared) exits with status \
            1. The command does not wait for the order.cancelled: the order-worker cancels a PENDING \
            or CONFIRMED order (the later compensations refund and restock) and ignores the command \
            for an order already cancelled or rejected.
            """)

    @Argument(help: ArgumentHelp("The order to cancel.", valueName: "order-id"))
    var orderID: String

    @Option(help: ArgumentHelp("Why, in words (at most 1,000 characters).", valueName: "text"))
    var reason = "cancelled with commerce cancel-order"

    @OptionGroup var publishing: PublishOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var exchange: String
        var routingKey: String
        var orderID: String
        var messageID: String
        var reason: String
    }

    /// The command, checked with the contract's decoder.
    private var command: CancelOrder {
        get throws(ContractError) {
            let command = CancelOrder(orderID: orderID, reason: reason)
            return try CancelOrder.decode(from: command.encodedBody())
        }
    }

    func validate() throws {
        do {
            _ = try command
        } catch {
            let option =
                error.field == "reason" ? "--reason" : (error.field == "order_id" ? "the order id" : error.field)
            throw ValidationError("\(option): \(error.message)")
        }
    }

    func run() throws {
        let command = try command
        do {
            try publishing.installTracing()
            defer { CommerceTracing.shutdown(deadline: .seconds(5)) }
            let publisher = try OrderPublisher(publishing, command: "cancel-order")
            let published = try publisher.publish(
                [(command.orderID, command.encodedBody())], type: .orderCancel, trace: publishing.trace)
            if output.json {
                output.printJSON(
                    Report(
                        exchange: publisher.exchange, routingKey: MessageType.orderCancel.rawValue,
                        orderID: command.orderID, messageID: published[0].messageID, reason: command.reason))
            } else {
                print(command.orderID)
            }
        } catch {
            if output.json {
                struct Failure: Encodable { var error: String }
                output.printJSON(Failure(error: "\(error)"))
            }
            throw error
        }
    }
}
