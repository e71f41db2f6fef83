import Hummingbird

extension CardProcessorAPI {
    /// `GET /v1/charges`: with `idempotency_key=K` the charge created under `K`
    /// (``chargeByKey(_:context:)``); otherwise a page of the listing (``ChargeListQuery``), as a
    /// processor's charge-listing endpoint is read for reconciliation. 400 `invalid_request` for a
    /// bad parameter or a `starting_after` that names no charge.
    func charges(_ request: Request, context: some RequestContext) async throws -> Response {
        switch try ChargeListQuery.parse(request.uri.query) {
        case .byIdempotencyKey:
            return try await chargeByKey(request, context: context)
        case .list(let query):
            switch try await store.charges(query) {
            case .page(let page):
                return APIError.json(page, status: .ok)
            case .unknownCursor:
                throw APIError.invalidRequest("starting_after: no charge '\(query.startingAfter ?? "")'")
            }
        }
    }
}
