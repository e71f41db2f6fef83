#!/usr/bin/env python3
"""An upstream system placing one order and learning its outcome, with a stock AMQP client.

This is what any team outside the fleet does, in any language (docs/upstream.md):

1. declare a durable queue of its own, bound to the three terminal events
   (`order.confirmed`, `order.cancelled`, `order.rejected`) on the `commerce` exchange;
2. publish one `order.place` command with every property the contract requires
   (README.md, "The message contract"; docs/asyncapi.yaml; docs/schemas/order.place.json),
   with publisher confirms and `mandatory`, so that a lost or unroutable command is an error
   here and not a silent drop;
3. consume its queue with manual acks until the terminal event of its own order arrives.
   Events of other orders (other processes, earlier runs) are acked and ignored.

It prints one line, `ORDER <order_id> <STATUS> <reason or ->`, and exits 0; or exits 1 with a
message on stderr when the broker refuses the command or no outcome arrives in time.

Usage:
    .venv/bin/python docs/examples/upstream.py [QUEUE]       (needs: pip install pika)

Environment:
    AMQP_URL   broker URL        (default amqp://upstream:commerce@127.0.0.1:5672/%2F: the upstream
               user of the local setup, allowed to publish only order.place and order.cancel)
    EXCHANGE   the exchange      (default commerce)
    QUEUE      the outcome queue (default upstream.storefront.outcomes; the argument wins; the
               upstream user may create only queues named upstream.…)
    TIMEOUT_S  seconds to wait for the outcome (default 30)
"""

import json
import os
import sys
import time
import uuid

import pika
import pika.exceptions

AMQP_URL = os.environ.get("AMQP_URL", "amqp://upstream:commerce@127.0.0.1:5672/%2F")
EXCHANGE = os.environ.get("EXCHANGE", "commerce")
QUEUE = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("QUEUE", "upstream.storefront.outcomes")
TIMEOUT_S = float(os.environ.get("TIMEOUT_S", "30"))
APP_ID = "storefront-example"

# The terminal events: exactly one of them ends every order (docs/saga.md, invariant 1).
TERMINAL = {
    "order.confirmed": "CONFIRMED",
    "order.cancelled": "CANCELLED",
    "order.rejected": "REJECTED",
}

FLEET_HINT = "is the fleet set up? run `commerce setup` (or start the fleet: scripts/run.sh)"


def fail(message):
    print(f"upstream example: {message}", file=sys.stderr)
    sys.exit(1)


def place_order_body(order_id):
    """A body following docs/schemas/order.place.json. Money is integer minor units (KRW)."""
    return {
        "order_id": order_id,  # our idempotency key: resend with the same id, never a new one
        "customer": {"id": "c-1001", "email": "kim@example.com", "membership": "gold"},
        "currency": "KRW",
        "items": [{"sku": "KB-001", "name": "Keyboard", "quantity": 1, "unit_price": 45000}],
        "shipping_address": {
            "street": "Teheran-ro 123",
            "city": "Seoul",
            "postal_code": "06234",
            "country": "KR",
            "detail": "5F",
        },
        "payment_token": "tok_approve",  # sandbox token that the payment worker approves
    }


def main():
    try:
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPError as error:
        fail(f"cannot connect to {AMQP_URL}: {error!r} (start the broker: scripts/services.sh up)")
    channel = connection.channel()

    # The exchange belongs to the fleet: check it exists rather than declare it. A missing
    # exchange closes the channel with 404 NOT_FOUND.
    try:
        channel.exchange_declare(exchange=EXCHANGE, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        fail(f"exchange '{EXCHANGE}' does not exist ({error.reply_text}); {FLEET_HINT}")

    # 1. Our own durable queue, bound to the three terminal events, declared BEFORE we publish
    #    so that the outcome cannot be routed before the queue exists. Declaring and binding are
    #    idempotent: a long-lived service does it once at start-up.
    channel.queue_declare(queue=QUEUE, durable=True)
    for routing_key in TERMINAL:
        channel.queue_bind(queue=QUEUE, exchange=EXCHANGE, routing_key=routing_key)

    # 2. Publish the command with publisher confirms and mandatory: the broker then answers
    #    every publish, and basic_publish raises if the message was returned (no queue bound to
    #    `order.place`: the order-worker's topology is missing) or nacked (the broker lost it).
    #    On any doubt (timeout, connection lost) an upstream may safely publish again with the
    #    SAME order_id: the order-worker makes one order per order_id.
    channel.confirm_delivery()
    order_id = str(uuid.uuid4())
    properties = pika.BasicProperties(
        message_id=str(uuid.uuid4()),  # unique per message; consumers deduplicate on it
        correlation_id=order_id,  # the saga id; must equal the body's order_id
        type="order.place",  # = routing key
        content_type="application/json",
        delivery_mode=2,  # persistent
        timestamp=int(time.time()),  # seconds
        app_id=APP_ID,  # who we are; no causation_id header on an upstream command
        # The broker user we connected as: the broker refuses any other, and the order-worker
        # refuses a command without it (docs/security.md).
        user_id=pika.URLParameters(AMQP_URL).credentials.username,
    )
    body = json.dumps(place_order_body(order_id)).encode("utf-8")
    try:
        channel.basic_publish(
            exchange=EXCHANGE, routing_key="order.place", body=body, properties=properties, mandatory=True
        )
    except pika.exceptions.UnroutableError:
        fail(f"order.place was returned as unroutable: no queue is bound to it on '{EXCHANGE}'; {FLEET_HINT}")
    except pika.exceptions.NackError:
        fail(f"the broker nacked order.place; publish it again with the same order_id ({FLEET_HINT})")
    print(f"placed order {order_id}; waiting up to {TIMEOUT_S:g}s on queue '{QUEUE}'", file=sys.stderr)

    # 3. Consume with manual acks until our order's terminal event arrives. Delivery is at least
    #    once: an event may come twice (same message_id); a real consumer records the message_ids
    #    it has handled. Here the first event of our order ends the program, so a copy never counts.
    channel.basic_qos(prefetch_count=50)
    deadline = time.monotonic() + TIMEOUT_S
    outcome = None
    for method, props, payload in channel.consume(QUEUE, auto_ack=False, inactivity_timeout=0.5):
        if method is not None:
            status = TERMINAL.get(method.routing_key)
            try:
                event = json.loads(payload)
            except ValueError:
                event = {}
            event_order = event.get("order_id") if isinstance(event, dict) else None
            # Ack everything: an event of another order is not ours to process (in a real
            # service it would be, since the queue is this system's own), and acking keeps the
            # queue from holding it forever.
            channel.basic_ack(delivery_tag=method.delivery_tag)
            if status is not None and event_order == order_id:
                outcome = (status, event)
                break
        if time.monotonic() >= deadline:
            break
    # Stop consuming: prefetched, unacked deliveries of other orders go back to the queue.
    channel.cancel()
    connection.close()

    if outcome is None:
        fail(f"no terminal event for order {order_id} within {TIMEOUT_S:g}s; {FLEET_HINT}")
    status, event = outcome
    # `reason` is a machine-readable code on order.cancelled and order.rejected
    # (out_of_stock, payment_declined, customer_request, timeout, invalid_order).
    reason = event.get("reason") or "-"
    amounts = event.get("amounts") or {}
    if "total" in amounts:
        print(f"total {amounts['total']} {event.get('currency', '')}".rstrip(), file=sys.stderr)
    for violation in event.get("violations") or []:
        print(f"violation {violation.get('code')} at {violation.get('field')}: {violation.get('message')}",
              file=sys.stderr)
    print(f"ORDER {order_id} {status} {reason}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
