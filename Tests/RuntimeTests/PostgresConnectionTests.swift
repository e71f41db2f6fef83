import CommerceTestKit
import Foundation
import Postgres
import Testing

@Suite("PostgreSQL wrapper against a real server")
struct PostgresConnectionTests {
    /// A table of this test's own, dropped afterwards.
    private func withTable(_ body: (PostgresConnection, String) throws -> Void) throws {
        let connection = try TestServers.postgres()
        let table = TestServers.uniqueName("t").replacingOccurrences(of: "-", with: "_")
        // The table name is generated here, never user input; identifiers cannot be parameters.
        try connection.query("create table \(table) (id int primary key, name text not null, payload bytea)")
        defer { _ = try? connection.query("drop table if exists \(table)") }
        try body(connection, table)
    }

    @Test("parameterized insert and select keep quotes, unicode and bytes intact")
    func parameters() throws {
        try withTable { connection, table in
            let name = "O'Brien; drop table students; -- \"quoted\" 한국어 ✓"
            let payload: [UInt8] = [0, 1, 2, 0, 255, 39, 92]
            let inserted = try connection.query(
                "insert into \(table) (id, name, payload) values ($1, $2, $3)", [1, .text(name), .bytes(payload)])
            #expect(inserted.affectedRows == 1)
            let rows = try connection.query("select id, name, payload from \(table) where name = $1", [.text(name)])
                .rows
            try #require(rows.count == 1)
            #expect(try rows[0].int("id") == 1)
            #expect(try rows[0].string("name") == name)
            #expect(try rows[0].bytes("payload") == payload)
        }
    }

    @Test("a unique violation carries SQLSTATE 23505")
    func uniqueViolation() throws {
        try withTable { connection, table in
            try connection.query("insert into \(table) (id, name) values ($1, $2)", [7, "first"])
            let error = #expect(throws: PostgresError.self) {
                try connection.query("insert into \(table) (id, name) values ($1, $2)", [7, "second"])
            }
            #expect(error?.sqlState == "23505")
            #expect(error?.isUniqueViolation == true)
            #expect(error?.isInfrastructureFailure == false)
            #expect(error?.debugDescription.contains("Key (id)=(7)") == true)
            // The connection is still usable.
            #expect(try connection.query("select count(*) as n from \(table)").rows[0].int("n") == 1)
        }
    }

    @Test("a transaction commits when its body returns and rolls back when it throws")
    func transactions() throws {
        struct Abort: Error {}
        try withTable { connection, table in
            try connection.transaction { tx in
                try tx.query("insert into \(table) (id, name) values ($1, $2)", [1, "kept"])
            }
            #expect(throws: Abort.self) {
                try connection.transaction { tx in
                    try tx.query("insert into \(table) (id, name) values ($1, $2)", [2, "rolled back"])
                    throw Abort()
                }
            }
            let names = try connection.query("select name from \(table) order by id").rows.map { try $0.string("name") }
            #expect(names == ["kept"])
        }
    }

    @Test("arrays feed multi-row statements through unnest")
    func arrays() throws {
        try withTable { connection, table in
            let names = ["a\"b", "c\\d", "e,f", "{g}"]
            try connection.query(
                "insert into \(table) (id, name) select * from unnest($1::int[], $2::text[])",
                [.intArray([1, 2, 3, 4]), .textArray(names)])
            let rows = try connection.query("select name from \(table) order by id").rows
            #expect(try rows.map { try $0.string("name") } == names)
        }
    }

    @Test(
        "generic planning plans a statement once, auto after five custom plans, per-execution every time; the guard keeps the index",
        arguments: [StatementPlanning.generic, .auto, .perExecution])
    func planning(_ planning: StatementPlanning) throws {
        try withTable { setup, table in
            try setup.query(
                "insert into \(table) (id, name) select n, 'name ' || n from generate_series(1, 20000) as n")
            try setup.query("analyze \(table)")
            let connection = try PostgresConnection(url: TestServers.postgresURL, planning: planning)
            defer { connection.close() }
            let settings = try connection.query(
                "select current_setting('plan_cache_mode') as mode, current_setting('enable_seqscan') as seqscan"
            ).rows[0]
            #expect(try settings.string("mode") == planning.planCacheMode)
            #expect(try settings.string("seqscan") == (planning.sequentialScans ? "on" : "off"))
            let lookup = "select name from \(table) where id = $1"
            for id in 1...10 {
                #expect(try connection.query(lookup, [.int(Int64(id))]).rows.first?.string("name") == "name \(id)")
            }
            let statement = try connection.query(
                "select generic_plans, custom_plans from pg_prepared_statements where statement = $1", [.text(lookup)]
            ).rows
            try #require(statement.count == 1, "the lookup is a prepared statement of the session")
            let generic = try statement[0].int("generic_plans")
            let custom = try statement[0].int("custom_plans")
            switch planning {
            case .generic: #expect(generic == 10 && custom == 0, "generic \(generic), custom \(custom)")
            case .auto: #expect(generic == 5 && custom == 5, "generic \(generic), custom \(custom)")
            default: #expect(generic == 0 && custom == 10, "generic \(generic), custom \(custom)")
            }
            if !planning.sequentialScans {
                // A generic plan (its condition names $1, not a value) of a lookup by key, made
                // while the table is empty, still uses the primary key's index once it has grown.
                let empty = table + "_empty"
                try setup.query("create table \(empty) (id int primary key, name text not null)")
                defer { _ = try? setup.query("drop table if exists \(empty)") }
                try connection.query("prepare by_key(int) as select name from \(empty) where id = $1")
                for id in 1...6 { try connection.query("execute by_key(\(id))") }
                try setup.query(
                    "insert into \(empty) (id, name) select n, 'name ' || n from generate_series(1, 20000) as n")
                try setup.query("analyze \(empty)")
                let plan = try connection.query("explain execute by_key(7)").rows
                    .map { try $0.string("QUERY PLAN") }.joined(separator: "\n")
                #expect(plan.contains("Index") && plan.contains("$1"), "\(plan)")
            }
        }
    }

    @Test("an unreachable server is connectionFailed without the password in the message")
    func unreachable() throws {
        let error = #expect(throws: PostgresError.self) {
            try PostgresConnection(url: "postgresql://commerce:hunter2@127.0.0.1:1/commerce_test?connect_timeout=2")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isInfrastructureFailure == true)
        #expect(error?.description.contains("hunter2") == false)
    }
}
