"""A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 serving recorded history: samples written as
OpenMetrics text, backfilled with ``promtool tsdb create-blocks-from openmetrics`` into a fresh TSDB, which the
server then reads. For the tests of queries over history (the SLO templates, ``rollouts backtest``)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(name: str, labels: dict[str, str], value: float, at: float) -> str:
    """One OpenMetrics sample line (labels sorted, the timestamp in seconds)."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}} {value!r} {at!r}"


def backfill(promtool: str, lines: Iterable[str], directory: Path, block: str = "2h") -> Path:
    """A TSDB in ``directory``/data holding the samples, in blocks of up to ``block`` (promtool reads the input
    once per block: a long history wants long blocks)."""
    source = directory / "history.om"
    with source.open("w") as out:
        for line in lines:
            out.write(line + "\n")
        out.write("# EOF\n")
    data = directory / "data"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", f"--max-block-duration={block}",
                    str(source), str(data)], check=True, capture_output=True, timeout=1800)
    return data


@contextmanager
def serving(prometheus: str, data: Path, directory: Path) -> Iterator[str]:
    """Prometheus on a free port of 127.0.0.1 over ``data`` (no scrapes, retention long enough for any history);
    yields its base URL and stops it on exit."""
    (directory / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = directory / "prometheus.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([prometheus, f"--config.file={directory / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=100y",
                                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                  stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(base + "/-/ready", timeout=1) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "prometheus did not become ready in 60 s"
                time.sleep(0.1)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
