import Testing

@testable import WorkerRuntime

@Suite("Consumer activity: liveness and batch deadline")
struct ConsumerActivityTests {
    let start = ContinuousClock.now

    @Test("a working phase past the live deadline is stuck; a paused consumer never is")
    func stuck() {
        for phase in [ConsumerActivity.Phase.waiting, .handling, .maintaining] {
            let activity = ConsumerActivity(phase, since: start)
            #expect(activity.stuck(deadline: .seconds(5), now: start + .seconds(4)) == nil)
            #expect(
                activity.stuck(deadline: .seconds(5), now: start + .seconds(6))?.hasPrefix("\(phase.rawValue) for 6 s")
                    == true)
        }
        #expect(
            ConsumerActivity(.paused, since: start).stuck(deadline: .seconds(5), now: start + .seconds(3600)) == nil)
    }

    @Test("only a batch in hand can overrun the batch deadline")
    func overrun() {
        #expect(
            ConsumerActivity(.handling, since: start).overrun(deadline: .seconds(1), now: start + .seconds(2)) != nil)
        #expect(
            ConsumerActivity(.handling, since: start).overrun(deadline: .seconds(1), now: start + .milliseconds(900))
                == nil)
        for phase in [ConsumerActivity.Phase.waiting, .maintaining, .paused] {
            #expect(
                ConsumerActivity(phase, since: start).overrun(deadline: .seconds(1), now: start + .seconds(60)) == nil)
        }
    }
}
