"""Change windows and freezes: the confirm-rollout checks that say when a rollout may start.

A change window (``days``, ``start``, ``end`` as HH:MM, ``timeZone`` IANA, default UTC) is open when the local wall
time of a listed day is in [start, end). A window whose end is before its start crosses midnight: it opens on the
listed day and closes on the next. Wall time makes DST right without arithmetic: 09:00 Europe/Berlin is 08:00 UTC in
winter and 07:00 UTC in summer, and a start that falls in a spring-forward gap opens when the clock jumps past it.
A freeze is an absolute range in UTC with a reason; while one is on, nothing starts, whatever the windows say.

Fail closed: a zone the controller does not know denies, naming the zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import parse_instant
from .decision import Call, Input, Verdict

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LOOKAHEAD_DAYS = 8  # every weekly window opens within a week; one more day covers the week's end


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as date.weekday()
    start: time
    end: time
    zone_name: str
    zone: ZoneInfo
    label: str  # "Mon,Tue 09:00-17:00 Europe/Berlin", for reasons and evidence

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


class UnknownZone(Exception):
    def __init__(self, zone: str, index: int) -> None:
        super().__init__(zone)
        self.zone = zone
        self.index = index


_parsed: dict[int, tuple[list[dict[str, Any]], list[Window]]] = {}  # id(raw) -> (raw, its windows)


def parse_windows(raw: list[dict[str, Any]]) -> list[Window]:
    """The config's changeWindows (validated on load) -> Windows. Raises UnknownZone for a zone zoneinfo lacks.
    Memoised per list: a loaded config is never changed in place (a reload builds new lists), and the memo holds
    ``raw`` itself so its id cannot be reused while the entry lives."""
    hit = _parsed.get(id(raw))
    if hit is not None and hit[0] is raw:
        return hit[1]
    out = []
    for i, w in enumerate(raw):
        zone_name = w.get("timeZone", "UTC")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UnknownZone(zone_name, i) from None
        start, end = _hhmm(w["start"]), _hhmm(w["end"])
        days = ",".join(d for d in DAYS if d in w["days"])
        out.append(Window(frozenset(DAYS.index(d) for d in w["days"]), start, end, zone_name, zone,
                          f"{days} {w['start']}-{w['end']} {zone_name}"))
    if len(_parsed) >= 4096:  # reloads leave old lists behind: start over rather than grow
        _parsed.clear()
    _parsed[id(raw)] = (raw, out)
    return out


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def is_open(window: Window, now: datetime) -> bool:
    """Is ``now`` (aware) inside the window, judged on the local wall clock?"""
    wall = now.astimezone(window.zone).replace(tzinfo=None)
    today = wall.date()
    for day in (today - timedelta(days=1), today):  # yesterday's window may cross into today
        if day.weekday() not in window.days:
            continue
        opens = datetime.combine(day, window.start)
        closes = datetime.combine(day + timedelta(days=1) if window.crosses_midnight else day, window.end)
        if opens <= wall < closes:
            return True
    return False


def next_opening(window: Window, now: datetime) -> datetime | None:
    """The first instant after ``now`` at which the window opens (aware, in the window's zone), within a week."""
    today = now.astimezone(window.zone).date()
    for offset in range(_LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        opens = first_instant_at(day, window.start, window.zone)
        if opens > now:
            return opens
    return None


def first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the local wall clock shows ``day`` ``wall`` or later: the earlier one when the
    time occurs twice (autumn), the moment the clock jumps when it does not occur (a spring-forward gap)."""
    naive = datetime.combine(day, wall)
    earlier = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if earlier.astimezone(zone).replace(tzinfo=None) == naive:
        return earlier.astimezone(zone)
    # in a gap: fold=0 and fold=1 bracket the jump; find the first instant whose wall time is >= naive
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = earlier
    if low > high:
        low, high = high, low
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0).astimezone(zone)


def until(later: datetime, now: datetime) -> str:
    """A short human delay: ``14h 3m``, ``2d 1h 0m``, ``45s``."""
    seconds = int((later - now).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, _ = divmod(seconds, 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def change_window_verdict(raw: list[dict[str, Any]], now: datetime) -> Verdict:
    """Allow when some window is open at ``now``; else deny with when and where the next one opens."""
    try:
        windows = parse_windows(raw)
    except UnknownZone as e:
        return Verdict.deny("change-window", f"unknown time zone {e.zone!r} in changeWindows[{e.index}]: "
                            "cannot tell whether the window is open",
                            (Input("change-window", threshold=e.zone, passed=False, detail="unknown time zone"),))
    for window in windows:
        if is_open(window, now):
            return Verdict.ok("change-window", f"inside change window {window.label}",
                              (Input("change-window", threshold=window.label, detail="open"),))
    openings = [(o, w) for w in windows if (o := next_opening(w, now)) is not None]
    described = "; ".join(w.label for w in windows)
    if not openings:
        reason = "outside every change window, and none opens within a week"
    else:
        opens, window = min(openings, key=lambda pair: pair[0])
        reason = (f"outside every change window: next opens {opens:%a %H:%M} {window.zone_name} "
                  f"(in {until(opens, now)})")
    return Verdict.deny("change-window", reason,
                        (Input("change-window", threshold=described, passed=False, detail="closed"),))


def freeze_verdict(raw: list[dict[str, Any]], now: datetime) -> Verdict:
    """Deny while a freeze is on; when several overlap, name the one that ends last (it is the one to wait for)."""
    active = []
    for freeze in raw:
        start, end = parse_instant(freeze["start"]), parse_instant(freeze["end"])
        if start <= now < end:
            active.append((end, freeze.get("reason", "")))
    if not active:
        return Verdict.ok("freeze", "no freeze in effect")
    end, why = max(active, key=lambda pair: pair[0])
    until_text = end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reason = f"change freeze until {until_text} (in {until(end, now)})" + (f": {why}" if why else "")
    return Verdict.deny("freeze", reason, (Input("freeze", threshold=until_text, passed=False, detail=why),))


def check_change_window(call: Call) -> Verdict:
    """confirm-rollout: a rollout starts only inside one of the service's change windows (none configured: pass)."""
    raw = call.service.get("changeWindows") or []
    if not raw:
        return Verdict.ok("change-window", "no change windows configured")
    return change_window_verdict(raw, call.now)


def check_freeze(call: Call) -> Verdict:
    """confirm-rollout: no rollout starts during a freeze."""
    return freeze_verdict(call.service.get("freezes") or [], call.now)
