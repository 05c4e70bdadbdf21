"""The web server the kiosk serves its pages with.

Plain HTTP (the default, and behind a reverse proxy) goes through waitress:
one asynchronous loop holds every connection, and a fixed pool of threads
(``web.threads``: one per stream allowed, and the request threads) runs the
requests, so a half-sent request costs a socket, never a thread. A
connection silent for ``web.channel_timeout_seconds`` with no request under
way is closed, and at ``web.connection_limit`` the connections idle longest
are closed to make room, so a flood of half-open connections pushes out
only itself and the next visitor is answered at once.

Waitress has no TLS. With ``web.tls_cert`` and ``web.tls_key`` the kiosk
keeps serving HTTPS itself, as before, with werkzeug's threaded server made
safe for the network: the TLS handshake happens in the connection's own
thread (a client that never sends one holds up nobody else), every socket
has the same time-out, and at most ``web.connection_limit`` connections are
open (beyond that one is refused at once). The README recommends a TLS
reverse proxy in front of waitress instead.
"""

from __future__ import annotations

import logging
import socketserver
import ssl
import threading
import time

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from werkzeug.serving import ThreadedWSGIServer, load_ssl_context

from kiosk.config import WebSettings

log = logging.getLogger(__name__)


def make_web_server(app, web: WebSettings):
    """The server for ``app``: waitress, or the TLS server when certificates are set.
    Either has ``port``, ``serve_forever()`` (in a thread of its own) and ``shutdown()``."""
    if web.tls_cert is not None:
        return TlsServer(app, web)
    return WaitressServer(app, web)


class _Listener(TcpWSGIServer):
    """Waitress's listening socket that, at the connection limit, closes the
    connections idle longest with no request under way instead of no longer
    accepting (which would leave the next visitor waiting for the time-out)."""

    evicting = False

    def __init__(self, app, socket_map: dict, dispatcher: ThreadedTaskDispatcher, adj: Adjustments, sockinfo: tuple):
        super().__init__(app, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        over = len(self._map) - self.adj.connection_limit + 1
        if over <= 0:
            if self.evicting:
                log.info("open connections are below web.connection_limit again")
                self.evicting = False
            return True
        idle = sorted(
            (c for c in self.active_channels.values() if not c.requests and not c.will_close), key=lambda c: c.last_activity
        )
        if not self.evicting:
            log.warning("web.connection_limit (%d) reached: closing the connections idle longest", self.adj.connection_limit)
            self.evicting = True
        for channel in idle[: max(over, self.adj.connection_limit // 10)]:
            channel.will_close = True  # closed by the loop's next turn
        # Every connection busy with a request (streams): accept nobody until one ends.
        return bool(idle)


class WaitressServer:
    """Waitress on ``web.host`` (both IPv4 and IPv6 for "::") with the kiosk's limits."""

    def __init__(self, app, web: WebSettings):
        listen = f"0.0.0.0:{web.port} [::]:{web.port}" if web.host == "::" else None
        where = {"listen": listen} if listen else {"host": web.host, "port": web.port}
        self.adj = Adjustments(
            **where,
            threads=web.threads,
            channel_timeout=web.channel_timeout_seconds,
            cleanup_interval=max(1, web.channel_timeout_seconds // 4),
            connection_limit=web.connection_limit,
            # Forwarding headers are the app's to judge (web.trusted_proxies): waitress would strip them from
            # everyone, and a proxy on this machine would then pass for the kiosk's own display.
            clear_untrusted_proxy_headers=False,
            ident="face-kiosk",
        )
        self._map: dict = {}
        self.dispatcher = ThreadedTaskDispatcher()
        self.dispatcher.set_thread_count(self.adj.threads)
        self.listeners = [_Listener(app, self._map, self.dispatcher, self.adj, info) for info in self.adj.listen]
        self.port = self.listeners[0].effective_port
        self._running = threading.Event()

    def serve_forever(self) -> None:
        self._running.set()
        wasyncore.loop(timeout=self.adj.asyncore_loop_timeout, map=self._map, use_poll=self.adj.asyncore_use_poll)

    def shutdown(self) -> None:
        """Close every connection (from the loop's own thread, which then ends) and stop the threads."""
        closed = threading.Event()

        def close_all():
            wasyncore.close_all(self._map)
            closed.set()

        if self._running.is_set():
            self.listeners[0].trigger.pull_trigger(close_all)
            closed.wait(5)
        else:
            close_all()
        self.dispatcher.shutdown(cancel_pending=True, timeout=2)


class TlsServer(ThreadedWSGIServer):
    """werkzeug's threaded server for HTTPS, with the handshake in each
    connection's thread, a socket time-out and a cap on open connections."""

    def __init__(self, app, web: WebSettings):
        super().__init__(web.host, web.port, app)  # no ssl_context here: it would shake hands in the accepting thread
        self.ssl_context = load_ssl_context(str(web.tls_cert), str(web.tls_key))  # pages see https
        self.timeout_seconds = web.channel_timeout_seconds
        self._connections = threading.BoundedSemaphore(web.connection_limit)

    def process_request(self, request, client_address) -> None:
        if not self._connections.acquire(blocking=False):
            self.shutdown_request(request)  # refused at once: better than a thread per flooding socket
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connections.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            request.settimeout(self.timeout_seconds)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):  # silent, too slow, or plain HTTP on the HTTPS port
                self.shutdown_request(request)
                return
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self._connections.release()

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()
