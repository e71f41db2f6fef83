import CLibPQ

extension PostgresConnection {
    /// Runs `statements` in one round trip with libpq's pipeline mode (`PQenterPipelineMode`,
    /// `PQsendQueryPrepared` for each, one `PQpipelineSync`) and returns their results in order.
    ///
    /// The server runs them one after another as if sent separately (inside an open transaction,
    /// they are part of it; outside one, the pipeline up to its sync point is one implicit
    /// transaction). When one fails, the server skips the rest up to the sync point, and the
    /// first failure is thrown. Statements are prepared on first use, in the same pipeline.
    /// - Throws: ``PostgresError`` of the first statement that failed, with its
    ///   ``PostgresError/pipelineIndex``.
    @discardableResult
    public func pipeline(_ statements: [PostgresStatement]) throws(PostgresError) -> [PostgresResult] {
        guard !statements.isEmpty else { return [] }
        guard let connection else {
            throw PostgresError(code: .invalidState, message: "the connection is closed", statement: statements[0].sql)
        }
        for (index, statement) in statements.enumerated() {
            do {
                try Self.checkParameters(statement.parameters, statement: statement.sql)
            } catch {
                var refused = error
                refused.pipelineIndex = index
                throw refused
            }
        }
        guard PQenterPipelineMode(connection) == 1 else {
            throw PostgresError.wrapping(result: nil, connection: connection, statement: "enter pipeline mode")
        }
        // Through `self`: a round trip past its deadline has already dropped (and freed) the handle.
        defer { if let connection = self.connection { PQexitPipelineMode(connection) } }
        roundTrips += 1

        // What each result read back belongs to: a preparation (of this statement text) or a statement.
        enum Expected {
            case preparation(sql: String)
            case statement(index: Int)
        }
        var expected: [Expected] = []
        var newlyPrepared: [String: String] = [:]
        var sendFailure: PostgresError?
        for (index, statement) in statements.enumerated() {
            var name = prepared[statement.sql] ?? newlyPrepared[statement.sql]
            if name == nil, prepared.count + newlyPrepared.count < Self.maximumPreparedStatements {
                let newName = "s\(prepared.count + newlyPrepared.count + 1)"
                guard PQsendPrepare(connection, newName, statement.sql, Int32(statement.parameters.count), nil) == 1
                else {
                    sendFailure = PostgresError.wrapping(result: nil, connection: connection, statement: statement.sql)
                    break
                }
                newlyPrepared[statement.sql] = newName
                expected.append(.preparation(sql: statement.sql))
                name = newName
            }
            let sent = ParameterBuffers(statement.parameters).withPointers { count, values, lengths, formats in
                if let name {
                    PQsendQueryPrepared(connection, name, count, values, lengths, formats, 0)
                } else {
                    PQsendQueryParams(connection, statement.sql, count, nil, values, lengths, formats, 0)
                }
            }
            guard sent == 1 else {
                sendFailure = PostgresError.wrapping(result: nil, connection: connection, statement: statement.sql)
                break
            }
            expected.append(.statement(index: index))
        }
        // Always end with a sync point, so that what was sent is answered and the connection
        // leaves pipeline mode clean, even after a failure to send.
        guard PQpipelineSync(connection) == 1 else {
            throw sendFailure
                ?? PostgresError.wrapping(result: nil, connection: connection, statement: "pipeline sync")
        }

        var results = [PostgresResult?](repeating: nil, count: statements.count)
        var firstFailure = sendFailure
        let deadline = roundTripDeadline()
        let label = "pipeline of \(statements.count) statement(s)"
        for item in expected {
            let result = try nextResult(connection, deadline: deadline, statement: label)
            defer { PQclear(result) }
            // Each statement's results end with a NULL.
            if result != nil { PQclear(try nextResult(connection, deadline: deadline, statement: label)) }
            let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
            let ok = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
            switch item {
            case .preparation(let sql):
                if !ok { newlyPrepared.removeValue(forKey: sql) }
            case .statement(let index):
                if ok {
                    results[index] = Self.copy(result!)
                }
            }
            if !ok, firstFailure == nil, status != PGRES_PIPELINE_ABORTED {
                let statement =
                    switch item {
                    case .preparation(let sql): sql
                    case .statement(let index): statements[index].sql
                    }
                firstFailure = PostgresError.wrapping(result: result, connection: connection, statement: statement)
                if case .statement(let index) = item {
                    firstFailure?.pipelineIndex = index
                } else if let index = statements.firstIndex(where: { $0.sql == statement }) {
                    firstFailure?.pipelineIndex = index
                }
            }
        }
        // The sync point's own result, then the connection is idle again.
        while let result = try nextResult(connection, deadline: deadline, statement: label) {
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        prepared.merge(newlyPrepared) { old, _ in old }
        if let firstFailure { throw firstFailure }
        return results.map { $0! }
    }
}
