import Foundation
import Postgres

extension CardProcessorStore {
    /// What a listing found: the page, or that its `starting_after` names no charge.
    enum ListingOutcome: Sendable {
        case page(ChargeList)
        case unknownCursor
    }

    /// One page of charges matching `query`, each with its refunds, in the order (`created_at`,
    /// `id`); `has_more` from one row read beyond the page.
    ///
    /// Charges and refunds are read by one statement, so by one snapshot: a refund committed
    /// while the page is read is in both `amount_refunded` and `refunds`, or in neither.
    func charges(_ query: ChargeListQuery) async throws -> ListingOutcome {
        try await pool.withConnection { connection in
            var cursor: (created: Int64, id: String)?
            if let after = query.startingAfter {
                guard
                    let row = try connection.query(
                        "select extract(epoch from created_at)::bigint as created from gateway_charges where id = $1",
                        [.text(after)]
                    ).rows.first
                else { return .unknownCursor }
                cursor = (try row.int("created"), after)
            }
            let rows = try connection.query(
                """
                select c.id, c.status, c.decline_code, c.decline_message, c.amount, c.amount_refunded, c.currency,
                    c.order_reference, extract(epoch from c.created_at)::bigint as created,
                    coalesce((
                        select json_agg(json_build_object(
                            'id', r.id, 'amount', r.amount, 'created', extract(epoch from r.created_at)::bigint)
                            order by r.created_at, r.id)
                        from gateway_refunds r where r.charge_id = c.id), '[]')::text as refunds
                from gateway_charges c
                where ($1::bigint is null or c.created_at >= to_timestamp($1::bigint))
                    and ($2::bigint is null or c.created_at < to_timestamp($2::bigint))
                    and ($3::text is null or c.order_reference = $3)
                    and ($4::bigint is null or (c.created_at, c.id) > (to_timestamp($4::bigint), $5::text))
                order by c.created_at, c.id
                limit $6::int
                """,
                [
                    query.createdFrom.map { .int(Int64($0)) } ?? .null,
                    query.createdBefore.map { .int(Int64($0)) } ?? .null,
                    query.orderReference.map { .text($0) } ?? .null,
                    cursor.map { .int($0.created) } ?? .null, cursor.map { .text($0.id) } ?? .null,
                    .int(Int64(query.limit + 1)),
                ]
            ).rows
            var entries: [ChargeList.Entry] = []
            for row in rows.prefix(query.limit) {
                let id = try row.string("id")
                let charge = Charge(
                    id: id, status: Charge.Status(rawValue: try row.string("status")) ?? .declined,
                    declineCode: try row.text("decline_code"), declineMessage: try row.text("decline_message"),
                    amount: Int(try row.int("amount")), amountRefunded: Int(try row.int("amount_refunded")),
                    currency: try row.string("currency"), orderReference: try row.string("order_reference"),
                    created: Int(try row.int("created")))
                let refunds = try JSONDecoder().decode(
                    [StoredRefund].self, from: Data(try row.string("refunds").utf8)
                ).map { Refund(id: $0.id, charge: id, amount: $0.amount, created: $0.created) }
                entries.append(ChargeList.Entry(charge: charge, refunds: refunds))
            }
            return .page(ChargeList(data: entries, hasMore: rows.count > query.limit))
        }
    }

    /// A refund as the listing's `json_agg` spells it.
    private struct StoredRefund: Decodable {
        var id: String
        var amount: Int
        var created: Int
    }
}
