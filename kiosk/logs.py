"""The kiosk's log: records go through a bounded queue to one thread that
writes them to stderr (the journal, under systemd), so a log that cannot be
written never holds up the camera loop or a request."""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys


class QueuedLogs:
    """Log records go through a queue to one thread that writes them, so a
    stderr that blocks (a pipe nobody reads, a stalled journal) holds up that
    thread only, never the camera loop or a request. The queue is bounded:
    while the writer is stuck, records beyond it are counted and dropped."""

    LIMIT = 10_000

    def __init__(self, level: int, stream=None):
        self.queue: queue.Queue = queue.Queue(self.LIMIT)
        self.dropped = 0
        writer = logging.StreamHandler(stream if stream is not None else sys.stderr)
        writer.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.handler = _DroppingQueueHandler(self)
        self.listener = logging.handlers.QueueListener(self.queue, writer)
        root = logging.getLogger()
        root.addHandler(self.handler)
        root.setLevel(level)
        # Every request at INFO would be a line each (/status is polled every second); errors still show.
        logging.getLogger("werkzeug").setLevel(max(level, logging.WARNING))
        self.listener.start()

    def stop(self, wait: float = 1.0) -> None:
        """Stop taking records and write what is queued, waiting at most ``wait``
        seconds for a stuck stream (QueueListener.stop would wait for ever)."""
        logging.getLogger().removeHandler(self.handler)
        thread, self.listener._thread = self.listener._thread, None
        if thread is None:
            return
        try:
            self.queue.put(self.listener._sentinel, timeout=wait)
        except queue.Full:
            return
        thread.join(wait)  # a daemon thread: a stream stuck for good does not keep the process alive


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    def __init__(self, logs: QueuedLogs):
        super().__init__(logs.queue)
        self.logs = logs

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if dropped := self.logs.dropped:  # the writer moves again: say what it missed, first
                note = f"{dropped} log records were dropped while the log could not be written"
                self.queue.put_nowait(logging.LogRecord("kiosk", logging.WARNING, __file__, 0, note, None, None))
                self.logs.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.logs.dropped += 1


def start_logging(level: int, stream=None) -> QueuedLogs:
    """The process's logging at ``level``, queued; call ``stop()`` on the result before exiting."""
    return QueuedLogs(level, stream)
