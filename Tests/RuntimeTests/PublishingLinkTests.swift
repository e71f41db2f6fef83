import Testing

@testable import WorkerRuntime

/// The publishing connection's rule for a command (``PublishingLink/Gate``), without a server.
@Suite("PublishingLink: what a publish command does")
struct PublishingLinkTests {
    @Test("publish when not blocked; wait under an alarm until the caller's deadline, then time out")
    func blockedConnection() {
        let now = ContinuousClock.now
        #expect(
            PublishingLink.Gate.decide(abandoned: false, blocked: false, now: now, deadline: now + .seconds(5))
                == .publish)
        #expect(
            PublishingLink.Gate.decide(abandoned: false, blocked: true, now: now, deadline: now + .seconds(5))
                == .waitForUnblock)
        #expect(
            PublishingLink.Gate.decide(
                abandoned: false, blocked: true, now: now + .seconds(5), deadline: now + .seconds(5)) == .timeOut)
        #expect(
            PublishingLink.Gate.decide(
                abandoned: false, blocked: false, now: now + .seconds(9), deadline: now + .seconds(5))
                == .publish, "an unblocked connection publishes; the confirms wait has its own deadline")
    }

    @Test("a command whose caller gave up is dropped unsent, blocked or not")
    func abandoned() {
        let now = ContinuousClock.now
        for blocked in [false, true] {
            #expect(
                PublishingLink.Gate.decide(abandoned: true, blocked: blocked, now: now, deadline: now + .seconds(5))
                    == .drop)
        }
    }

    @Test("a timed reply returns the answer put before its deadline, and is abandoned after it")
    func timedReply() {
        let answered = TimedReply<Int>()
        answered.put(7)
        #expect(answered.wait(until: .now + .seconds(1)) == 7)
        #expect(!answered.isAbandoned)
        let silent = TimedReply<Int>()
        #expect(silent.wait(until: .now + .milliseconds(50)) == nil)
        #expect(silent.isAbandoned)
    }
}
