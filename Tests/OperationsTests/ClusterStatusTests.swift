import FleetOperations
import Foundation
import Testing

/// The cluster part of `commerce status` without a cluster: the management API's answers
/// (samples shaped as RabbitMQ 3.10 gives them, trimmed to the fields read) parsed, and the
/// report rendered. The cluster drill (`scripts/cluster_check.sh`) checks it against real nodes.
@Suite("commerce status: cluster")
struct ClusterStatusTests {
    static let nodes = """
        [
          {"name":"rabbit@cm-rabbit2","running":true,"partitions":[],"mem_alarm":false,"disk_free_alarm":true,
           "type":"disc","uptime":1200},
          {"name":"rabbit@cm-rabbit1","running":true,"partitions":["rabbit@cm-rabbit3"],"mem_alarm":true,
           "disk_free_alarm":false},
          {"name":"rabbit@cm-rabbit3","running":false,"type":"disc"}
        ]
        """

    static let queues = """
        [
          {"name":"orders.commands","type":"quorum","leader":"rabbit@cm-rabbit1","node":"rabbit@cm-rabbit1",
           "members":["rabbit@cm-rabbit3","rabbit@cm-rabbit1","rabbit@cm-rabbit2"],
           "online":["rabbit@cm-rabbit1","rabbit@cm-rabbit2"]},
          {"name":"orders.commands.dlq","type":"quorum","leader":"rabbit@cm-rabbit2",
           "members":["rabbit@cm-rabbit1","rabbit@cm-rabbit2","rabbit@cm-rabbit3"]},
          {"name":"side","type":"classic","node":"rabbit@cm-rabbit2"}
        ]
        """

    @Test("/api/nodes: running, partitions and alarms per node, missing fields as not running and no alarm")
    func parsesNodes() throws {
        let nodes = try ClusterStatus.parseNodes(Self.nodes)
        #expect(
            nodes == [
                .init(
                    name: "rabbit@cm-rabbit1", running: true, partitions: ["rabbit@cm-rabbit3"], memoryAlarm: true,
                    diskAlarm: false),
                .init(name: "rabbit@cm-rabbit2", running: true, partitions: [], memoryAlarm: false, diskAlarm: true),
                .init(name: "rabbit@cm-rabbit3", running: false, partitions: [], memoryAlarm: false, diskAlarm: false),
            ])
    }

    @Test("/api/queues: leader and members of the queues asked for, in their order; a classic queue's node as leader")
    func parsesQueues() throws {
        let queues = try ClusterStatus.parseQueues(Self.queues, keeping: ["side", "orders.commands", "absent"])
        #expect(queues.map(\.name) == ["side", "orders.commands"])
        #expect(queues[0].leader == "rabbit@cm-rabbit2" && queues[0].members.isEmpty && queues[0].type == "classic")
        #expect(queues[1].type == "quorum" && queues[1].leader == "rabbit@cm-rabbit1")
        #expect(queues[1].members == ["rabbit@cm-rabbit1", "rabbit@cm-rabbit2", "rabbit@cm-rabbit3"])
        #expect(queues[1].online == ["rabbit@cm-rabbit1", "rabbit@cm-rabbit2"])
        #expect(try ClusterStatus.parseQueues(Self.queues).count == 3)
    }

    @Test("an answer that is not a list says which endpoint and why, not a crash")
    func refusesOtherAnswers() {
        #expect(throws: OperationFailure.self) { try ClusterStatus.parseNodes(#"{"error":"not_authorised"}"#) }
        #expect(throws: OperationFailure.self) { try ClusterStatus.parseQueues("<html>") }
        #expect(throws: OperationFailure.self) { try ClusterStatus.parseNodes(#"[{"running":true}]"#) }
    }

    @Test("no management API answering is one line, and the PostgreSQL part is still there")
    func unreachableBroker() {
        // Port 1 on loopback: nothing listens there.
        let broker = ClusterStatus.readBroker(
            endpoints: [WorkerEndpoint(host: "127.0.0.1", port: 1)], username: "u", password: "secret-pw",
            virtualHost: "/", queues: [], timeout: .seconds(1))
        #expect(broker.nodes.isEmpty && broker.source == nil)
        let report = ClusterStatus(
            broker: broker,
            replication: [
                .init(store: "orders", server: "10.0.0.1:5432", role: "primary", standbys: [], error: nil)
            ])
        let lines = report.textLines
        #expect(lines.count == 2, "\(lines)")
        #expect(lines[0].hasPrefix("RabbitMQ nodes: no management API answered (http://127.0.0.1:1: "), "\(lines)")
        #expect(!lines.joined().contains("secret-pw"))
        #expect(lines[1] == "PostgreSQL orders (10.0.0.1:5432): primary, no standby")
    }

    @Test("renders nodes with their state, partitions and alarms, replicas with offline members, and standbys")
    func rendersText() throws {
        let standby = ClusterStatus.Standby(
            name: "cm_pg_standby", clientAddress: "10.77.0.22", state: "streaming", syncState: "sync",
            replayLagSeconds: 0.25, replayLagBytes: 0)
        let report = ClusterStatus(
            broker: .init(
                source: "http://10.77.0.11:15672", nodes: try ClusterStatus.parseNodes(Self.nodes),
                queues: try ClusterStatus.parseQueues(Self.queues, keeping: ["orders.commands"]), error: nil),
            replication: [
                .init(store: "orders", server: "10.77.0.21:5432", role: "primary", standbys: [standby], error: nil),
                .init(store: "inventory", server: "10.77.0.21:5432", role: "primary", standbys: [standby], error: nil),
                .init(
                    store: "payments", server: "127.0.0.1:5432", role: "primary", standbys: nil,
                    error: "replication: not visible to commerce_reader"),
            ])
        #expect(
            report.textLines == [
                "RabbitMQ nodes (from http://10.77.0.11:15672):",
                "  rabbit@cm-rabbit1  running  partitioned from rabbit@cm-rabbit3  ALARM memory",
                "  rabbit@cm-rabbit2  running  ALARM disk",
                "  rabbit@cm-rabbit3  not running",
                "Queue replicas:",
                "  orders.commands  quorum  leader rabbit@cm-rabbit1  members rabbit@cm-rabbit1, rabbit@cm-rabbit2, "
                    + "rabbit@cm-rabbit3  offline rabbit@cm-rabbit3",
                "PostgreSQL orders, inventory (10.77.0.21:5432): primary, 1 standby(s)",
                "  cm_pg_standby 10.77.0.22  streaming sync  replay lag 0.250 s, 0 B",
                "PostgreSQL payments (127.0.0.1:5432): replication: not visible to commerce_reader",
            ])
    }

    @Test("a chunked HTTP body is joined, a malformed one refused")
    func chunkedBodies() {
        #expect(WorkerEndpoint.unchunked("4\r\n[{\"a\r\n3;x=1\r\n\":1\r\n2\r\n}]\r\n0\r\n\r\n") == #"[{"a":1}]"#)
        #expect(WorkerEndpoint.unchunked("zz\r\nabc") == nil)
        #expect(WorkerEndpoint.unchunked("9\r\nabc\r\n") == nil)
    }
}
