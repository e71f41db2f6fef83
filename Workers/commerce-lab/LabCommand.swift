import ArgumentParser

/// The root of the `commerce-lab` command line: measurements and fault injection against a fleet
/// of real worker processes on this machine. Nothing here belongs in production: `chaos` restarts
/// the local servers, the benchmarks create and drop databases and queues of their own, and
/// `demo` places sample orders.
///
/// The synchronous subcommands run on the main thread on purpose: rabbitmq-c, libpq and libmongoc
/// block and their handles are not thread-safe, so each connection is made, used and closed on one
/// thread and never touches Swift's cooperative pool. Only `bench-gateway`, which drives the HTTP
/// adapter (AsyncHTTPClient), is asynchronous; it makes the root asynchronous too.
@main
struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commerce-lab",
        abstract: "Benchmark the commerce fleet, inject faults, and run the sample-order demo (local servers only).",
        discussion: """
            Connection settings come from options or from the environment variables the workers \
            use (AMQP_URL, DATABASE_URL, MONGO_URL); an option wins over its variable. The \
            operator's commands are in `commerce`.
            """,
        subcommands: [
            DemoCommand.self, BenchCommand.self, BenchRuntimeCommand.self, BenchPaymentsCommand.self,
            BenchGatewayCommand.self, ChaosCommand.self,
        ])
}
