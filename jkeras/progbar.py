"""A Keras-style progress bar: steps, elapsed time, ETA, loss and metrics.

On a terminal (``verbose=1``) the bar redraws in place at most every ``interval`` seconds;
it reads the metric values only when it redraws, so a training loop whose values live on
the device is synchronised a few times a second, not at every step. When the output is not
a terminal (a log file, CI) and with ``verbose=2``, it prints one line when it finishes.
"""
import math
import sys
import time


def _format_value(value):
    value = float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 or value == 0 else f"{value:.4e}"


def _format_per_step(seconds, unit):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_eta(seconds):
    if seconds > 3600:
        return f"{seconds // 3600:.0f}:{(seconds % 3600) // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds > 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


def is_terminal(stream):
    """Whether ``stream`` is an interactive terminal (redraw in place) or not (log lines).

    >>> import io
    >>> is_terminal(io.StringIO())
    False
    """
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progbar:
    """A progress bar over ``target`` steps (``None`` if unknown).

    ``update(current, values)`` takes the steps done so far and a mapping of
    ``name -> value`` (running averages, shown as they are). Values are read only when
    the bar is drawn.

    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progbar(10, verbose=2, file=out)
    >>> bar.update(10, {"loss": 0.5})
    >>> out.getvalue().startswith("10/10 - ")
    True
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step",
                 file=None):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.file = file if file is not None else sys.stdout
        self.dynamic = is_terminal(self.file)
        self._start = time.time()
        self._first = None  # (time, steps) at the first update: the first step compiles
        self._last_draw = 0.0
        self._drawn_width = 0
        self._finished = False

    def _time_per_step(self, current, now):
        # As Keras: leave the first update's steps (and their compilation) out of the rate.
        if self._first is not None and current > self._first[1]:
            return (now - self._first[0]) / (current - self._first[1])
        return (now - self._start) / current if current else 0.0

    @property
    def live(self):
        """Whether intermediate updates are drawn (a ``verbose=1`` bar on a terminal).

        >>> import io
        >>> Progbar(10, file=io.StringIO()).live
        False
        """
        return self.verbose == 1 and self.dynamic

    def update(self, current, values=None, finalize=None):
        """Records progress; draws when due (or when ``finalize``, by default at target)."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or self._finished:
            return
        now = time.time()
        if self._first is None and current:
            self._first = (now, current)
        if not finalize:
            # Only a live terminal bar shows intermediate progress, and not too often.
            if not self.live or now - self._last_draw < self.interval:
                return
        self._last_draw = now
        line = self._line(current, values or {}, now, finalize)
        if self.verbose == 1 and self.dynamic:
            pad = max(self._drawn_width - len(line), 0)
            self.file.write("\r" + line + " " * pad + ("\n" if finalize else ""))
            self._drawn_width = len(line)
        else:
            self.file.write(line + "\n")
        self.file.flush()
        self._finished = finalize

    def _line(self, current, values, now, finalize):
        per_step = self._time_per_step(current, now)
        elapsed = f"{now - self._start:.0f}s"
        if self.target:
            digits = int(math.log10(self.target)) + 1
            count = f"{current:{digits}d}/{self.target}"
        else:
            count = f"{current}/Unknown"
        if self.verbose == 1:
            parts = [count]
            if self.target:
                done = int(self.width * min(current / self.target, 1.0))
                parts.append("━" * done + "─" * (self.width - done))
            remaining = self.target - current if self.target else 0
            timing = elapsed if finalize or not self.target else _format_eta(per_step * remaining)
            head = " ".join(parts) + f" {timing} {_format_per_step(per_step, self.unit_name)}"
        else:
            head = f"{count} - {elapsed} - {_format_per_step(per_step, self.unit_name)}"
        items = list(values.items())
        return head + "".join(f" - {k}: {_format_value(v)}" for k, v in items)
