"""A client of the Prometheus HTTP API (``/api/v1/query`` and ``/api/v1/query_range``), for ``rollouts backtest``
and ``rollouts plan --prometheus``. Standard library only; queries go as POST forms (no URL length limit).

A query Prometheus refuses raises :class:`QueryError` (the caller names the spec's line); a Prometheus that cannot
be reached raises :class:`~generator.errors.RolloutsError`."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import RolloutsError

MAX_POINTS = 10_000  # steps per query_range request: Prometheus refuses more than 11,000 points per series


class QueryError(Exception):
    """Prometheus refused a query (bad PromQL, too many points, a timeout): its own message."""


class Prometheus:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RolloutsError(f"--prometheus {url}: not an http(s) URL",
                                "Give the URL of the Prometheus server, such as http://127.0.0.1:9090.")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, form: dict[str, str]) -> Any:
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.url + path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as e:
            try:
                answer = json.load(e)
            except ValueError:
                answer = {"error": f"HTTP {e.code} {e.reason}"}
            if e.code in (400, 422, 503):
                raise QueryError(str(answer.get("error") or f"HTTP {e.code}")) from None
            raise RolloutsError(f"Prometheus at {self.url} answered HTTP {e.code}: {answer.get('error', '')}",
                                "Check --prometheus: the URL of the Prometheus server itself.") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise RolloutsError(f"cannot reach Prometheus at {self.url}: {reason}",
                                "Check --prometheus and that the server is up (curl URL/-/ready).") from None
        except ValueError:
            raise RolloutsError(f"{self.url} did not answer with the Prometheus API's JSON",
                                "Check --prometheus: the URL of the Prometheus server itself.") from None
        if answer.get("status") != "success":
            raise QueryError(str(answer.get("error") or answer))
        return answer["data"]

    def query(self, query: str, at: float) -> float | None:
        """One instant query's value, as Flagger reads it (the last series; None when empty or NaN)."""
        data = self._post("/api/v1/query", {"query": query, "time": _stamp(at)})
        value = None
        for series in data.get("result") or []:
            value = float(series["value"][1])
        return None if value is None or math.isnan(value) else value

    def query_range(self, query: str, start: float, step: float, count: int) -> list[float]:
        """``count`` values at start, start + step, ...: NaN where Prometheus has none. Of several series, the
        last one with a value at a step counts, as Flagger takes the last series of its instant query. One
        request; the caller splits longer ranges into MAX_POINTS steps."""
        if count > MAX_POINTS:
            raise ValueError(f"{count} points in one request (at most {MAX_POINTS})")
        data = self._post("/api/v1/query_range", {"query": query, "start": _stamp(start),
                                                  "end": _stamp(start + (count - 1) * step), "step": _stamp(step)})
        values = [math.nan] * count
        for series in data.get("result") or []:
            for stamp, value in series.get("values") or ():
                index = round((float(stamp) - start) / step)
                if 0 <= index < count:
                    values[index] = float(value)
        return values


def _stamp(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


__all__ = ["MAX_POINTS", "Prometheus", "QueryError"]
