"""Ctrl-C that never lands in the middle of a train-state update.

A jitted step donates its input train state: once it is dispatched, the old state is gone
and the new one exists only as the call's return value until Python stores it. A
``KeyboardInterrupt`` raised in between (CPython checks for signals right after a call
returns) would lose both. :func:`deferred` holds SIGINT back for such stretches: the
signal is recorded and raised as soon as the stretch ends, at a point where the model is
whole. :func:`allowed` opens a window inside a deferred stretch (user callbacks, reading
the user's data) where Ctrl-C acts at once.

Only the main thread receives Python signals, so elsewhere (and when SIGINT is ignored or
left to the OS) both are no-ops.

>>> with deferred():
...     pass   # a Ctrl-C here would be raised on leaving the block
"""
import signal
import threading

# ``signal``'s wrappers turn handlers into enums and back, through exceptions: ~45 us per
# block, a third of ``train_on_batch``'s host work. Its C core does the same in ~2 us.
import _signal


class _Guard:
    """The SIGINT handler while any :func:`deferred` block runs, and what it holds back."""

    def __init__(self):
        self.depth = 0          # nested blocks of either kind
        self.open = True        # whether a signal is raised at once
        self.original = None    # the handler to restore and to deliver with
        self.pending = None     # (signum, frame) of a signal held back

    def handle(self, signum, frame):
        if self.open:
            self.original(signum, frame)
        else:
            self.pending = (signum, frame)

    def deliver(self):
        (signum, frame), self.pending = self.pending, None
        self.original(signum, frame)


_guard = _Guard()


class _Mode:
    """Enters a deferred (``open=False``) or allowed (``open=True``) stretch."""

    __slots__ = ("open", "saved", "active")

    def __init__(self, open_):
        self.open = open_

    def __enter__(self):
        g = _guard
        self.active = g.depth > 0 or self._install(g)
        if self.active:
            g.depth += 1
            self.saved, g.open = g.open, self.open
            if g.open and g.pending is not None:  # held back until now: raise it here,
                self.__exit__()                   # leaving as if never entered
                g.deliver()
        return self

    def __exit__(self, *exc):
        if not self.active:
            return
        g = _guard
        g.open = self.saved
        g.depth -= 1
        if g.depth == 0:
            _signal.signal(signal.SIGINT, g.original)
            g.open = True
        if g.open and g.pending is not None:
            g.deliver()

    @staticmethod
    def _install(g):
        if threading.current_thread() is not threading.main_thread():
            return False
        handler = _signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIG_IGN / SIG_DFL: nothing for Python to defer
            return False
        g.original, g.pending, g.open = handler, None, True
        _signal.signal(signal.SIGINT, g.handle)
        return True


def deferred():
    """A block in which SIGINT is held back and raised when the block ends.

    >>> with deferred():
    ...     state = ("weights", "optimizer state")   # both or neither
    """
    return _Mode(False)


def allowed():
    """Inside a :func:`deferred` block, a stretch where SIGINT acts at once (and one held
    back until now is raised on entry).

    >>> with deferred():
    ...     with allowed():
    ...         pass   # user code: Ctrl-C interrupts it
    """
    return _Mode(True)
