"""The real path once: a message published to Redis after commit, sent by a `celery worker` process to a receiver
listening on this machine, signed so that the library verifies it."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from bss.models import Order
from bss.services.holds import hold_for_acceptance
from tests.mca.test_celery_worker import Worker, redis_broker, wait_until  # noqa: F401 - the fixture
from webhooks.models import EventType, Message, MessageState
from webhooks.services import create_subscription

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker, pytest.mark.usefixtures("redis_broker")]


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_real_worker_delivers_a_signed_message(transactional_db, demo, demo_user, receiver):
    url, received = receiver
    subscription = create_subscription(actor=demo_user("bss"), url=url, event_types=[EventType.ORDER_HELD])
    with transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="Waiting for the signatory")
    message = Message.objects.get()
    assert message.state == MessageState.PENDING  # published to Redis, not run in-process
    worker = Worker("http://127.0.0.1:9/no-partner-center").start()
    try:
        wait_until(lambda: Message.objects.get(pk=message.pk).state == MessageState.DELIVERED, what="delivery")
    finally:
        worker.stop()
    headers, body = received[0]
    event = Webhook(subscription.secret).verify(body, headers)
    assert event["type"] == "order.held_for_acceptance" and headers["webhook-id"] == message.msg_id
    assert len(received) == 1
