"""Benchmark the analysis controller: decisions per second and p50/p99 latency at 200 concurrent callers.

Runs, in one session and on the same stack (uvicorn, h11, one worker process each, no access log):
  bare      a bare Starlette handler that reads the body and answers 200 (the ceiling of the stack)
  confirm   POST /webhooks/confirm-rollout on the real controller (config lookup, freezes, change windows)
  rollout   POST /webhooks/rollout on the real controller: the canary judge of ``shop/checkout`` with 2 metrics
            (success rate and p99 latency, canary against primary), so each decision makes 5 real HTTP queries
            (the canary's request count, then a range query per metric and side) to the bench's test Prometheus:
            a small HTTP server of its own process that speaks Prometheus's /api/v1/query and
            /api/v1/query_range JSON with constant canned answers (``serve_test_prometheus``; not a Prometheus:
            it measures the controller, not PromQL). --rollout-config FILE runs it against another config (a
            real Prometheus with test data, e.g. the one tests/controller/promfixture.py starts) instead.
  rollout-1 the same rollout hook with --latency-concurrency callers (default 1): the latency of one decision when
            the controller is not saturated. With 200 callers in a closed loop every run's latency is mostly queueing
            (Little's law: p50 ~ callers / throughput, the bare handler's too), so the rollout p99 target is judged
            here, where a decision's own cost shows; Flagger calls the rollout hook once per canary per interval.
and prints each run's throughput and latency and the ratio to the bare handler. Targets: confirm-rollout
throughput >= 0.5 x bare; rollout p99 <= 25 ms (rollout-1). The callers are asyncio tasks in --callers processes,
each on a keep-alive connection written with asyncio streams so that the client costs little; the ratio is what to
compare across machines.

    .venv/bin/python bench/controller.py [--seconds 5] [--concurrency 200] [--callers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

PAYLOAD = json.dumps({"name": "checkout", "namespace": "shop", "phase": "Waiting", "checksum": "6d8f9c7b5"},
                     separators=(",", ":")).encode()
ALL_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def bench_config(environment: str = "production") -> dict[str, Any]:
    """One service, a change window open all day every day (two windows: 00:00-12:00 and 12:00-00:00), a freeze in
    the past: every check of confirm-rollout runs and passes."""
    return {"apiVersion": "rollouts.dev/v1alpha1", "kind": "AnalysisControllerConfig", "environment": environment,
            "services": {"shop/checkout": {
                "service": "checkout",
                "changeWindows": [{"days": ALL_DAYS, "start": "00:00", "end": "12:00", "timeZone": "Europe/Berlin"},
                                  {"days": ALL_DAYS, "start": "12:00", "end": "00:00", "timeZone": "Europe/Berlin"}],
                "freezes": [{"start": "2020-12-20T00:00:00Z", "end": "2021-01-04T00:00:00Z", "reason": "old"}]}}}


SUCCESS_RATE = ('sum(rate(response_total{namespace="{{ namespace }}", deployment="{{ deployment }}", '
                'classification!="failure", direction="inbound"}[1m])) / sum(rate(response_total{namespace='
                '"{{ namespace }}", deployment="{{ deployment }}", direction="inbound"}[1m])) * 100')
LATENCY_P99 = ('histogram_quantile(0.99, sum by (le) (rate(response_latency_ms_bucket{namespace="{{ namespace }}", '
               'deployment="{{ deployment }}", direction="inbound"}[1m])))')


def rollout_config(prometheus: str, environment: str = "production") -> dict[str, Any]:
    """``shop/checkout`` with the canary judge of 2 metrics over a 5m window (step 15s: 20 points per series),
    its Prometheus at ``prometheus``: the judge runs fully (enough traffic) and passes."""
    config = bench_config(environment)
    config["prometheus"] = {"address": prometheus, "timeout": "5s"}
    config["services"]["shop/checkout"].update(
        targets={"canary": "checkout", "primary": "checkout-primary", "namespace": "shop"},
        judge={"window": "5m", "minRequests": 50, "pass": 80, "marginal": 60, "noData": "hold", "metrics": [
            {"name": "success-rate", "group": "errors", "weight": 1, "direction": "decrease", "critical": True,
             "query": SUCCESS_RATE, "allowedChange": 0.1},
            {"name": "latency-p99", "group": "latency", "weight": 1, "direction": "increase", "query": LATENCY_P99,
             "allowedChange": 0.25}]})
    return config


# --- the servers (run as child processes of this script) ----------------------------------------------------------


def canned_answers() -> dict[str, bytes]:
    """The test Prometheus's bodies: an instant vector of 1200 canary requests, and for every range query a matrix
    of 20 points that vary a little (the same for canary and primary: the judge finds no difference)."""
    vector = {"status": "success", "data": {"resultType": "vector",
                                            "result": [{"metric": {}, "value": [1796300000.0, "1200"]}]}}
    points = [[1796300000.0 - 15 * (19 - i), f"{99.5 + (i % 5) / 10:g}"] for i in range(20)]
    matrix = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": points}]}}
    return {path: json.dumps(doc, separators=(",", ":")).encode()
            for path, doc in (("/api/v1/query", vector), ("/api/v1/query_range", matrix))}


def serve_test_prometheus(port: int) -> None:
    """The bench's test Prometheus: HTTP/1.1 with keep-alive on asyncio streams, GET /api/v1/query and
    /api/v1/query_range answered from :func:`canned_answers` whatever the query (404 for any other path). As thin
    as the callers, so the controller's own cost is what the rollout run measures."""
    bodies = canned_answers()
    responses = {path: (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(body)).encode() + b"\r\n\r\n" + body) for path, body in bodies.items()}
    missing = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                writer.write(responses.get(target.partition("?")[0], missing))
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())




def serve_bare(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def hook(request: Request) -> Response:
        await request.body()
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/webhooks/{type}", hook, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, ws="none")


def serve_controller(port: int, config: str) -> None:
    import logging

    import uvicorn
    from rollouts.controller.app import Settings, create_app

    logging.getLogger("rollouts.controller").setLevel(logging.INFO)  # the decision line is written, as in production
    logging.getLogger("rollouts.controller").addHandler(logging.FileHandler(os.devnull))
    app = create_app(Settings(config=config, operator_state=False))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, ws="none")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(mode: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", mode, str(port), *args])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"the {mode} server did not start") from None
            time.sleep(0.05)


# --- the callers ---------------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[round(q * 100) - 1]


async def _load(url: str, concurrency: int, seconds: float, warmup: float) -> tuple[list[float], dict[int, int], int]:
    """``concurrency`` callers, each on its own keep-alive HTTP/1.1 connection (as Flagger's Go client keeps them),
    written and read with asyncio streams: a client this thin leaves the CPU to the server being measured."""
    host, _, rest = url.removeprefix("http://").partition(":")
    port, _, path = rest.partition("/")
    request = (f"POST /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(PAYLOAD)}\r\n\r\n").encode() + PAYLOAD
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + warmup
    stop_at = measure_from + seconds

    async def caller() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (now := loop.time()) < stop_at:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                if now >= measure_from:
                    latencies.append(loop.time() - now)
                    status = int(head.split(b" ", 2)[1])
                    statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError, StopIteration):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies, statuses, errors


def _caller_process(url: str, concurrency: int, seconds: float, warmup: float, out: Any) -> None:
    out.put(asyncio.run(_load(url, concurrency, seconds, warmup)))


def run(name: str, url: str, concurrency: int, seconds: float, warmup: float, callers: int) -> Result:
    """``concurrency`` callers in total, spread over ``callers`` processes, for ``seconds`` after ``warmup``."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    shares = [concurrency // callers + (1 if i < concurrency % callers else 0) for i in range(callers)]
    processes = [context.Process(target=_caller_process, args=(url, share, seconds, warmup, queue))
                 for share in shares]
    for p in processes:
        p.start()
    parts = [queue.get() for _ in processes]
    for p in processes:
        p.join()
    latencies = [x for part in parts for x in part[0]]
    statuses: dict[int, int] = {}
    for part in parts:
        for status, n in part[1].items():
            statuses[status] = statuses.get(status, 0) + n
    return Result(name, len(latencies), seconds, latencies, statuses, sum(part[2] for part in parts))


def rollout_run(args: argparse.Namespace, tmp: str) -> list[Result]:
    """The rollout hook with the canary judge (2 metrics) against the bench's test Prometheus (a process of its
    own), or against --rollout-config's Prometheus: at --concurrency callers, then at --latency-concurrency."""
    prometheus = None
    config = args.rollout_config
    if not config:
        prometheus, address = start("prometheus")
        config = os.path.join(tmp, "rollout.json")
        with open(config, "w") as f:
            json.dump(rollout_config(address), f)
    try:
        process, base = start("controller", config)
        try:
            url = f"{base}/webhooks/rollout"
            return [run("rollout", url, args.concurrency, args.seconds, args.warmup, args.callers),
                    run(f"rollout-{args.latency_concurrency}", url, args.latency_concurrency, args.seconds,
                        args.warmup, 1)]
        finally:
            process.terminate()
            process.wait()
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait()


def report(results: list[Result], concurrency: int) -> None:
    bare = results[0]
    print(f"{concurrency} concurrent callers, {bare.seconds:g}s each after warm-up")
    print(f"{'run':<10} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7}  statuses")
    for r in results:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(r.statuses.items())) + (f", errors: {r.errors}"
                                                                                   if r.errors else "")
        ratio = r.rate / bare.rate if bare.rate else float("nan")
        print(f"{r.name:<10} {r.rate:>12.0f} {r.quantile(0.5) * 1000:>8.1f} {r.quantile(0.99) * 1000:>8.1f} "
              f"{ratio:>7.2f}  {statuses}")
    confirm = next((r for r in results if r.name == "confirm"), None)
    if confirm is not None and bare.rate:
        ratio = confirm.rate / bare.rate
        print(f"confirm-rollout throughput {ratio:.2f} x bare (target >= 0.5): {'met' if ratio >= 0.5 else 'MISSED'}")
    for rollout in (r for r in results if r.name.startswith("rollout")):
        p99 = rollout.quantile(0.99) * 1000
        target = "target <= 25 ms" if rollout.name != "rollout" else "at full load: queueing, no target"
        verdict = "" if rollout.name == "rollout" else f": {'met' if p99 <= 25 else 'MISSED'}"
        print(f"{rollout.name} p99 {p99:.1f} ms ({target}){verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each run (default 1)")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent callers (default 200)")
    parser.add_argument("--callers", type=int, default=2, help="caller processes (default 2)")
    parser.add_argument("--latency-concurrency", type=int, default=1,
                        help="callers of the unsaturated rollout run (default 1)")
    parser.add_argument("--rollout-config", metavar="FILE",
                        help="config for the rollout run (default: the judge against the bench's test Prometheus)")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        mode, port, *rest = args.serve
        if mode == "bare":
            serve_bare(int(port))
        elif mode == "prometheus":
            serve_test_prometheus(int(port))
        else:
            serve_controller(int(port), rest[0])
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "config.json")
        with open(config, "w") as f:
            json.dump(bench_config(), f)
        results = []
        for name, mode, extra in (("bare", "bare", ()), ("confirm", "controller", (config,))):
            process, base = start(mode, *extra)
            try:
                results.append(run(name, f"{base}/webhooks/confirm-rollout", args.concurrency, args.seconds,
                                   args.warmup, args.callers))
            finally:
                process.terminate()
                process.wait()
        results.extend(rollout_run(args, tmp))
    report(results, args.concurrency)
    # every decision must have been a pass: a 403 or a 500 measured would be the wrong thing measured
    return 0 if all(set(r.statuses) == {200} and not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
