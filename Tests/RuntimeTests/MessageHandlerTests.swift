import CommerceMessages
import Testing

@testable import WorkerRuntime

/// What the runtime reads from a handler's declaration alone.
@Suite("MessageHandler: declarations")
struct MessageHandlerTests {
    /// No `Prepared` type: the default, `Void`.
    struct WithoutPreparation: MessageHandler {
        typealias Message = AnyMessage
        func handle(_ message: AnyMessage, prepared: Void, context: HandlerContext) throws -> [OutgoingMessage] { [] }
    }

    /// A phase outside the transaction that hands an `Int` to `handle`.
    struct WithPreparation: MessageHandler {
        typealias Message = AnyMessage
        func prepare(_ message: AnyMessage, envelope: Envelope, attempts: Int) async throws -> Int { 1 }
        func handle(_ message: AnyMessage, prepared: Int, context: HandlerContext) throws -> [OutgoingMessage] { [] }
    }

    @Test("a handler has a phase outside the transaction exactly when it declares a Prepared type")
    func preparesOutsideTransaction() {
        #expect(!WithoutPreparation.preparesOutsideTransaction)
        #expect(WithPreparation.preparesOutsideTransaction)
    }
}
