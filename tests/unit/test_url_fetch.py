"""The SSRF-safe fetcher against a real loopback HTTP server."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.media.errors import MediaError
from shared.media.fetch import Fetched, UrlPolicy, check_url, fetch, is_allowed_address

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 100
CAP = 1000
REDIRECTS = {
    "/redirect-ok": "/ok",
    "/redirect-meta": "http://169.254.169.254/latest/meta-data/",
    "/redirect-private": "http://10.0.0.1/x",
    "/redirect-ftp": "ftp://example.com/x",
    "/loop": "/loop",
}


class _Handler(BaseHTTPRequestHandler):
    requests: list[tuple[str, str | None, str | None]]  # (path, Host, User-Agent)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append((self.path, self.headers["Host"], self.headers["User-Agent"]))
        try:
            self._answer()
        except OSError:
            pass  # The client gave up on /slow or /dribble, as it should.

    def _answer(self) -> None:
        if self.path == "/ok":
            self._send(200, PNG, "image/png")
        elif self.path == "/big":
            self._send(200, b"x" * (CAP + 1), "image/png")
        elif self.path == "/big-stream":
            # HTTP/1.0 without Content-Length: the body runs until the socket closes.
            self.send_response(200)
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"x" * CAP)
        elif self.path == "/slow":
            time.sleep(1.0)
            self._send(200, PNG, "image/png")
        elif self.path == "/dribble":
            self.send_response(200)
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.025)
        elif self.path in REDIRECTS:
            self.send_response(302)
            self.send_header("Location", REDIRECTS[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server() -> Iterator[tuple[str, list[tuple[str, str | None, str | None]]]]:
    requests: list[tuple[str, str | None, str | None]] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


LOOPBACK_OK = UrlPolicy(max_bytes=CAP, timeout_seconds=2.0, allow_loopback=True)


def _code(url: str, policy: UrlPolicy) -> str:
    with pytest.raises(MediaError) as caught:
        fetch(url, policy)
    return caught.value.code


def test_fetch_returns_body_type_and_url(server):
    base, requests = server
    got = fetch(f"{base}/ok", LOOPBACK_OK)
    assert got == Fetched(PNG, "image/png", f"{base}/ok")
    assert requests[0][2] == "headstart-fetch/1"


def test_fetch_follows_relative_redirect(server):
    base, requests = server
    got = fetch(f"{base}/redirect-ok", LOOPBACK_OK)
    assert got.data == PNG
    assert got.final_url == f"{base}/ok"
    assert [r[0] for r in requests] == ["/redirect-ok", "/ok"]


@pytest.mark.parametrize(
    ("path", "code", "reason"),
    [
        ("/big", "too_large", "1001 bytes > 1000"),
        ("/big-stream", "too_large", "body over 1000 bytes"),
        ("/404", "fetch_failed", "HTTP 404"),
        ("/redirect-meta", "forbidden_url", "redirected to http://169.254.169.254/latest"),
        ("/redirect-private", "forbidden_url", "redirected to http://10.0.0.1/x"),
        ("/redirect-ftp", "forbidden_url", "redirected to ftp://example.com/x"),
        ("/loop", "too_many_redirects", "more than 3 redirects"),
    ],
)
def test_fetch_errors(server, path, code, reason):
    base, _ = server
    with pytest.raises(MediaError) as caught:
        fetch(f"{base}{path}", LOOPBACK_OK)
    assert caught.value.code == code
    assert caught.value.message.startswith(f"{base}{path}")
    assert reason in caught.value.message


def test_404_message_names_status_and_url(server):
    base, _ = server
    with pytest.raises(MediaError, match=r"/404: HTTP 404") as caught:
        fetch(f"{base}/404?token=secret", LOOPBACK_OK)
    assert "secret" not in caught.value.message


def test_redirect_loop_stops_after_max_redirects(server):
    base, requests = server
    assert _code(f"{base}/loop", LOOPBACK_OK) == "too_many_redirects"
    assert len(requests) == LOOPBACK_OK.max_redirects + 1


def test_forbidden_redirect_target_is_never_contacted(server, monkeypatch):
    base, _ = server
    looked_up: list[str] = []
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda h, *a, **k: looked_up.append(h) or real(h, *a, **k)
    )
    assert _code(f"{base}/redirect-meta", LOOPBACK_OK) == "forbidden_url"
    assert "169.254.169.254" not in looked_up


@pytest.mark.parametrize("path", ["/slow", "/dribble"])
def test_total_time_budget(server, path):
    base, _ = server
    policy = UrlPolicy(max_bytes=CAP, timeout_seconds=0.3, allow_loopback=True)
    started = time.monotonic()
    assert _code(f"{base}{path}", policy) == "fetch_timeout"
    assert time.monotonic() - started < 0.8


def test_connection_refused_is_fetch_failed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _code(f"http://127.0.0.1:{port}/x", LOOPBACK_OK) == "fetch_failed"


def test_tls_failure_is_fetch_failed(server):
    base, _ = server
    assert _code(base.replace("http://", "https://") + "/ok", LOOPBACK_OK) == "fetch_failed"


def test_default_policy_refuses_loopback_without_contacting_it(server):
    base, requests = server
    with pytest.raises(MediaError) as caught:
        check_url(f"{base}/ok", UrlPolicy())
    assert caught.value.code == "forbidden_url"
    assert _code(f"{base}/ok", UrlPolicy()) == "forbidden_url"
    assert requests == []


def _fake_dns(monkeypatch, answers: dict[str, list[str]]) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        if not answers[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addr = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_hostname_resolving_to_loopback_is_refused_before_connecting(server, monkeypatch):
    base, requests = server
    port = base.rsplit(":", 1)[1]
    _fake_dns(monkeypatch, {"rebind.test": ["127.0.0.1"]})
    assert _code(f"http://rebind.test:{port}/ok", UrlPolicy()) == "forbidden_url"
    assert requests == []


def test_dns_rebinding_after_check_is_refused_at_connect(server, monkeypatch):
    base, requests = server
    port = base.rsplit(":", 1)[1]
    # Public on the first lookup, loopback on every later one.
    _fake_dns(monkeypatch, {"rebind.test": ["93.184.216.34", "127.0.0.1"]})
    check_url(f"http://rebind.test:{port}/ok", UrlPolicy())
    with pytest.raises(MediaError, match="127.0.0.1") as caught:
        fetch(f"http://rebind.test:{port}/ok", UrlPolicy())
    assert caught.value.code == "forbidden_url"
    assert requests == []


def test_connects_to_checked_address_but_keeps_host_name(server, monkeypatch):
    base, requests = server
    port = base.rsplit(":", 1)[1]
    _fake_dns(monkeypatch, {"rebind.test": ["127.0.0.1"]})
    got = fetch(f"http://rebind.test:{port}/ok", LOOPBACK_OK)
    assert got.data == PNG
    assert requests[0][1] == f"rebind.test:{port}"


def test_unresolvable_host(monkeypatch):
    _fake_dns(monkeypatch, {"nowhere.test": []})
    with pytest.raises(MediaError) as caught:
        check_url("http://nowhere.test/x", UrlPolicy())
    assert caught.value.code == "unresolvable_host"
    assert _code("http://nowhere.test/x", UrlPolicy()) == "unresolvable_host"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pw@example.com/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://localhost:1/",
        "http://example.com:99999/",
        "http:///no-host",
        "http://[::1/",
    ],
)
def test_check_url_refuses(url):
    with pytest.raises(MediaError) as caught:
        check_url(url, UrlPolicy())
    assert caught.value.code == "forbidden_url"
    assert "pw" not in caught.value.message


def test_check_url_allows_loopback_only_when_policy_says_so():
    check_url("http://localhost:1/", UrlPolicy(allow_loopback=True))
    check_url("http://[::1]:8080/", UrlPolicy(allow_loopback=True))
    check_url("https://93.184.216.34/x.png", UrlPolicy())
    check_url("https://images.example.com/x.png", UrlPolicy(), resolve=False)
    with pytest.raises(MediaError):
        check_url("http://10.0.0.1/", UrlPolicy(allow_loopback=True))


REFUSED = [
    "127.0.0.1",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "fe80::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45
    "255.255.255.255",
    "ff02::1",
    "::",
]


@pytest.mark.parametrize("address", REFUSED)
def test_is_allowed_address_refuses(address):
    assert not is_allowed_address(ipaddress.ip_address(address), UrlPolicy())


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]
)
def test_is_allowed_address_allows_public(address):
    assert is_allowed_address(ipaddress.ip_address(address), UrlPolicy())


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
def test_loopback_allowed_only_by_policy(address):
    ip = ipaddress.ip_address(address)
    assert not is_allowed_address(ip, UrlPolicy())
    assert is_allowed_address(ip, UrlPolicy(allow_loopback=True))


@pytest.mark.parametrize("address", ["10.1.2.3", "169.254.169.254", "fd00:ec2::254", "fe80::1"])
def test_allow_loopback_does_not_open_private_ranges(address):
    assert not is_allowed_address(ipaddress.ip_address(address), UrlPolicy(allow_loopback=True))
