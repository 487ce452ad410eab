"""The tests' Redis database (REDIS_TEST_URL; CI gives each suite its own) and the one rule for reaching it: a test
that needs Redis fails in CI when it is not reachable, and is skipped on a developer's machine without it."""

import os

import pytest
import redis

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def require_redis(url: str = REDIS_TEST_URL) -> redis.Redis:
    """A client of `url`, once it answered a ping; else fail (CI) or skip (elsewhere)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    return client
