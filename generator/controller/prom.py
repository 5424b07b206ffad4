"""An async client for Prometheus's HTTP API (``/api/v1/query``, ``/api/v1/query_range``), as the checks need it.

Every failure (HTTP error, timeout, connection refused, ``status`` other than ``success``, a body that is not the
API's JSON) raises :class:`PrometheusError` with a one-line reason, so a check can deny with it: the controller
fails closed when Prometheus cannot answer. Concurrency is bounded by a semaphore, so a burst of webhook calls
never opens more than ``concurrency`` requests at once, and the whole call (the wait for a slot included) is held
to ``timeout``. Nothing here logs: neither results nor request headers.

Values arrive as strings (``"1.5"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"``); they are parsed to floats, NaN included,
and the callers decide what NaN means (usually "no data": ``0/0``).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class PrometheusError(Exception):
    """Prometheus could not answer a query; ``reason`` is one line, fit for a denial."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: dict[str, str]
    time: float
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its ``(time, value)`` points in time order."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]


def parse_value(text: Any) -> float:
    """A sample value as the API writes it: ``"1.5"``, ``"NaN"``, ``"+Inf"``, ``"-Inf"``."""
    if not isinstance(text, str):
        raise PrometheusError(f"bad sample value {text!r} (expected a string)")
    try:
        return float(text)
    except ValueError:
        raise PrometheusError(f"bad sample value {text!r}") from None


def _point(pair: Any) -> tuple[float, float]:
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], int | float):
        raise PrometheusError(f"bad sample {str(pair)[:60]!r} (expected [time, \"value\"])")
    return float(pair[0]), parse_value(pair[1])


def _labels(item: Any) -> dict[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("metric", {}), dict):
        raise PrometheusError("bad result element (expected an object with a metric map)")
    return {str(k): str(v) for k, v in item.get("metric", {}).items()}


def parse_vector(data: Any) -> list[Sample]:
    """``data`` of an instant query: a vector, or a scalar (returned as one unlabelled sample)."""
    kind, result = _result(data)
    if kind == "scalar":
        time, value = _point(result)
        return [Sample({}, time, value)]
    if kind != "vector":
        raise PrometheusError(f"expected a vector, Prometheus answered a {kind}")
    samples = []
    for item in result:
        time, value = _point(item.get("value") if isinstance(item, dict) else None)
        samples.append(Sample(_labels(item), time, value))
    return samples


def parse_matrix(data: Any) -> list[Series]:
    """``data`` of a range query: a matrix."""
    kind, result = _result(data)
    if kind != "matrix":
        raise PrometheusError(f"expected a matrix, Prometheus answered a {kind}")
    series = []
    for item in result:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise PrometheusError("bad matrix element (expected values)")
        series.append(Series(_labels(item), tuple(_point(pair) for pair in values)))
    return series


def _result(data: Any) -> tuple[str, Any]:
    if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
        raise PrometheusError("bad answer: data has no resultType/result")
    kind, result = data["resultType"], data["result"]
    if kind in ("vector", "matrix") and not isinstance(result, list):
        raise PrometheusError(f"bad answer: a {kind} that is not a list")
    return str(kind), result


def finite(values: list[float]) -> list[float]:
    """The values that are numbers (NaN dropped; infinities kept: they are real, extreme observations)."""
    return [v for v in values if not math.isnan(v)]


class Prometheus:
    """One Prometheus server. ``timeout`` (seconds) bounds every call, the wait for a free slot included;
    ``concurrency`` bounds the requests in flight. Pass ``client`` to share a connection pool (then the caller
    closes it); otherwise :meth:`aclose` closes the client made here."""

    def __init__(self, address: str, timeout: float, client: httpx.AsyncClient | None = None,
                 concurrency: int = 16) -> None:
        self.address = address.rstrip("/")
        self.timeout = timeout
        self._client = client or httpx.AsyncClient()
        self._owns_client = client is None
        self._slots = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def query(self, promql: str, time: float | None = None) -> list[Sample]:
        """An instant query at ``time`` (Unix seconds; Prometheus's now when None)."""
        params = {"query": promql}
        if time is not None:
            params["time"] = _timestamp(time)
        return parse_vector(await self._get("/api/v1/query", params))

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query from ``start`` to ``end`` (Unix seconds) every ``step`` seconds."""
        params = {"query": promql, "start": _timestamp(start), "end": _timestamp(end), "step": f"{step:g}"}
        return parse_matrix(await self._get("/api/v1/query_range", params))

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        params = {**params, "timeout": f"{self.timeout:g}s"}
        try:
            async with asyncio.timeout(self.timeout), self._slots:
                response = await self._client.get(self.address + path, params=params, timeout=self.timeout)
        except TimeoutError:
            raise PrometheusError(f"prometheus at {self.address} did not answer within {self.timeout:g}s") from None
        except httpx.TimeoutException:
            raise PrometheusError(f"prometheus at {self.address} did not answer within {self.timeout:g}s") from None
        except httpx.ConnectError as error:
            raise PrometheusError(f"cannot reach prometheus at {self.address}: {_first_line(error)}") from None
        except httpx.HTTPError as error:
            raise PrometheusError(f"prometheus at {self.address}: {type(error).__name__}: "
                                  f"{_first_line(error)}") from None
        return _envelope(self.address, response)


def _envelope(address: str, response: httpx.Response) -> Any:
    """The ``data`` of the API's JSON envelope, or the reason it has none."""
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        if response.status_code >= 300:
            raise PrometheusError(f"prometheus at {address} answered HTTP {response.status_code}")
        raise PrometheusError(f"prometheus at {address} answered something that is not its API's JSON")
    if body.get("status") != "success":
        error = _first_line(body.get("error") or "no error message")
        kind = body.get("errorType") or "error"
        raise PrometheusError(f"prometheus at {address} answered HTTP {response.status_code}, {kind}: {error}")
    if response.status_code >= 300:
        raise PrometheusError(f"prometheus at {address} answered HTTP {response.status_code}")
    return body.get("data")


def _timestamp(value: float) -> str:
    return f"{value:.3f}"


def _first_line(value: object) -> str:
    text = str(value).strip()
    return (text.splitlines() or [""])[0][:200]


# Kubernetes object names (DNS-1123 subdomains): the only label values the controller puts in a query.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_PROM_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d))+$")


def label_value(name: str) -> str:
    """A Kubernetes name as the inside of a PromQL string literal. Anything that is not a DNS-1123 name is refused
    (so no name can close the quote and inject PromQL); the escaping of ``\\`` and ``"`` is then a second guard.
    Inside ``=~"..."`` the only regex character such a name can hold is ``.``, which matches itself too."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise PrometheusError(f"refusing {str(name)[:80]!r} as a label value: not a Kubernetes name")
    return name.replace("\\", "\\\\").replace('"', '\\"')


def label_regex(names: list[str]) -> str:
    """Names as an anchored alternation for ``=~``, each dot escaped (``a.b`` matches only ``a.b``)."""
    return "|".join(label_value(name).replace(".", "\\\\.") for name in names)


def prom_duration(text: str) -> str:
    """A duration as PromQL writes it (``5m``, ``1h30m``, ``30d``); refused when it is anything else."""
    if not isinstance(text, str) or not _PROM_DURATION.match(text):
        raise PrometheusError(f"refusing {str(text)[:80]!r} as a duration")
    return text


def substitute(template: str, values: dict[str, str]) -> str:
    """``{{ name }}`` placeholders replaced by the (already escaped) values; an unknown placeholder is an error,
    so a typo never reaches Prometheus as literal braces."""
    unknown = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(values))
    if unknown:
        known = ", ".join(sorted(values))
        raise PrometheusError(f"unknown placeholder {{{{ {unknown[0]} }}}} in query (known: {known})")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


async def gather_all(*awaitables: Awaitable[T]) -> list[T]:
    """Like ``asyncio.gather`` but lets every query finish before raising the first error, so no request is left
    half-open when the event loop moves on (a cancelled connect leaks an un-awaited coroutine in httpx/anyio)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for item in results:
        if isinstance(item, BaseException):
            raise item
    return [item for item in results if not isinstance(item, BaseException)]
