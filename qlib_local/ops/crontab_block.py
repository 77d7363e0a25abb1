"""The crontab text for a set of jobs, and installing it as one marked block.

The block sits between two marker lines and is the only part of the user's crontab ever
touched: install removes the old block and appends the new one at the end (so a
``CRON_TZ`` inside it cannot shift the user's own lines), uninstall removes it. The
user's lines are kept byte for byte. The target is the user's crontab (``crontab -l`` /
``crontab -``), or a plain file given by ``--crontab-file`` or ``$QLIB_LOCAL_CRONTAB``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from crontab import CronTab

from qlib_local.errors import QlibError
from qlib_local.ops.cron import cron_timing
from qlib_local.ops.plan import Job

CRONTAB_ENV = "QLIB_LOCAL_CRONTAB"
BEGIN = "# >>> qlib-local schedule >>>"
END = "# <<< qlib-local schedule <<<"
TZ_MODES = ("auto", "utc", "cron-tz", "convert")


class CrontabError(QlibError):
    """The crontab cannot be read or written, or our block in it is damaged."""


@dataclass(frozen=True)
class TzPlan:
    """How UTC times reach cron: as they are, via ``CRON_TZ=UTC``, or shifted to local time."""

    mode: str  # utc | cron-tz | convert
    shift_min: int = 0  # minutes east of UTC when converting
    note: str = ""


def machine_offsets(days: int = 366) -> set[int]:
    """The local zone's UTC offsets (minutes east) over the next year, one sample per day."""
    now = time.time()
    return {time.localtime(now + d * 86400).tm_gmtoff // 60 for d in range(days + 1)}


def _fmt_offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h:02d}:{m:02d}"


def tz_plan(mode: str = "auto", offsets: set[int] | None = None) -> TzPlan:
    """Pick how to keep the schedule in UTC on this machine and say so.

    A zone with one offset all year is converted exactly; one with daylight saving time
    cannot be (the lines would be an hour off for half the year), so ``CRON_TZ=UTC`` is
    used, which cronie and systemd-cron honour.
    """
    if mode not in TZ_MODES:
        raise CrontabError(f"--tz must be one of {', '.join(TZ_MODES)}, got {mode!r}")
    offsets = machine_offsets() if offsets is None else offsets
    if mode == "cron-tz":
        return TzPlan("cron-tz", 0, "times are UTC via CRON_TZ=UTC (needs a cron that honours CRON_TZ, e.g. cronie)")
    if mode == "utc" or (mode == "auto" and offsets == {0}):
        if offsets != {0}:
            raise CrontabError("--tz utc: this machine's zone is not UTC; use --tz auto, cron-tz or convert")
        return TzPlan("utc", 0, "times are UTC (this machine's zone is UTC)")
    if len(offsets) == 1:
        (shift,) = offsets
        return TzPlan("convert", shift,
                      f"times are UTC converted to this machine's zone ({_fmt_offset(shift)}, no daylight saving)")
    if mode == "convert":
        raise CrontabError(
            "--tz convert: this machine's zone changes offset during the year (daylight saving); "
            "use --tz cron-tz or set the machine's zone to UTC"
        )
    return TzPlan("cron-tz", 0,
                  "times are UTC via CRON_TZ=UTC because this machine's zone has daylight saving "
                  "(needs a cron that honours CRON_TZ, e.g. cronie; otherwise set the zone to UTC)")


def render_block(jobs: list[Job], tz: TzPlan, source: str = "", lead_s: int | None = None) -> str:
    """The marked block: header comments saying what the times mean, then each job's lines."""
    out = [BEGIN,
           "# Managed by `qlib-local schedule --install`; edits between the markers are overwritten.",
           f"# {tz.note[0].upper()}{tz.note[1:]}." if tz.note else "# Times are UTC."]
    if source:
        out.append(f"# From {source}" + (f", --lead {lead_s} s." if lead_s is not None else "."))
    out += ["# Cron has minute resolution: a job due at (bar close - lead) fires at the minute before",
            "# and sleeps the remaining seconds; a live notebook then waits for the close itself.",
            "# Collectors run at the close (no lead); a close with several strategies runs once."]
    if tz.mode == "cron-tz":
        out.append("CRON_TZ=UTC")
    for job in jobs:
        timing = cron_timing(job.schedules, job.lead_s, tz.shift_min)
        closes = ", ".join(sorted({f"{s.rule}+{s.offset}" for s in job.schedules}))
        when = f"{job.lead_s} s before" if job.lead_s else "at"
        out.append(f"# {job.name}: {when} each close of {closes}"
                   + (f" (cron fires at the minute before, then sleep {timing.sleep_s})" if timing.sleep_s else ""))
        if job.note:
            out.append(f"# NOTE: {job.note}")
        cmd = job.shell(timing.sleep_s)
        out += [f"{spec} {cmd}" for spec in timing.specs()]
    out.append(END)
    text = "\n".join(out) + "\n"
    _validate(text, sum(1 for line in out if line and not line.startswith("#") and "=" not in line.split()[0]))
    return text


def _validate(text: str, expected_jobs: int) -> None:
    """python-crontab must read back every job line as a valid schedule."""
    items = list(CronTab(tab=text))
    bad = [str(i) for i in items if not i.is_valid() or not i.is_enabled()]
    if bad or len(items) != expected_jobs:
        raise CrontabError(f"generated crontab lines do not parse: {bad or text}")


def split_block(text: str) -> tuple[str, str | None]:
    """(the crontab without our block, our block or None); refuses a half-present block."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == END]
    if not starts and not ends:
        return text, None
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise CrontabError(
            f"the crontab's qlib-local block is damaged ({len(starts)} begin and {len(ends)} end markers); "
            "fix it with `crontab -e` and run again"
        )
    s, e = starts[0], ends[0]
    return "".join(lines[:s] + lines[e + 1:]), "".join(lines[s:e + 1])


def with_block(text: str, block: str | None) -> str:
    """``text`` with our block replaced by ``block`` (appended at the end) or removed."""
    rest, _ = split_block(text)
    if block is None:
        return rest
    if rest and not rest.endswith("\n"):
        rest += "\n"
    return rest + block


class CrontabTarget:
    """Reads and writes the whole crontab: a file, or the user's via the ``crontab`` command."""

    def __init__(self, file: str | Path | None = None):
        file = file or os.environ.get(CRONTAB_ENV) or None
        self.file = Path(file) if file else None

    def describe(self) -> str:
        return str(self.file) if self.file else "the user's crontab"

    def read(self) -> str:
        if self.file is not None:
            return self.file.read_text() if self.file.exists() else ""
        proc = subprocess.run([self._crontab(), "-l"], capture_output=True, text=True)
        if proc.returncode != 0:
            if "no crontab" in proc.stderr.lower():
                return ""
            raise CrontabError(f"crontab -l failed: {proc.stderr.strip()}")
        return proc.stdout

    def write(self, text: str) -> None:
        if self.file is not None:
            tmp = self.file.with_name(self.file.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.file)
            return
        proc = subprocess.run([self._crontab(), "-"], input=text, capture_output=True, text=True)
        if proc.returncode != 0:
            raise CrontabError(f"crontab - failed: {proc.stderr.strip()}")

    @staticmethod
    def _crontab() -> str:
        exe = shutil.which("crontab")
        if exe is None:
            raise CrontabError(
                "no `crontab` command on this machine: install cron, pass --crontab-file, "
                "or run `qlib-local serve` instead"
            )
        return exe


def install(target: CrontabTarget, block: str) -> bool:
    """Write ``block`` in place of our old one; True when something changed."""
    old = target.read()
    new = with_block(old, block)
    if new != old:
        target.write(new)
    return new != old


def uninstall(target: CrontabTarget) -> bool:
    """Remove our block; True when there was one."""
    old = target.read()
    _, block = split_block(old)
    if block is None:
        return False
    target.write(with_block(old, None))
    return True
