"""The real redis-server fixture starts, answers, stops and restarts on the same port."""

from __future__ import annotations

from tests.support.redis_server import RedisServer


def test_server_answers_and_flushes(redis_server: RedisServer) -> None:
    redis_server.command("SET", "k", "v")
    redis_server.flush()
    assert redis_server.command("EXISTS", "k").startswith(b":0")


def test_private_server_restarts_on_same_port(own_redis_server: RedisServer) -> None:
    port = own_redis_server.port
    own_redis_server.stop()
    assert not own_redis_server._answers()
    own_redis_server.start()
    assert own_redis_server.port == port and own_redis_server._answers()
