"""What the benchmarks share: interleaved timing, paired ratios, compiled-program identity."""
import re
import statistics


def time_blocks(runners, rounds):
    """Runs each runner once per round, alternating (the order turns round each round);
    returns every runner's list of times, one per round."""
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(runners[name]())
    return times


def summary(times, name, reference):
    """(median of ``name``, median of ``reference``, median of their per-round ratios)."""
    a, b = times[name], times[reference]
    return (statistics.median(a), statistics.median(b),
            statistics.median(x / y for x, y in zip(a, b)))


def normalized_hlo(text):
    """A compiled program's instructions, without names, metadata or source locations."""
    text = re.sub(r",? (metadata|frontend_attributes|backend_config)=\{[^}]*\}", "", text)
    text = re.sub(r"%[\w.\-]+", "%", text)
    text = re.sub(r"\b\w+\.\d+\b", "N", text)
    return [line.strip() for line in text.splitlines()
            if " = " in line or line.rstrip().endswith("{")]
