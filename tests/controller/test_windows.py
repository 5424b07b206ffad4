"""Change windows and freezes with the clock stood at the moments that break naive code: DST days in Europe/Berlin
(2026-03-29: 02:00 CET -> 03:00 CEST at 01:00Z; 2026-10-25: 03:00 CEST -> 02:00 CET at 01:00Z) and midnight."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollouts.controller.app import Settings
from rollouts.controller.windows import change_window_verdict, freeze_verdict

from .controller_server import config_doc, flagger_payload, running


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(days: list[str], start: str, end: str, zone: str = "Europe/Berlin") -> dict[str, Any]:
    return {"days": days, "start": start, "end": end, "timeZone": zone}


def is_open(windows: list[dict[str, Any]], now: str) -> bool:
    return bool(change_window_verdict(windows, at(now)).allow)


def reason(windows: list[dict[str, Any]], now: str) -> str:
    return str(change_window_verdict(windows, at(now)).reason)


SUNDAY_OFFICE = [window(["Sun"], "09:00", "17:00")]


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-03-22T07:59:00", False), ("2026-03-22T08:00:00", True),  # winter: 09:00 CET = 08:00Z
    ("2026-03-22T15:59:00", True), ("2026-03-22T16:00:00", False),
    ("2026-03-29T06:59:00", False), ("2026-03-29T07:00:00", True),  # the DST day: 09:00 CEST = 07:00Z
    ("2026-03-29T14:59:00", True), ("2026-03-29T15:00:00", False),
    ("2026-10-25T07:59:00", False), ("2026-10-25T08:00:00", True),  # back to CET on the day it changes
])
def test_a_window_follows_the_local_wall_clock_across_dst(now: str, expected: bool) -> None:
    assert is_open(SUNDAY_OFFICE, now) is expected


def test_the_next_opening_is_named_in_local_time_with_the_delay() -> None:
    weekdays = [window(["Mon", "Tue"], "09:00", "17:00")]
    assert reason(weekdays, "2026-12-06T17:57:00") == ("outside every change window: next opens Mon 09:00 "
                                                       "Europe/Berlin (in 14h 3m)")
    # the Saturday before the spring-forward Sunday: 09:00 CEST on Sunday is 07:00Z, 23h after Saturday 08:00Z
    assert reason(SUNDAY_OFFICE, "2026-03-28T08:00:00") == ("outside every change window: next opens Sun 09:00 "
                                                            "Europe/Berlin (in 23h 0m)")


def test_a_start_inside_the_spring_forward_gap_opens_when_the_clock_jumps() -> None:
    night = [window(["Sun"], "02:30", "04:00")]  # 02:30 does not exist on 2026-03-29 in Berlin
    assert reason(night, "2026-03-29T00:59:00") == ("outside every change window: next opens Sun 03:00 "
                                                    "Europe/Berlin (in 1m)")
    assert is_open(night, "2026-03-29T01:00:00")  # 03:00 CEST
    assert is_open(night, "2026-03-29T01:59:00")
    assert not is_open(night, "2026-03-29T02:00:00")  # 04:00 CEST


def test_the_repeated_autumn_hour_is_judged_on_the_wall_clock_both_times() -> None:
    early = [window(["Sun"], "01:00", "02:30")]
    assert is_open(early, "2026-10-25T00:15:00")  # 02:15 CEST
    assert not is_open(early, "2026-10-25T00:45:00")  # 02:45 CEST
    assert is_open(early, "2026-10-25T01:15:00")  # 02:15 CET: the wall clock shows 02:15 again
    assert not is_open(early, "2026-10-25T01:30:00")  # 02:30 CET


def test_a_window_whose_end_is_before_its_start_crosses_midnight() -> None:
    night = [window(["Fri"], "22:00", "02:00", "UTC")]  # 2026-12-04 is a Friday
    assert not is_open(night, "2026-12-04T21:59:00")
    assert is_open(night, "2026-12-04T22:00:00")
    assert is_open(night, "2026-12-05T01:59:00")  # Saturday morning, still Friday's window
    assert not is_open(night, "2026-12-05T02:00:00")
    assert not is_open(night, "2026-12-05T23:00:00")  # Saturday night: Saturday is not listed
    assert reason(night, "2026-12-05T02:00:00") == ("outside every change window: next opens Fri 22:00 UTC "
                                                    "(in 6d 20h 0m)")


def test_a_night_window_on_the_dst_night_closes_by_the_wall_clock() -> None:
    night = [window(["Sat"], "22:00", "06:00")]  # Saturday 2026-03-28 22:00 CET to Sunday 06:00 CEST
    assert is_open(night, "2026-03-28T21:00:00")  # 22:00 CET
    assert is_open(night, "2026-03-29T03:59:00")  # 05:59 CEST
    assert not is_open(night, "2026-03-29T04:00:00")  # 06:00 CEST, one hour earlier in UTC than in winter


def test_the_earliest_next_opening_among_several_windows_is_named() -> None:
    windows = [window(["Wed"], "09:00", "10:00"), window(["Mon"], "13:00", "14:00", "America/New_York")]
    # Sunday 2026-12-06 12:00Z: Monday 13:00 New York (18:00Z) comes before Wednesday 09:00 Berlin
    assert reason(windows, "2026-12-06T12:00:00") == ("outside every change window: next opens Mon 13:00 "
                                                      "America/New_York (in 1d 6h 0m)")


def test_an_unknown_time_zone_denies_with_the_zone_named() -> None:
    verdict = change_window_verdict([window(["Mon"], "09:00", "17:00"), window(["Mon"], "09:00", "17:00",
                                                                                "Mars/Olympus_Mons")],
                                    at("2026-12-07T09:00:00"))
    assert not verdict.allow
    assert verdict.reason == ("unknown time zone 'Mars/Olympus_Mons' in changeWindows[1]: cannot tell whether the "
                              "window is open")


FREEZES = [
    {"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "reason": "year-end freeze"},
    {"start": "2026-12-31T00:00:00Z", "end": "2027-01-06T00:00:00Z", "reason": "new-year incident review"},
]


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-12-19T23:59:59", "no freeze in effect"),
    ("2026-12-20T00:00:00", "change freeze until 2027-01-04T00:00:00Z (in 15d 0h 0m): year-end freeze"),
    ("2027-01-01T12:00:00", "change freeze until 2027-01-06T00:00:00Z (in 4d 12h 0m): new-year incident review"),
    ("2027-01-06T00:00:00", "no freeze in effect"),
])
def test_a_freeze_denies_from_its_start_until_its_end(now: str, expected: str) -> None:
    verdict = freeze_verdict(FREEZES, at(now))
    assert (verdict.allow, verdict.reason) == (expected == "no freeze in effect", expected)


def test_confirm_rollout_over_http_with_the_clock_on_the_dst_day(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_doc({"shop/checkout": {"service": "checkout",
                                                               "changeWindows": SUNDAY_OFFICE}})))
    moments = iter([at("2026-03-29T06:59:00"), at("2026-03-29T07:00:00")])
    with running(Settings(config=str(config), clock=lambda: next(moments), operator_state=False)) as url:
        before = httpx.post(f"{url}/webhooks/confirm-rollout", content=flagger_payload(phase="Waiting"))
        after = httpx.post(f"{url}/webhooks/confirm-rollout", content=flagger_payload(phase="Waiting"))
    assert (before.status_code, before.text) == (403, "outside every change window: next opens Sun 09:00 "
                                                      "Europe/Berlin (in 1m)")
    assert (after.status_code, after.text) == (200, "no freeze in effect; inside change window Sun 09:00-17:00 "
                                                    "Europe/Berlin; operator state not used by this controller")
