"""SSRF-safe download of user-supplied http(s) image and video URLs.

A URL is refused unless every address its host resolves to is a public one, and
the socket is then connected to one of exactly those checked addresses, so a
DNS answer that changes between check and connect (rebinding) cannot reach an
internal service. Redirects are followed by hand so that every hop is judged
the same way, and size and time are capped for the fetch as a whole.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.connection import allowed_gai_family, create_connection

from shared.media.errors import MediaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_HEADERS = {"User-Agent": "headstart-fetch/1", "Accept-Encoding": "identity"}


@dataclass(frozen=True)
class UrlPolicy:
    """Limits for one fetch.

    Attributes:
        max_bytes: Largest body accepted, after any content decoding.
        timeout_seconds: Wall-clock budget for the whole fetch, redirects included.
        max_redirects: Redirect hops followed before giving up.
        allow_loopback: Permit 127/8 and ::1 (tests fetch from a server they start);
            private and link-local addresses stay forbidden regardless.
    """

    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 10.0
    max_redirects: int = 3
    allow_loopback: bool = False


@dataclass(frozen=True)
class Fetched:
    """A downloaded body.

    Attributes:
        data: The body bytes.
        content_type: The ``Content-Type`` header of the final response, if any.
        final_url: The URL the body came from, after redirects.
    """

    data: bytes
    content_type: str | None
    final_url: str


def is_allowed_address(ip: IPAddress, policy: UrlPolicy) -> bool:
    """Whether a socket may connect to ``ip``.

    Args:
        ip: A resolved or literal address.
        policy: Decides whether loopback is acceptable.

    Returns:
        True only for public unicast addresses (or loopback when the policy allows).
    """
    if isinstance(ip, ipaddress.IPv6Address):
        # Python versions disagree on how ::ffff:0:0/96 is classified (3.11 calls it
        # all "reserved"); judging the mapped IPv4 ourselves is right on every one.
        if ip.ipv4_mapped is not None:
            return is_allowed_address(ip.ipv4_mapped, policy)
        # 6to4 and Teredo tunnel to the embedded IPv4, so it gets a veto.
        embedded = [ip.sixtofour, *(ip.teredo or ())]
        if any(e is not None and not is_allowed_address(e, policy) for e in embedded):
            return False
    if ip.is_loopback:
        return policy.allow_loopback
    return ip.is_global and not (ip.is_multicast or ip.is_unspecified or ip.is_reserved)


def _resolve(host: str, port: int, policy: UrlPolicy, shown: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise MediaError("unresolvable_host", f"{shown}: cannot resolve {host!r} ({e})") from e
    addrs = [str(info[4][0]) for info in infos]
    for addr in addrs:
        # One bad answer refuses the host: which answer gets dialled is not ours to pick.
        if not is_allowed_address(ipaddress.ip_address(addr), policy):
            raise MediaError("forbidden_url", f"{shown}: {host!r} resolves to forbidden {addr}")
    return addrs


def check_url(url: str, policy: UrlPolicy, *, resolve: bool = True) -> None:
    """Refuse a URL that must not be fetched.

    Args:
        url: The user-supplied URL.
        policy: Address policy to apply.
        resolve: Also resolve a host name and judge every address it maps to.

    Raises:
        MediaError: ``forbidden_url`` for a bad scheme, missing host, userinfo, bad
            port or forbidden address; ``unresolvable_host`` when DNS fails.
    """
    shown = _shown(url)
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise MediaError("forbidden_url", f"{shown}: malformed URL ({e})") from e
    if parts.scheme not in ("http", "https"):
        raise MediaError("forbidden_url", f"{shown}: only http and https URLs can be fetched")
    if "@" in parts.netloc:
        raise MediaError("forbidden_url", f"{shown}: credentials in URLs are not allowed")
    if not parts.hostname:
        raise MediaError("forbidden_url", f"{shown}: URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise MediaError("forbidden_url", f"{shown}: invalid port ({e})") from e
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        if not is_allowed_address(literal, policy):
            raise MediaError("forbidden_url", f"{shown}: address {literal} is forbidden")
    elif resolve:
        _resolve(parts.hostname, port, policy, shown)


def _shown(url: str) -> str:
    # Query strings and userinfo can carry secrets (signed URLs); keep them out of
    # error messages, which are stored on failed inputs.
    base = url.split("#")[0].split("?")[0]
    scheme, sep, rest = base.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}" if sep else base


class _CheckedHTTPConnection(HTTPConnection):
    """Dials only addresses that ``is_allowed_address`` approved a moment before."""

    def __init__(self, *args: Any, policy: UrlPolicy, shown_url: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._policy = policy
        self._shown_url = shown_url

    def _new_conn(self) -> socket.socket:
        # Resolve once and dial the checked IPs themselves: handing the name to the
        # OS again would allow a second, different DNS answer (rebinding). Only the
        # socket's destination changes, so Host, SNI and certificate checks keep
        # using the name.
        error: Exception | None = None
        for addr in _resolve(self._dns_host, self.port, self._policy, self._shown_url):
            try:
                return create_connection(
                    (addr, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except socket.timeout:
                error = ConnectTimeoutError(self, f"connecting to {addr} timed out")
            except OSError as e:
                error = NewConnectionError(self, f"connecting to {addr} failed: {e}")
        raise error or NewConnectionError(self, f"{self.host} has no address")


class _CheckedHTTPSConnection(_CheckedHTTPConnection, HTTPSConnection):
    pass


class _CheckedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


def checked_pool(url: str, policy: UrlPolicy, timeout: float) -> urllib3.HTTPConnectionPool:
    """A connection pool for ``url``'s host that dials only addresses ``policy`` allows.

    The host is resolved and judged when a connection opens, against the very
    answer dialled (see ``_CheckedHTTPConnection``); call :func:`check_url` first
    for the scheme, userinfo and literal-address rules. The pool never retries and
    a request through it should pass ``redirect=False``: every hop must be judged.

    Args:
        url: The http(s) URL to be requested.
        policy: Address policy (loopback or not).
        timeout: Connect plus read budget, in seconds.

    Returns:
        An HTTP or HTTPS pool; close it when done.
    """
    parts = urlsplit(url)
    pool_cls = _CheckedHTTPSPool if parts.scheme == "https" else _CheckedHTTPPool
    return pool_cls(
        parts.hostname,
        parts.port,
        timeout=urllib3.Timeout(total=timeout),
        retries=False,
        policy=policy,
        shown_url=_shown(url),
    )


def fetch(url: str, policy: UrlPolicy) -> Fetched:
    """Download ``url`` within ``policy``'s limits, following redirects by hand.

    Args:
        url: The user-supplied http(s) URL.
        policy: Size, time, redirect and address limits.

    Returns:
        The body, its content type and the URL it finally came from.

    Raises:
        MediaError: ``forbidden_url``, ``unresolvable_host``, ``too_large``,
            ``fetch_timeout``, ``too_many_redirects`` or ``fetch_failed``; after a
            redirect the message names both the given URL and the hop that failed.
    """
    deadline = time.monotonic() + policy.timeout_seconds
    hop_url = url
    for hop in range(policy.max_redirects + 1):
        try:
            result = _fetch_one(hop_url, policy, deadline)
        except MediaError as e:
            if hop == 0:
                raise
            raise MediaError(e.code, f"{_shown(url)} redirected to {e.message}") from e
        if isinstance(result, Fetched):
            return result
        hop_url = result
    raise MediaError(
        "too_many_redirects", f"{_shown(url)}: more than {policy.max_redirects} redirects"
    )


def _fetch_one(url: str, policy: UrlPolicy, deadline: float) -> Fetched | str:
    """One request: the body, or the absolute URL a redirect points to."""
    # Host addresses are judged at connect time, against the very answer dialled.
    check_url(url, policy, resolve=False)
    parts = urlsplit(url)
    pool = checked_pool(url, policy, _remaining(url, deadline))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen(
            "GET", target, headers=_HEADERS, redirect=False, preload_content=False, retries=False
        )
        try:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise MediaError("fetch_failed", f"{_shown(url)}: redirect lacks Location")
                return urljoin(url, location)
            if not 200 <= response.status < 300:
                raise MediaError("fetch_failed", f"{_shown(url)}: HTTP {response.status}")
            return Fetched(
                _read_body(response, url, policy, deadline),
                response.headers.get("Content-Type"),
                url,
            )
        finally:
            # One pool per hop: closing drops the socket along with any unread body.
            response.close()
    except HTTPError as e:
        # NewConnectionError subclasses ConnectTimeoutError, so it must be ruled out.
        if isinstance(e, Urllib3Timeout) and not isinstance(e, NewConnectionError):
            raise MediaError("fetch_timeout", f"{_shown(url)}: timed out ({e})") from e
        raise MediaError("fetch_failed", f"{_shown(url)}: {e}") from e
    finally:
        pool.close()


def _read_body(
    response: urllib3.BaseHTTPResponse, url: str, policy: UrlPolicy, deadline: float
) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise MediaError("too_large", f"{_shown(url)}: {declared} bytes > {policy.max_bytes}")
    body = bytearray()
    while True:
        left = _remaining(url, deadline)
        sock = getattr(response.connection, "sock", None)
        if sock is not None:
            # A read may block only as long as the whole fetch has left; read1 then
            # returns whatever arrived, so a server dribbling bytes hits the deadline.
            sock.settimeout(left)
        chunk = response.read1(_CHUNK)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > policy.max_bytes:
            raise MediaError("too_large", f"{_shown(url)}: body over {policy.max_bytes} bytes")


def _remaining(url: str, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise MediaError("fetch_timeout", f"{_shown(url)}: time budget exhausted")
    return left
