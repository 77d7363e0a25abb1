"""An independent reading of five-field cron lines (as Vixie cron/cronie read them), for tests."""

from __future__ import annotations


def field_values(text: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a, b = (int(x) for x in rng.split("-"))
        else:
            a = int(rng)
            b = hi if step_s else a
        assert lo <= a <= b <= hi, part
        out.update(range(a, b + 1, step))
    return out


def fire_times(spec: str, start_min: int, end_min: int) -> list[int]:
    """Minutes since the epoch (in the crontab's own zone) in [start, end) at which ``spec`` fires."""
    minute, hour, dom, month, dow = spec.split()
    assert (dom, month, dow) == ("*", "*", "*"), spec
    mins, hours = field_values(minute, 0, 59), field_values(hour, 0, 23)
    return [t for t in range(start_min, end_min) if t % 60 in mins and (t // 60) % 24 in hours]
