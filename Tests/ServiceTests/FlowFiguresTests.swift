import CommerceTestKit
import Foundation
import Testing

/// The figures each cluster drill reports (docs/scaling.md), from known times.
@Suite("Flow figures")
struct FlowFiguresTests {
    private let start = Date(timeIntervalSince1970: 1_000)

    private func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    @Test("rates per window, the longest gap across the fault, and nearest-rank latencies")
    func figures() {
        // One order a second for 30 s, each ending 0.5 s later, except that none ends between
        // 10 s and 18 s: the ones sent then end at 18.5 s.
        let orders = (0..<30).map { second -> FlowFigures.Order in
            let sent = at(Double(second))
            let ended = (10..<18).contains(second) ? at(18.5) : at(Double(second) + 0.5)
            return FlowFigures.Order(sent: sent, ended: ended)
        }
        let figures = FlowFigures(orders: orders, start: start, faultStart: at(10), faultEnd: at(20), end: at(30))
        #expect(figures.orders == 30 && figures.ended == 30)
        #expect(figures.beforePerSecond == 1)
        #expect(figures.duringPerSecond == 1)  // 8 at 18.5 s, plus 18.5 s and 19.5 s
        #expect(figures.afterPerSecond == 1)
        #expect(abs(figures.longestGap - 9) < 1e-9)  // 9.5 s to 18.5 s
        #expect(abs(figures.max - 8.5) < 1e-9)  // sent at 10 s, ended at 18.5 s
        #expect(abs(figures.p99 - 8.5) < 1e-9)
        #expect(abs(figures.p50 - 0.5) < 1e-9)
        #expect(figures.faultSeconds == 10)
    }

    @Test("an order that never ends counts as not ended, and adds no latency")
    func unfinished() {
        let orders = [
            FlowFigures.Order(sent: at(1), ended: at(2)), FlowFigures.Order(sent: at(2), ended: nil),
        ]
        let figures = FlowFigures(orders: orders, start: start, faultStart: at(5), faultEnd: at(6), end: at(7))
        #expect(figures.orders == 2 && figures.ended == 1)
        #expect(figures.max == 1 && figures.p99 == 1)
        #expect(figures.duringPerSecond == 0)
    }
}
