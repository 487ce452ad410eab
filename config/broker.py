"""The Celery broker's Redis transport with one client per channel (issue 20: CPU per confirmation).

kombu's Redis channel publishes through `conn_or_acquire()`, which builds a new `redis.Redis` client around the
channel's connection pool for every message (its response-callback table alone was about 3 % of a confirmation's
client CPU). The connections were pooled already; only the client object was not. This channel keeps the client it
built while its pool is the same (kombu replaces the pool when it reconnects). A `redis.Redis` client takes a
connection from the pool for each command, so sharing one is as safe as sharing the pool.

Chosen by `CELERY_BROKER_TRANSPORT` (`transport_for`): kombu takes an explicit transport before the URL's scheme and
still parses the URL. Only for plain `redis://`: `rediss://` (TLS) and sentinels keep kombu's own transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

REDIS_TRANSPORT = "config.broker:Transport"


def transport_for(broker_url: str) -> str | None:
    """The transport for `broker_url`: this module's for plain Redis, kombu's choice (None) otherwise."""
    return REDIS_TRANSPORT if broker_url.startswith("redis://") else None


class Channel(kombu_redis.Channel):
    _kept_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        if self._kept_client is None or self._kept_client.connection_pool is not pool:
            self._kept_client = self._create_client()
        yield self._kept_client


class Transport(kombu_redis.Transport):
    Channel = Channel
