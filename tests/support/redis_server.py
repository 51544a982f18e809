"""Real redis-server processes for tests: the same helper `hb dev stack` uses."""

from hb.localredis import RedisCluster, RedisServer, TlsFiles, free_port

__all__ = ["RedisCluster", "RedisServer", "TlsFiles", "free_port"]
