# The relay's Redis target: each message appended to a Redis stream named after its
# topic, `XADD TOPIC MAXLEN ~ N * topic TOPIC payload BYTES recv_ns NS`, in pipelined
# batches (one round trip for up to SEND_BATCH messages, SEND_BATCH_BYTES bytes), in its
# own thread that takes from the relay's bounded queue; reconnecting by the same policy
# as the MQTT publisher (reconnect.py). The redis package (redis-py) speaks RESP: no
# hand-written protocol here. Its own retries are off: one policy decides, and a batch
# cut by a lost connection is written again first on the next one, so every message
# the queue handed over arrives at least once (those of a batch Redis had applied in
# part, twice). Bounded: the queue's bounds, plus one batch; a Redis that stops reading
# fails the write after SOCKET_TIMEOUT, and the loss is handled like any other.
from __future__ import annotations

import time
from urllib.parse import unquote, urlsplit

from ..errors import ConnectFailed, SignInRefused, UsageError
from ..net.reconnect import GiveUp, Lost, ReconnectPolicy, ReconnectState
from ..urls import check_characters, check_host, redact_url
from .queue import RelayQueue
from .target import DEFAULT_MAX_LEN, TargetSettings, TargetStatus, TargetThread

INSTALL = "pip install 'coinsuper[redis]'"
DEFAULT_PORT = 6379
SEND_BATCH = 500  # messages in one pipeline
SEND_BATCH_BYTES = 1024 * 1024  # and bytes: the pipeline's encoded commands are a copy
IDLE_WAIT = 0.1  # longest wait on an empty queue before `stopping` is looked at again
SOCKET_TIMEOUT = 10.0  # a read or write that takes longer: the connection is lost
CONNECT_TIMEOUT = 10.0
SHAPE = "redis[s]://[[USER]:PASSWORD@]HOST[:PORT][/DB]"


def check_redis_url(url: str) -> str:
    """The Redis URL with its scheme in lower case; UsageError (one line, no password)
    for any other shape than SHAPE."""
    shown = redact_url(url)
    check_characters(url, f"redis URL {shown!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad [IPv6] literal, a port not digits or over 65535
        raise UsageError(f"bad host or port in redis URL {shown!r}: use {SHAPE}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss") or not parts.hostname or port == 0:
        raise UsageError(f"bad redis URL {shown!r}: use {SHAPE}")
    if parts.query or parts.fragment or "#" in url or "?" in url:
        # Not shown: a query may hold a password (redis-py reads ?password=).
        raise UsageError(f"redis URL {redact_url(url.split('?')[0].split('#')[0])!r} is "
                         f"followed by a query or fragment: use {SHAPE}")
    if not (parts.path in ("", "/") or parts.path[1:].isdigit()):
        raise UsageError(f"bad database in redis URL {shown!r}: give /N, a number "
                         f"({SHAPE})")
    check_host(parts, f"redis URL {shown!r}")
    return scheme + url[len(parts.scheme):]


def check_settings(settings: TargetSettings) -> None:
    """UsageError for an option that does not apply to Redis, or no redis package."""
    if settings.qos:
        raise UsageError("--to-qos applies to MQTT targets: Redis answers every XADD, "
                         "and the relay writes again what a lost connection cut")
    if settings.max_len is not None and settings.max_len < 1:
        raise UsageError("--max-len must be at least 1")
    try:
        import redis  # noqa: F401
    except ImportError:
        raise UsageError(f"--to redis:// needs the redis package: {INSTALL}") from None


class RedisTarget(TargetThread):
    """Appends the queue's messages to Redis streams until closed (see the header).

    Args:
        policy: when to connect again; the first-connection rule makes a Redis never
            reached (a wrong host, port or password) final, as for the MQTT target.
        client: makes the redis.Redis client (tests).
    """

    def __init__(self, queue: RelayQueue, settings: TargetSettings, *,
                 policy: ReconnectPolicy | None = None, client=None) -> None:
        # A connected thread may be in a write, which its socket timeout bounds.
        super().__init__(queue, redact_url(settings.url), log=settings.log,
                         warn=settings.warn, connected_join=SOCKET_TIMEOUT + 1)
        self.thread_name = "coinsuper-relay-redis"
        self.settings = settings
        self.max_len = settings.max_len or DEFAULT_MAX_LEN
        if urlsplit(settings.url).scheme == "rediss":
            # redis-py opens the files at each connect; a bad one is bad usage, now.
            settings.tls.context()
        self.rejected = 0  # XADDs Redis refused one by one (a key of another type, OOM)
        self._policy = policy or ReconnectPolicy()
        self._make_client = client or self._client
        self._unsent: list = []  # a batch a lost connection cut: first on the next one
        self._got_going = False  # this connection answered PING

    # -- the target protocol ----------------------------------------------------------

    def status(self) -> TargetStatus:
        return TargetStatus(self.shown_url, state=self.state, published=self.published,
                            delivered=self.published, pending=self.pending,
                            reconnects=self.reconnects, rejected=self.rejected)

    @property
    def pending(self) -> int:
        return len(self._unsent)

    def start(self) -> None:
        if self.settings.proxy:
            self._warn(f"relay: {self.shown_url} is reached directly: a Redis target does "
                       f"not go through the proxy {redact_url(self.settings.proxy)}")
        super().start()

    # -- the loop ---------------------------------------------------------------------

    def _client(self):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        parts = urlsplit(self.settings.url)
        tls = self.settings.tls
        secure = parts.scheme.lower() == "rediss"
        extra = dict(ssl=True, ssl_ca_certs=tls.cafile, ssl_certfile=tls.cert,
                     ssl_keyfile=tls.key, ssl_cert_reqs="none" if tls.insecure else "required",
                     ssl_check_hostname=not tls.insecure) if secure else {}
        return redis.Redis(
            host=parts.hostname, port=parts.port or DEFAULT_PORT,
            db=int(parts.path[1:] or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0), single_connection_client=True, **extra)

    def run(self) -> None:
        """Connects, writes and reconnects until `stopping` is set, or gives up on a
        Redis that never accepted a first connection (`error` says why)."""
        from redis.exceptions import AuthenticationError, RedisError

        policy_state = ReconnectState()
        try:
            while not self.stopping.is_set():
                published, self._got_going = self.published, False
                try:
                    self._connection()
                    return
                except (RedisError, OSError) as error:
                    refused = isinstance(error, AuthenticationError) or str(error).startswith(
                        ("NOAUTH", "WRONGPASS", "NOPERM"))
                    policy_state, decision = self._policy.after(
                        policy_state, Lost(self._got_going, self.published > published),
                        time.monotonic())
                    if isinstance(decision, GiveUp):
                        self.error = (SignInRefused(f"the Redis at {self.shown_url} refused "
                                                    f"the sign-in: {error}") if refused
                                      else ConnectFailed(f"relay target {self.shown_url}: "
                                                         f"{error}"))
                        return
                    self.reconnects += 1
                    self.state = "reconnecting"
                    self._log(f"relay → {self.shown_url} lost ({error}); reconnecting in "
                              f"{decision.delay:.1f} s")
                    self.stopping.wait(max(decision.at - time.monotonic(), 0))
        except BaseException as error:  # a bug: handed to the relay, which reports it
            self.error = error
        finally:
            self.ready.set()
            self.state = "closed"

    def _connection(self) -> None:
        self.state = "connecting"
        self._log(f"relay → {self.shown_url}: connecting")
        client = self._make_client()
        try:
            client.ping()
            self._got_going = True
            self.state = "connected"
            self._log(f"relay → {self.shown_url} connected")
            self.ready.set()
            while not self.stopping.is_set():
                if not self._send_some(client):
                    self.queue.wait(IDLE_WAIT)
        finally:
            client.close()

    def _send_some(self, client) -> bool:
        """Writes the batch a lost connection cut, else one from the queue; False when
        there was nothing to write."""
        from redis.exceptions import ConnectionError, TimeoutError

        items = self._unsent or self.queue.take(SEND_BATCH, SEND_BATCH_BYTES)
        if not items:
            return False
        self._unsent = items
        pipe = client.pipeline(transaction=False)
        max_len = self.max_len
        for item in items:
            pipe.xadd(item.topic, {"topic": item.topic, "payload": item.payload,
                                   "recv_ns": item.recv_ns}, maxlen=max_len, approximate=True)
        results = pipe.execute(raise_on_error=False)
        for result in results:
            # A Redis still loading its data after a restart answers each command so:
            # the connection is not ready, the batch goes again.
            if isinstance(result, (ConnectionError, TimeoutError)):
                raise result
        self._unsent = []
        refused = [(item, result) for item, result in zip(items, results)
                   if isinstance(result, Exception)]
        if refused:
            if not self.rejected:
                item, result = refused[0]
                self._warn(f"relay: the Redis at {self.shown_url} refused XADD to "
                           f"{item.topic}: {result} (counted as dropped; further ones too)")
            self.rejected += len(refused)
        self.published += len(items) - len(refused)
        return True
