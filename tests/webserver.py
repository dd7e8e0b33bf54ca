"""A real local HTTP/1.1 server for end-to-end tests of web sources.

``WebServer`` serves a mutable table of routes (path -> ``Route``) from a stdlib
``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread. Keep-alive is on (HTTP/1.1, every answer
carries Content-Length). A 200 answer gets a strong ETag (a hash of its body) unless the route sets
one, and a request whose ``If-None-Match`` matches it gets a 304. Every request is recorded (path with
its query, method, headers, the status answered) so a test can assert what was asked and how. ``/robots.txt`` allows
everything unless the test sets a route for it. A route with a ``delay`` answers that many seconds after the
request is recorded (a slow server); a server shutting down stops waiting and answers nothing.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ALLOW_ALL = b"User-agent: *\nAllow: /\n"


@dataclass(frozen=True)
class Route:
    """What one path answers: a status, extra headers and the body bytes, after ``delay`` seconds."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    #: sends the body a byte at a time, this many seconds apart (a server that drips)
    drip: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    #: the path with its query string, as sent
    path: str
    #: header names in lower case
    headers: Mapping[str, str]
    #: the status it was answered with
    status: int

    @property
    def route(self) -> str:
        """The path without the query string: the route it was answered from."""
        return urlsplit(self.path).path


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@dataclass
class WebServer:
    """A running server: change ``routes`` between runs; read ``requests`` afterwards."""

    host: str
    port: int
    routes: dict[str, Route] = field(repr=False)
    requests: list[Request] = field(repr=False)
    lock: threading.Lock = field(repr=False)
    #: set when the server shuts down: a delayed answer stops waiting
    closing: threading.Event = field(default_factory=threading.Event, repr=False)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def set(self, path: str, body: bytes | str, *, status: int = 200, content_type: str | None = None,
            headers: Mapping[str, str] | None = None, delay: float = 0.0, drip: float = 0.0) -> None:
        """Serve ``body`` at ``path`` (text is sent as UTF-8; ``content_type`` "" sends no Content-Type), answering
        ``delay`` seconds after the request is recorded."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        all_headers = dict(headers or {})
        if content_type is None:
            content_type = "text/html; charset=utf-8"
        if content_type:
            all_headers["Content-Type"] = content_type
        with self.lock:
            self.routes[path] = Route(status, all_headers, data, delay, drip)

    def log(self) -> list[Request]:
        with self.lock:
            return list(self.requests)

    def gets(self, route: str) -> list[Request]:
        """The GET requests answered from ``route`` (whatever their query string)."""
        return [r for r in self.log() if r.method == "GET" and r.route == route]

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        with self.lock:
            self.requests.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server hook name)
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        state = self.server.state
        headers = {name.lower(): value for name, value in self.headers.items()}
        route_path = urlsplit(self.path).path
        with state.lock:
            route = state.routes.get(route_path)
        if route is None:
            route = Route(200, {"Content-Type": "text/plain"}, ALLOW_ALL) if route_path == "/robots.txt" else Route(
                404, {"Content-Type": "text/plain"}, b"not found"
            )
        status, body = route.status, route.body
        extra = dict(route.headers)
        if status == 200:
            tag = extra.setdefault("ETag", etag_of(body))
            wanted = [t.strip() for t in headers.get("if-none-match", "").split(",")]
            if tag in wanted or "*" in wanted:
                status, extra, send_body = 304, {"ETag": tag}, False
        with state.lock:
            state.requests.append(Request(self.command, self.path, headers, status))
        if route.delay and state.closing.wait(route.delay):
            self.close_connection = True  # the server is shutting down: no answer
            return
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        # a 304 or a HEAD has no body; its Content-Length is the one a 200 GET would have had (RFC 9110 8.6)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and body and route.drip:
            for i in range(len(body)):
                if state.closing.wait(route.drip):
                    return
                try:
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
        elif send_body and body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (signature of the base method)
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: connections waiting to be accepted: more than socketserver's 5, which clients opening several connections at
    #: once (several workers polling one site) overflow, and a connection refused that way is tried again a second
    #: later
    request_queue_size = 64
    state: WebServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that goes away with a keep-alive connection open (the CLI exiting) is no error; anything
        else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serving() -> Iterator[WebServer]:
    """Start a server on 127.0.0.1 (a free port), yield its state, shut it down and close its socket."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    host, port = httpd.server_address[:2]
    state = WebServer(str(host), int(port), {}, [], threading.Lock())
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.closing.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
