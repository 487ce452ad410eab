"""The Celery broker's Redis transport (config.broker, issue 20): one Redis client per channel, not per message."""

import uuid

import pytest
from kombu import Connection

from config.broker import REDIS_TRANSPORT, transport_for
from tests.redis_support import REDIS_TEST_URL, require_redis
from tests.test_settings import PRODUCTION, production_without, settings_of


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return REDIS_TEST_URL


def test_plain_redis_brokers_get_the_transport_that_keeps_its_client():
    assert transport_for("redis://redis:6379/0") == REDIS_TRANSPORT
    # TLS and sentinels keep kombu's own choice (its TLS set-up keys on the transport's name), as does eager mode.
    assert transport_for("rediss://redis:6380/0") is None
    assert transport_for("sentinel://redis:26379") is None
    assert transport_for("memory://localhost/") is None
    values = settings_of(
        PRODUCTION, "CELERY_BROKER_TRANSPORT", **production_without(CELERY_BROKER_URL="redis://r:6379/0")
    )
    assert values["CELERY_BROKER_TRANSPORT"] == REDIS_TRANSPORT


def test_messages_published_on_one_channel_share_one_redis_client_and_all_arrive(redis_url):
    queue_name = f"test-broker-{uuid.uuid4().hex}"
    with Connection(redis_url, transport=transport_for(redis_url)) as connection:
        queue = connection.SimpleQueue(queue_name)
        try:
            channel = queue.channel
            clients = []
            for n in range(3):
                queue.put({"n": n})
                clients.append(channel._kept_client)
            assert clients[0] is not None and all(client is clients[0] for client in clients)
            received = []
            for _ in range(3):
                message = queue.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
            assert sorted(received) == [0, 1, 2]
            with channel.conn_or_acquire() as client:
                assert client is clients[0]
            channel._pool = None  # kombu drops its pool when it reconnects: the kept client goes with it
            with channel.conn_or_acquire() as client:
                assert client is not clients[0] and client.connection_pool is channel.pool
        finally:
            queue.queue.delete()
            queue.close()
