import Testing

@testable import WorkerRuntime

@Suite("AckPlan")
struct AckPlanTests {
    @Test("acking every outstanding delivery is one multiple ack up to the highest tag")
    func allAcked() {
        let plan = AckPlan(outstanding: [1, 2, 3, 4, 5], acks: [1, 2, 3, 4, 5])
        #expect(plan.multipleUpTo == 5)
        #expect(plan.single == [])
    }

    @Test("a gap ends the multiple ack; tags above it are acked one by one")
    func gap() {
        let plan = AckPlan(outstanding: [1, 2, 3, 4, 5], acks: [1, 2, 4])
        #expect(plan.multipleUpTo == 2)
        #expect(plan.single == [4])
    }

    @Test("when the lowest outstanding tag is not acked there is no multiple ack")
    func lowestNotAcked() {
        let plan = AckPlan(outstanding: [1, 2, 3], acks: [3])
        #expect(plan.multipleUpTo == nil)
        #expect(plan.single == [3])
    }

    @Test("a prefix of one delivery is acked singly, not as a multiple ack")
    func prefixOfOne() {
        let plan = AckPlan(outstanding: [1, 2, 3, 4], acks: [1, 3])
        #expect(plan.multipleUpTo == nil)
        #expect(plan.single == [1, 3])
    }

    @Test("a single outstanding delivery is acked singly")
    func singleOutstanding() {
        let plan = AckPlan(outstanding: [42], acks: [42])
        #expect(plan.multipleUpTo == nil)
        #expect(plan.single == [42])
    }

    @Test("no acks, nothing to send")
    func nothing() {
        let plan = AckPlan(outstanding: [1, 2, 3], acks: [])
        #expect(plan.multipleUpTo == nil)
        #expect(plan.single == [])
    }

    @Test("unsorted input is planned in tag order, singles ascending")
    func unsorted() {
        let plan = AckPlan(outstanding: [9, 7, 8, 12, 10], acks: [12, 8, 7, 10])
        #expect(plan.multipleUpTo == 8)
        #expect(plan.single == [10, 12])
    }
}
