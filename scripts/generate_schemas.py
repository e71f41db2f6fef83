#!/usr/bin/env python3
"""Writes docs/schemas/<type>.json, the JSON Schemas (draft 2020-12) of the message contract.

The schemas mirror the Swift types in Core/CommerceMessages; the DomainTests schema test checks
that they agree (every Swift-encoded message validates, every example decodes in Swift).
Run after changing a message:  .venv/bin/python scripts/generate_schemas.py
Standard library only. Each file is self-contained (shared parts are copied into `$defs`) so an
upstream team can use one file without resolving references across files.
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "schemas"

REASONS = ["out_of_stock", "payment_declined", "customer_request", "timeout", "invalid_order"]
# The violation codes of `order.rejected` (docs/upstream.md, "Violation codes"): the validation
# chain's (ValidationFailure.Code) and the domain rules found while building or pricing the order.
VIOLATION_CODES = ["too_many_lines", "field_too_long", "empty_order", "missing_field", "invalid_quantity",
                   "quantity_too_large", "negative_price", "unsupported_currency", "currency_mismatch",
                   "invalid_email", "undeliverable_address", "unknown_coupon", "amount_overflow", "conflicting_item",
                   "invalid_payment_token", "amount_too_large", "wrong_type", "invalid_value", "negative_amount",
                   "invalid_currency", "correlation_mismatch"]
COUPON_NOT_APPLIED_REASONS = ["not_yet_valid", "expired", "below_minimum_subtotal"]
STATUSES = ["PENDING", "STOCK_RESERVED", "CONFIRMED", "CANCELLED", "REJECTED"]
ORDER_ID = "5b0f8a3e-3c1d-4a8e-9d6b-2f1e7c9a0b11"


def string(description, **extra):
    return {"type": "string", "description": description, **extra}


def optional_string(description):
    return {"type": ["string", "null"], "description": description + " Optional; null is the same as absent."}


def amount(description):
    return {"type": "integer", "minimum": 0, "description": description + " Integer minor units of `currency`; never negative."}


ORDER_ID_SCHEMA = string("The order id chosen by the upstream system: its idempotency key and the saga's correlation id.",
                         minLength=1, maxLength=128)
CURRENCY = string("ISO 4217 currency code of every amount in the message.", pattern="^[A-Z]{3}$")
REASON = {"type": "string", "enum": REASONS, "description": "Machine-readable reason. Consumers reject values they do not know."}

DEFS = {
    "customer": {
        "type": "object",
        "description": "The customer, copied into every order event so that no worker reads the orders database.",
        "required": ["id", "email"],
        "properties": {
            "id": string("Customer id."),
            "email": string("Where notifications go. Its shape is a business rule: an invalid address makes `order.rejected` (invalid_email)."),
            "membership": optional_string("Membership level such as `gold`; levels are configuration, unknown ones get no discount."),
        },
    },
    "order_line": {
        "type": "object",
        "required": ["sku", "name", "quantity", "unit_price"],
        "properties": {
            "sku": string("Product id."),
            "name": string("Product display name."),
            "quantity": {"type": "integer", "description": "Units."},
            "unit_price": amount("Price of one unit."),
        },
    },
    "event_line": {
        "type": "object",
        "required": ["sku", "name", "quantity", "unit_price"],
        "properties": {
            "sku": string("Product id.", minLength=1),
            "name": string("Product display name."),
            "quantity": {"type": "integer", "minimum": 1, "description": "Units, at least 1."},
            "unit_price": amount("Price of one unit."),
        },
    },
    "stock_line": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
            "sku": string("Product id.", minLength=1, maxLength=128),
            "quantity": {"type": "integer", "minimum": 1, "description": "Units, at least 1."},
        },
    },
    "shipping_address": {
        "type": "object",
        "description": "Completeness and deliverability (configured countries) are business rules: failures make `order.rejected`.",
        "required": ["street", "city", "postal_code", "country"],
        "properties": {
            "street": string("Street and number."),
            "city": string("City."),
            "postal_code": string("Postal code."),
            "country": string("ISO 3166-1 alpha-2 country code, e.g. KR."),
            "detail": optional_string("Extra line (floor, unit)."),
        },
    },
    "amounts": {
        "type": "object",
        "description": "How the final price was made: total = subtotal - coupon_discount - membership_discount + shipping_fee.",
        "required": ["subtotal", "coupon_discount", "membership_discount", "shipping_fee", "total"],
        "properties": {
            "subtotal": amount("Sum of line totals before discounts."),
            "coupon_discount": amount("Coupon discount."),
            "membership_discount": amount("Membership discount, computed after the coupon."),
            "shipping_fee": amount("Shipping fee (0 when free)."),
            "total": amount("Final price: what is charged."),
            "coupon_not_applied": {
                "type": "object",
                "description": "Present when the order named a known coupon that does not apply to it; the order was "
                "priced without it (coupon_discount is 0). An unknown coupon is not this: it rejects the order.",
                "required": ["code", "reason"],
                "properties": {
                    "code": string("The coupon's code, normalized to upper case.", minLength=1),
                    "reason": {"type": "string", "enum": COUPON_NOT_APPLIED_REASONS,
                               "description": "not_yet_valid or expired: priced outside the coupon's validity window; "
                               "below_minimum_subtotal: the subtotal is below the coupon's minimum."},
                },
            },
        },
    },
    "violation": {
        "type": "object",
        "required": ["code", "field", "message"],
        "properties": {
            "code": string("Failed rule. The codes in use: " + ", ".join(VIOLATION_CODES) + " (docs/upstream.md, "
                           "'Violation codes'). A command that breaks this contract's schema names the schema's rule "
                           "(missing_field, wrong_type, invalid_value, negative_amount, invalid_currency, or "
                           "correlation_mismatch when the correlation_id property is absent or not the order_id); one "
                           "that meets it names a business rule. A new code may be added without a new contract "
                           "version: treat an unknown one as a violation to fix.", minLength=1),
            "field": string("Path of the offending field, e.g. items[0].quantity, or correlation_id for the AMQP property; "
                            "empty for the whole order."),
            "message": string("Human explanation."),
        },
    },
    "shortage": {
        "type": "object",
        "required": ["sku", "requested", "available"],
        "properties": {
            "sku": string("Product id.", minLength=1, maxLength=128),
            "requested": {"type": "integer", "minimum": 1, "description": "Units asked for."},
            "available": {"type": "integer", "minimum": 0, "description": "Units available at the time."},
        },
    },
}


def ref(name):
    return {"$ref": f"#/$defs/{name}"}


def array_of(name, description):
    return {"type": "array", "items": ref(name), "description": description}


CUSTOMER = {"id": "c-1001", "email": "kim@example.com", "membership": "gold"}
ADDRESS = {"street": "Teheran-ro 123", "city": "Seoul", "postal_code": "06234", "country": "KR", "detail": "5F"}
AMOUNTS = {"subtotal": 90000, "coupon_discount": 18000, "membership_discount": 7200, "shipping_fee": 0, "total": 64800}
LINES = [{"sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000}]

MESSAGES = {
    "order.place": dict(
        title="PlaceOrder",
        description="Upstream command: place an order. Public API (README.md, 'The message contract'). `order_id` is the idempotency key: "
        "the same command sent twice makes one order. Every command whose `order_id` can be read (a string of 1 to 128 "
        "characters) gets exactly one terminal event: a body that does not match this schema, or whose correlation_id "
        "property is not its order_id, is answered with `order.rejected` listing the schema's violations; business-rule "
        "failures (empty order, non-positive or too large quantity, unsupported currency, undeliverable address, unknown "
        "coupon, oversized fields, a payment token or a total the card processor refuses) with `order.rejected` listing "
        "the rules. Only a command with no readable `order_id` (not JSON, not an object, no such key, not an id) is "
        "dead-lettered, unanswered. A command with a stored order's `order_id` and another body is dead-lettered too "
        "(order_id_conflict): it never answers for that order.",
        required=["order_id", "customer", "currency", "items", "shipping_address", "payment_token"],
        properties={
            "order_id": ORDER_ID_SCHEMA,
            "customer": ref("customer"),
            "currency": CURRENCY,
            "items": array_of("order_line", "Requested lines; a repeated SKU is merged into one line. The sum of quantity "
                              "x unit_price must be at most 1000000000000, the most the card processor charges (amount_too_large)."),
            "shipping_address": ref("shipping_address"),
            "payment_token": string("Token the payment gateway charges (sandbox: tok_approve, tok_decline, tok_insufficient_funds, "
                                    "tok_transient_N). 1 to 255 characters, no control character: the card processor's "
                                    "limits (otherwise order.rejected, invalid_payment_token).",
                                    minLength=1, maxLength=255, pattern="^[^\\u0000-\\u001f\\u007f-\\u009f]*$"),
            "coupon_code": optional_string("Coupon code, case-insensitive."),
        },
        defs=["customer", "order_line", "shipping_address"],
        examples=[
            {"order_id": ORDER_ID, "customer": CUSTOMER, "currency": "KRW", "items": LINES,
             "shipping_address": ADDRESS, "payment_token": "tok_approve", "coupon_code": "SUMMER20"},
            {"order_id": "a1", "customer": {"id": "c-2", "email": "lee@example.com"}, "currency": "KRW",
             "items": [{"sku": "MS-002", "name": "Mouse", "quantity": 1, "unit_price": 25000}],
             "shipping_address": {"street": "Gangnam-daero 1", "city": "Seoul", "postal_code": "06000", "country": "KR"},
             "payment_token": "tok_decline"},
        ],
    ),
    "order.cancel": dict(
        title="CancelOrder",
        description="Upstream command: cancel an order before or after confirmation. Compensations follow "
        "(refund if charged, stock restored if held); the outcome is `order.cancelled` with reason customer_request.",
        required=["order_id", "reason"],
        properties={"order_id": ORDER_ID_SCHEMA, "reason": string("Why, in words.", maxLength=1000)},
        defs=[],
        examples=[{"order_id": ORDER_ID, "reason": "changed my mind"}],
    ),
    "order.placed": dict(
        title="OrderPlaced",
        description="The order worker validated, priced and stored the order (PENDING). The stock worker reserves "
        "`lines` and forwards `amounts.total`, `currency` and `payment_token` in `stock.reserved`.",
        required=["order_id", "customer", "currency", "lines", "shipping_address", "payment_token", "amounts"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "customer": ref("customer"), "currency": CURRENCY,
            "lines": array_of("event_line", "The order's lines, one per SKU."),
            "shipping_address": ref("shipping_address"),
            "payment_token": string("Token to charge."),
            "coupon_code": optional_string("Applied coupon, normalized to upper case."),
            "amounts": ref("amounts"),
        },
        defs=["customer", "event_line", "shipping_address", "amounts"],
        examples=[{"order_id": ORDER_ID, "customer": CUSTOMER, "currency": "KRW", "lines": LINES,
                   "shipping_address": ADDRESS, "payment_token": "tok_approve", "coupon_code": "SUMMER20",
                   "amounts": AMOUNTS},
                  {"order_id": "a2", "customer": CUSTOMER, "currency": "KRW", "lines": LINES,
                   "shipping_address": ADDRESS, "payment_token": "tok_approve",
                   "amounts": {"subtotal": 90000, "coupon_discount": 0, "membership_discount": 9000,
                               "shipping_fee": 0, "total": 81000,
                               "coupon_not_applied": {"code": "BIG10000", "reason": "below_minimum_subtotal"}}}],
    ),
    "order.rejected": dict(
        title="OrderRejected",
        description="Terminal: the order.place command broke this contract's schema or business rules. Nothing was "
        "reserved or charged. `violations` lists every failed rule (for a schema violation, every top-level field and "
        "item that breaks the schema). `customer` and `currency` are absent only when the command's own broke the schema.",
        required=["order_id", "reason", "message", "violations"],
        properties={
            "order_id": ORDER_ID_SCHEMA,
            "customer": {**ref("customer"), "description": "The command's customer; absent when it broke the schema."},
            "currency": {**CURRENCY, "description": "The command's currency; absent when it broke the schema."},
            "reason": REASON,
            "message": string("Human summary of the violations."),
            "violations": array_of("violation", "Every failed rule, in check order."),
            "amounts": {"oneOf": [ref("amounts"), {"type": "null"}],
                        "description": "The price the order would have had, when computable. Nothing is charged."},
        },
        defs=["customer", "violation", "amounts"],
        examples=[{"order_id": ORDER_ID, "customer": CUSTOMER, "currency": "KRW", "reason": "invalid_order",
                   "message": "invalid_quantity at items[0].quantity: quantity must be > 0, got 0",
                   "violations": [{"code": "invalid_quantity", "field": "items[0].quantity",
                                   "message": "quantity must be > 0, got 0"}]},
                  {"order_id": "a2", "reason": "invalid_order",
                   "message": "wrong_type at customer: expected an object; invalid_currency at currency: 'XXX1' is not a "
                              "three-letter upper-case currency code",
                   "violations": [{"code": "wrong_type", "field": "customer", "message": "expected an object"},
                                  {"code": "invalid_currency", "field": "currency",
                                   "message": "'XXX1' is not a three-letter upper-case currency code"}]}],
    ),
    "order.confirmed": dict(
        title="OrderConfirmed",
        description="Terminal: stock reserved and payment captured. `amounts.total` equals the captured payment.",
        required=["order_id", "customer", "currency", "lines", "shipping_address", "amounts", "payment_id"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "customer": ref("customer"), "currency": CURRENCY,
            "lines": array_of("event_line", "The order's lines."), "shipping_address": ref("shipping_address"),
            "amounts": ref("amounts"),
            "payment_id": string("Id of the captured payment.", minLength=1, maxLength=128),
        },
        defs=["customer", "event_line", "shipping_address", "amounts"],
        examples=[{"order_id": ORDER_ID, "customer": CUSTOMER, "currency": "KRW", "lines": LINES,
                   "shipping_address": ADDRESS, "amounts": AMOUNTS, "payment_id": "pay-7f3a"}],
    ),
    "order.cancelled": dict(
        title="OrderCancelled",
        description="Terminal: the order is cancelled. The stock worker releases what it holds, the payment worker "
        "refunds a capture; after compensation the net charge is zero.",
        required=["order_id", "customer", "currency", "amounts", "reason", "message", "previous_status"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "customer": ref("customer"), "currency": CURRENCY,
            "amounts": ref("amounts"), "reason": REASON, "message": string("Human explanation."),
            "previous_status": {"type": "string", "enum": STATUSES,
                                "description": "The status the order left; CONFIRMED means a refund follows."},
        },
        defs=["customer", "amounts"],
        examples=[{"order_id": ORDER_ID, "customer": CUSTOMER, "currency": "KRW", "amounts": AMOUNTS,
                   "reason": "payment_declined", "message": "the card was declined", "previous_status": "STOCK_RESERVED"}],
    ),
    "stock.reserved": dict(
        title="StockReserved",
        description="Every line is reserved (all or nothing). Carries the charge for the payment worker.",
        required=["order_id", "customer_id", "lines", "currency", "amount", "payment_token"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "customer_id": string("Customer id."),
            "lines": array_of("stock_line", "What was reserved."), "currency": CURRENCY,
            "amount": amount("Amount to charge (the order's amounts.total)."), "payment_token": string("Token to charge."),
        },
        defs=["stock_line"],
        examples=[{"order_id": ORDER_ID, "customer_id": "c-1001", "lines": [{"sku": "KB-001", "quantity": 2}],
                   "currency": "KRW", "amount": 64800, "payment_token": "tok_approve"}],
    ),
    "stock.rejected": dict(
        title="StockRejected",
        description="Some line could not be reserved, so nothing was. The order is cancelled with out_of_stock.",
        required=["order_id", "reason", "message", "shortages"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "reason": REASON, "message": string("Human explanation."),
            "shortages": array_of("shortage", "The lines that were short."),
        },
        defs=["shortage"],
        examples=[{"order_id": ORDER_ID, "reason": "out_of_stock", "message": "KB-001: 2 requested, 1 available",
                   "shortages": [{"sku": "KB-001", "requested": 2, "available": 1}]}],
    ),
    "stock.released": dict(
        title="StockReleased",
        description="Reserved or sold units of the order went back to stock (compensation).",
        required=["order_id", "lines", "reason"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "lines": array_of("stock_line", "What was returned to stock."),
            "reason": REASON,
        },
        defs=["stock_line"],
        examples=[{"order_id": ORDER_ID, "lines": [{"sku": "KB-001", "quantity": 2}], "reason": "payment_declined"}],
    ),
    "payment.succeeded": dict(
        title="PaymentSucceeded",
        description="The charge was captured.",
        required=["order_id", "payment_id", "currency", "amount"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "payment_id": string("Id of the capture.", minLength=1, maxLength=128),
            "currency": CURRENCY, "amount": amount("Captured amount."),
        },
        defs=[],
        examples=[{"order_id": ORDER_ID, "payment_id": "pay-7f3a", "currency": "KRW", "amount": 64800}],
    ),
    "payment.failed": dict(
        title="PaymentFailed",
        description="The charge was declined; nothing captured. Stock is released and the order cancelled.",
        required=["order_id", "currency", "amount", "reason", "decline_code", "message"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "currency": CURRENCY, "amount": amount("Amount not charged."),
            "reason": REASON, "decline_code": string("The gateway's code, e.g. declined, insufficient_funds."),
            "message": string("Human explanation."),
        },
        defs=[],
        examples=[{"order_id": ORDER_ID, "currency": "KRW", "amount": 64800, "reason": "payment_declined",
                   "decline_code": "insufficient_funds", "message": "insufficient funds"}],
    ),
    "payment.refunded": dict(
        title="PaymentRefunded",
        description="A captured charge was refunded in full because the order was cancelled.",
        required=["order_id", "payment_id", "currency", "amount", "reason"],
        properties={
            "order_id": ORDER_ID_SCHEMA, "payment_id": string("The refunded capture.", minLength=1, maxLength=128),
            "currency": CURRENCY, "amount": amount("Refunded amount."), "reason": REASON,
        },
        defs=[],
        examples=[{"order_id": ORDER_ID, "payment_id": "pay-7f3a", "currency": "KRW", "amount": 64800,
                   "reason": "customer_request"}],
    ),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for message_type, spec in MESSAGES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://schemas.commerce.example/{message_type}.json",
            "title": spec["title"],
            "description": spec["description"] + " Routing key and AMQP `type`: `" + message_type + "`. "
            "Unknown extra keys are ignored by consumers (tolerant reader), so producers may add fields.",
            "type": "object",
            "required": spec["required"],
            "properties": spec["properties"],
            "examples": spec["examples"],
        }
        if spec["defs"]:
            schema["$defs"] = {name: DEFS[name] for name in spec["defs"]}
        (OUT / f"{message_type}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
