import Testing

@testable import WorkerRuntime

@Suite("HandlerDatabase.transactionControlKeyword")
struct HandlerDatabaseTests {
    @Test(
        "transaction control is recognised by its first keyword, after white space and comments",
        arguments: [
            ("commit", "commit"), ("  COMMIT;", "commit"), ("rollback", "rollback"), ("begin", "begin"),
            ("start transaction", "start"), ("end", "end"), ("abort", "abort"), ("savepoint x", "savepoint"),
            ("release savepoint x", "release"), ("prepare transaction 'x'", "prepare"),
            ("-- comment\ncommit", "commit"), ("/* c */ commit", "commit"), ("Begin;", "begin"),
            ("\n\t-- one\n/* two */\n  ROLLBACK to savepoint s", "rollback"), ("/* a *//* b */end", "end"),
        ])
    func refused(sql: String, keyword: String) {
        #expect(HandlerDatabase.transactionControlKeyword(sql) == keyword)
    }

    @Test(
        "ordinary statements pass, even when a refused keyword appears later or inside a word",
        arguments: [
            "select 1", "insert into t values (1)", "update commits set x = 1",
            "with begin as (select 1) select * from begin", "committed", "", "   ", "-- commit",
            "/* commit */ select 1", "/* commit",
        ])
    func allowed(sql: String) {
        #expect(HandlerDatabase.transactionControlKeyword(sql) == nil)
    }
}
