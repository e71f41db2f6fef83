import Foundation
import Postgres

/// The servers under the fleet as `commerce status` shows them: the RabbitMQ nodes (running,
/// the partitions each reports, memory and disk alarms), each worker queue's leader and members,
/// and the PostgreSQL standbys of each store's server with their replay lag.
///
/// Nothing here fails the command: a management API that does not answer, or a role that may not
/// see `pg_stat_replication`, becomes a line in the report, because the status is most wanted
/// exactly when part of the cluster is gone.
public struct ClusterStatus: Codable, Sendable, Equatable {
    /// One RabbitMQ node, from `/api/nodes`.
    public struct Node: Codable, Sendable, Equatable {
        public var name: String
        public var running: Bool
        /// The nodes this one reports it is partitioned from.
        public var partitions: [String]
        public var memoryAlarm: Bool
        public var diskAlarm: Bool

        public init(name: String, running: Bool, partitions: [String], memoryAlarm: Bool, diskAlarm: Bool) {
            self.name = name
            self.running = running
            self.partitions = partitions
            self.memoryAlarm = memoryAlarm
            self.diskAlarm = diskAlarm
        }
    }

    /// One queue's replicas, from `/api/queues/<vhost>`: a quorum queue has a leader and members;
    /// a classic queue has only the node it lives on (`leader`) and no members.
    public struct QueueReplicas: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var leader: String?
        public var members: [String]
        /// The members that are up.
        public var online: [String]

        public init(name: String, type: String, leader: String?, members: [String], online: [String]) {
            self.name = name
            self.type = type
            self.leader = leader
            self.members = members
            self.online = online
        }

        // Every key always present (null when unknown), so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(type, forKey: .type)
            try container.encode(leader, forKey: .leader)
            try container.encode(members, forKey: .members)
            try container.encode(online, forKey: .online)
        }

        private enum CodingKeys: String, CodingKey { case name, type, leader, members, online }
    }

    /// The cluster as one node's management API answered.
    public struct Broker: Codable, Sendable, Equatable {
        /// The management API that answered (`http://host:port`), `nil` when none did.
        public var source: String?
        public var nodes: [Node]
        public var queues: [QueueReplicas]
        /// Why the nodes are not shown (no management API answered, or it refused the user).
        public var error: String?

        public init(source: String?, nodes: [Node], queues: [QueueReplicas], error: String?) {
            self.source = source
            self.nodes = nodes
            self.queues = queues
            self.error = error
        }

        // Every key always present (null when unknown), so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(source, forKey: .source)
            try container.encode(nodes, forKey: .nodes)
            try container.encode(queues, forKey: .queues)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey { case source, nodes, queues, error }
    }

    /// A standby streaming from a primary, from the primary's `pg_stat_replication`.
    public struct Standby: Codable, Sendable, Equatable {
        /// Its `application_name` (the cluster's `primary_conninfo` names it).
        public var name: String
        public var clientAddress: String?
        /// `streaming`, `catchup`, `startup`, `backup` or `stopping`.
        public var state: String?
        /// `sync`, `async`, `potential` or `quorum`.
        public var syncState: String?
        /// The time between a commit on the primary and its replay on the standby, as last measured.
        public var replayLagSeconds: Double?
        /// WAL written on the primary and not yet replayed on the standby.
        public var replayLagBytes: Int64?

        public init(
            name: String, clientAddress: String?, state: String?, syncState: String?, replayLagSeconds: Double?,
            replayLagBytes: Int64?
        ) {
            self.name = name
            self.clientAddress = clientAddress
            self.state = state
            self.syncState = syncState
            self.replayLagSeconds = replayLagSeconds
            self.replayLagBytes = replayLagBytes
        }

        // Every key always present (null when unknown), so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(clientAddress, forKey: .clientAddress)
            try container.encode(state, forKey: .state)
            try container.encode(syncState, forKey: .syncState)
            try container.encode(replayLagSeconds, forKey: .replayLagSeconds)
            try container.encode(replayLagBytes, forKey: .replayLagBytes)
        }

        private enum CodingKeys: String, CodingKey {
            case name, clientAddress, state, syncState, replayLagSeconds, replayLagBytes
        }
    }

    /// What one store's server says about replication.
    public struct Replication: Codable, Sendable, Equatable {
        /// `orders`, `inventory` or `payments`.
        public var store: String
        /// The server the store's URL reached (`address:port`), `nil` over a socket or on failure.
        public var server: String?
        /// `primary` or `standby`; `nil` when the server could not be reached.
        public var role: String?
        /// The standbys of a primary; `nil` when not visible or not reached.
        public var standbys: [Standby]?
        /// Why the standbys are not shown.
        public var error: String?

        public init(store: String, server: String?, role: String?, standbys: [Standby]?, error: String?) {
            self.store = store
            self.server = server
            self.role = role
            self.standbys = standbys
            self.error = error
        }

        // Every key always present (null when unknown), so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(store, forKey: .store)
            try container.encode(server, forKey: .server)
            try container.encode(role, forKey: .role)
            try container.encode(standbys, forKey: .standbys)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey { case store, server, role, standbys, error }
    }

    public var broker: Broker
    public var replication: [Replication]

    public init(broker: Broker, replication: [Replication]) {
        self.broker = broker
        self.replication = replication
    }
}

// MARK: - RabbitMQ management API

extension ClusterStatus {
    /// The management API's port (RabbitMQ's default, and `scripts/cluster.sh`'s).
    public static let managementPort = 15672

    /// Parses `/api/nodes`. Fields RabbitMQ leaves out (a node that is down reports little)
    /// read as not running, no partitions and no alarms.
    /// - Throws: ``OperationFailure`` when the body is not a JSON array of nodes.
    public static func parseNodes(_ body: String) throws -> [Node] {
        struct Answer: Decodable {
            var name: String
            var running: Bool?
            var partitions: [String]?
            var mem_alarm: Bool?
            var disk_free_alarm: Bool?
        }
        let answers: [Answer]
        do {
            answers = try JSONDecoder().decode([Answer].self, from: Data(body.utf8))
        } catch {
            throw OperationFailure("/api/nodes did not answer with a list of nodes: \(Self.reason(error))")
        }
        return answers.map {
            Node(
                name: $0.name, running: $0.running ?? false, partitions: $0.partitions ?? [],
                memoryAlarm: $0.mem_alarm ?? false, diskAlarm: $0.disk_free_alarm ?? false)
        }.sorted { $0.name < $1.name }
    }

    /// Parses `/api/queues/<vhost>`, keeping the queues named in `names` (all when empty), in
    /// the order of `names`.
    /// - Throws: ``OperationFailure`` when the body is not a JSON array of queues.
    public static func parseQueues(_ body: String, keeping names: [String] = []) throws -> [QueueReplicas] {
        struct Answer: Decodable {
            var name: String
            var type: String?
            var leader: String?
            var node: String?
            var members: [String]?
            var online: [String]?
        }
        let answers: [Answer]
        do {
            answers = try JSONDecoder().decode([Answer].self, from: Data(body.utf8))
        } catch {
            throw OperationFailure("/api/queues did not answer with a list of queues: \(Self.reason(error))")
        }
        let queues = answers.map {
            QueueReplicas(
                name: $0.name, type: $0.type ?? "classic", leader: $0.leader ?? $0.node,
                members: ($0.members ?? []).sorted(), online: ($0.online ?? []).sorted())
        }
        if names.isEmpty { return queues.sorted { $0.name < $1.name } }
        return names.compactMap { name in queues.first { $0.name == name } }
    }

    /// Reads the nodes and `queues` (of `virtualHost`) from the first of `endpoints` whose
    /// management API answers, as `username`. Never throws: when none answers, the broker part
    /// says why.
    public static func readBroker(
        endpoints: [WorkerEndpoint], username: String, password: String, virtualHost: String, queues: [String],
        timeout: Duration = .seconds(5)
    ) -> Broker {
        guard !endpoints.isEmpty else {
            return Broker(source: nil, nodes: [], queues: [], error: "no management API to ask")
        }
        let authorization = "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        let vhost =
            virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))
            ?? virtualHost
        var failures: [String] = []
        for endpoint in endpoints {
            func read(_ path: String) -> Result<String, OperationFailure> {
                switch endpoint.get(path, timeout: timeout, authorization: authorization) {
                case .success(let answer) where answer.status == 200: return .success(answer.body)
                case .success(let answer) where answer.status == 401:
                    return .failure(OperationFailure("user '\(username)' refused (it needs the monitoring tag)"))
                case .success(let answer): return .failure(OperationFailure("\(path) answered \(answer.status)"))
                case .failure(let failure): return .failure(OperationFailure(failure.description))
                }
            }
            do {
                let nodes = try parseNodes(read("/api/nodes").get())
                let replicas = try parseQueues(
                    read("/api/queues/\(vhost)?columns=name,type,leader,node,members,online").get(), keeping: queues)
                return Broker(source: endpoint.url, nodes: nodes, queues: replicas, error: nil)
            } catch {
                failures.append("\(endpoint.url): \(Self.reason(error))")
            }
        }
        return Broker(
            source: nil, nodes: [], queues: [],
            error: "no management API answered (\(failures.joined(separator: "; ")))")
    }

    private static func reason(_ error: any Error) -> String {
        if let failure = error as? OperationFailure { return failure.description }
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
                .keyNotFound(_, let context):
                return context.debugDescription
            @unknown default: return "\(decoding)"
            }
        }
        return "\(error)"
    }
}

// MARK: - PostgreSQL replication

extension ClusterStatus {
    /// Asks the server of each store's URL (`store` → URL) whether it is a primary and, if so,
    /// for its standbys. A role that may not read `pg_stat_replication`'s columns (it needs
    /// `pg_read_all_stats`, which `pg_monitor` includes, or superuser) gets "not visible to
    /// <role>"; a server that does not answer gets its error, redacted.
    public static func readReplication(stores: [(store: String, url: String)]) -> [Replication] {
        stores.map { store, url in
            do {
                let connection = try PostgresConnection(url: url, applicationName: "commerce status")
                defer { connection.close() }
                let server = try connection.query(
                    """
                    select inet_server_addr()::text as address, inet_server_port() as port,
                      pg_is_in_recovery() as standby, current_user as role,
                      (pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
                        or (select rolsuper from pg_roles where rolname = current_user)) as visible
                    """
                ).rows[0]
                let address = try server.text("address").map { text in
                    "\(text.split(separator: "/").first.map(String.init) ?? text):\(try server.text("port") ?? "")"
                }
                if try server.bool("standby") {
                    return Replication(store: store, server: address, role: "standby", standbys: nil, error: nil)
                }
                guard try server.bool("visible") else {
                    return Replication(
                        store: store, server: address, role: "primary", standbys: nil,
                        error: "replication: not visible to \(try server.string("role"))")
                }
                let rows = try connection.query(
                    """
                    select application_name, host(client_addr) as client, state, sync_state,
                      extract(epoch from replay_lag)::float8 as lag_seconds,
                      pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::int8 as lag_bytes
                    from pg_stat_replication order by application_name, client_addr
                    """
                ).rows
                let standbys = try rows.map { row in
                    Standby(
                        name: try row.string("application_name"), clientAddress: try row.text("client"),
                        state: try row.text("state"), syncState: try row.text("sync_state"),
                        replayLagSeconds: try row.text("lag_seconds").flatMap { Double($0) },
                        replayLagBytes: try row.optionalInt("lag_bytes"))
                }
                return Replication(store: store, server: address, role: "primary", standbys: standbys, error: nil)
            } catch {
                return Replication(
                    store: store, server: nil, role: nil, standbys: nil,
                    error: OperationFailure.redacted(String(describing: error)))
            }
        }
    }
}

// MARK: - Text

extension ClusterStatus {
    /// The report as `commerce status` prints it, one line each.
    public var textLines: [String] {
        var lines: [String] = []
        if let error = broker.error {
            lines.append("RabbitMQ nodes: \(error)")
        } else {
            lines.append("RabbitMQ nodes (from \(broker.source ?? "?")):")
            for node in broker.nodes {
                var line = "  \(node.name)  \(node.running ? "running" : "not running")"
                if !node.partitions.isEmpty { line += "  partitioned from \(node.partitions.joined(separator: ", "))" }
                var alarms: [String] = []
                if node.memoryAlarm { alarms.append("memory") }
                if node.diskAlarm { alarms.append("disk") }
                if !alarms.isEmpty { line += "  ALARM \(alarms.joined(separator: ", "))" }
                lines.append(line)
            }
            if !broker.queues.isEmpty {
                lines.append("Queue replicas:")
                for queue in broker.queues {
                    var line = "  \(queue.name)  \(queue.type)  leader \(queue.leader ?? "none")"
                    if !queue.members.isEmpty {
                        line += "  members \(queue.members.joined(separator: ", "))"
                        let offline = queue.members.filter { !queue.online.contains($0) }
                        if !offline.isEmpty { line += "  offline \(offline.joined(separator: ", "))" }
                    }
                    lines.append(line)
                }
            }
        }
        // Stores on the same server usually say the same: one line for all of them.
        var groups: [(stores: [String], entry: Replication)] = []
        for entry in replication {
            var shared = entry
            shared.store = ""
            if let index = groups.firstIndex(where: { $0.entry == shared }) {
                groups[index].stores.append(entry.store)
            } else {
                groups.append(([entry.store], shared))
            }
        }
        for (stores, entry) in groups {
            let server = entry.server.map { " (\($0))" } ?? ""
            let names = stores.joined(separator: ", ")
            if let error = entry.error {
                lines.append("PostgreSQL \(names)\(server): \(error)")
            } else if entry.role == "standby" {
                lines.append("PostgreSQL \(names)\(server): a standby")
            } else if let standbys = entry.standbys, !standbys.isEmpty {
                lines.append("PostgreSQL \(names)\(server): primary, \(standbys.count) standby(s)")
                for standby in standbys {
                    let lag =
                        standby.replayLagSeconds.map { String(format: "%.3f s", $0) } ?? "–"
                    let bytes = standby.replayLagBytes.map { "\($0) B" } ?? "–"
                    lines.append(
                        "  \(standby.name) \(standby.clientAddress ?? "")  \(standby.state ?? "?") "
                            + "\(standby.syncState ?? "?")  replay lag \(lag), \(bytes)")
                }
            } else {
                lines.append("PostgreSQL \(names)\(server): primary, no standby")
            }
        }
        return lines
    }
}
