// commerce: the operator tool (docs/operations.md, "The `commerce` tool"). Wiring only: each subcommand lives in its own file.
//
// The command runs synchronously on the main thread on purpose: rabbitmq-c, libpq and libmongoc
// block and their handles are not thread-safe, so each connection is made, used and closed on
// this one thread and never touches Swift's cooperative pool.
CommerceCommand.main()
