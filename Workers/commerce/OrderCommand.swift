import ArgumentParser

/// `commerce order`: find orders and follow one through the fleet.
struct OrderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order",
        abstract: "Show an order and its saga's timeline, or list orders.",
        subcommands: [OrderShowCommand.self, OrderListCommand.self])
}
