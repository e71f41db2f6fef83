import CommerceMessages
import Postgres
import Testing

@testable import WorkerRuntime

private struct SomethingElse: Error, CustomStringConvertible {
    var description: String { "something else went wrong" }
}

@Suite("HandlingFailure.classify")
struct HandlingFailureTests {
    @Test("a contract error is permanent, with the contract code as reason")
    func contractError() {
        let failure = HandlingFailure.classify(ContractError(.malformedJSON, "x"))
        #expect(failure.failureClass == .permanent)
        #expect(failure.reason == "malformed_json")
        #expect(failure.message == "malformed_json: x")
    }

    @Test("a contract error with a field keeps the field in the message")
    func contractErrorWithField() {
        let failure = HandlingFailure.classify(ContractError(.missingField, field: "items[0].sku", "absent"))
        #expect(failure.failureClass == .permanent)
        #expect(failure.reason == "missing_field")
        #expect(failure.message == "missing_field at items[0].sku: absent")
    }

    @Test(
        "a PostgreSQL error of class 22 is permanent invalid_data; any other is transient database_error",
        arguments: [
            ("22P02", FailureClass.permanent, "invalid_data"),
            ("22021", .permanent, "invalid_data"),
            ("23505", .transient, "database_error"),
            ("40001", .transient, "database_error"),
            ("57P01", .transient, "database_error"),
        ])
    func postgresError(sqlState: String, failureClass: FailureClass, reason: String) {
        let error = PostgresError(code: .serverError, sqlState: sqlState, message: "refused")
        let failure = HandlingFailure.classify(error)
        #expect(failure.failureClass == failureClass)
        #expect(failure.reason == reason)
        #expect(failure.message == "PostgreSQL serverError SQLSTATE \(sqlState): refused")
    }

    @Test("a PostgreSQL error without SQLSTATE is transient database_error")
    func postgresErrorWithoutState() {
        let failure = HandlingFailure.classify(PostgresError(code: .connectionLost, message: "gone"))
        #expect(failure.failureClass == .transient)
        #expect(failure.reason == "database_error")
    }

    @Test("any other error is transient unclassified_error, described in the message")
    func arbitraryError() {
        let failure = HandlingFailure.classify(SomethingElse())
        #expect(failure.failureClass == .transient)
        #expect(failure.reason == "unclassified_error")
        #expect(failure.message == "something else went wrong")
    }

    @Test("a HandlingFailure keeps its own class, reason and message")
    func handlingFailureKept() {
        let failure = HandlingFailure.classify(HandlingFailure.permanent("schema_violation", "no order_id"))
        #expect(failure.failureClass == .permanent)
        #expect(failure.reason == "schema_violation")
        #expect(failure.message == "no order_id")
    }
}
