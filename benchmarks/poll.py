#!/usr/bin/env python
"""Benchmark: a poll cycle over 1,000 unchanged URLs, in-process and as a whole ``corpus-monitor scan``.

What it measures
----------------
A local keep-alive HTTP server (aiohttp, in a process of its own, on 127.0.0.1) serves ``--urls``
distinct pages ``/p0`` ... ``/p999``, each with a small article and a strong ETag, and answers
**304** when the request's ``If-None-Match`` carries that ETag; it also serves a robots.txt that
allows everything. A config file declares one ``page`` source per URL. A first, untimed cycle
fetches every page (200), ingests it and stores its ETag (and the site's robots.txt, kept a day).
Then every timed cycle is all conditional requests answered 304:

* **in-process**: ``monitor.pipeline.scan`` over all sources, with the settings, the store and the
  ``Deps`` built once, as the background service holds them; each cycle is a whole poll: due-check,
  stored validators read, every request (robots rules from the store), the per-source health rows
  written. URLs per second = URLs / cycle time; the median of ``--rounds`` cycles is reported
  (the first timed cycle included: nothing is warmed but what a running service has warmed);
* **whole process**: ``corpus-monitor scan --config ...`` as a subprocess, wall-clock time from
  start to exit (interpreter start, imports, config load of 1,000 sources, the poll, the store
  writes), median of ``--rounds`` runs; once from the development environment (``.venv``, with the
  test tools), and once from a production install (``pip install -e .`` without extras, in
  ``benchmarks/.cache/prod-venv``, rebuilt when ``pyproject.toml`` changes): there httpx does not
  import its command-line client, which it does, for 50 ms, whenever ``click`` and ``rich`` (brought
  by import-linter) are installed;
* **httpx's own transport** (``--httpx-transport``): the in-process cycle again with
  ``Deps(transport=httpx.AsyncHTTPTransport)``, to show what the aiohttp transport buys;
* **urlwatch** (``--urlwatch``): urlwatch 2.29 installed in its own virtual environment under
  ``benchmarks/.cache`` (``pip install urlwatch==2.29``; PyPI must answer), one ``url`` job per
  URL, a first untimed run to store the ETags, then ``--rounds`` timed runs of ``urlwatch`` on the
  same server, each also all 304s.

Politeness is turned off for the benchmark in the config, not in the code: ``per_host_delay_seconds
= 0`` and ``per_host_concurrency`` equal to ``concurrency`` (20), since every URL is on one host.
robots.txt stays respected (read from the store). Each result line checks the cycle really was
1,000 unchanged URLs and no error.

Run
---
::

    .venv/bin/python benchmarks/poll.py                  # 1,000 URLs, 7 rounds each
    .venv/bin/python benchmarks/poll.py --urlwatch       # plus urlwatch on the same server
    .venv/bin/python benchmarks/poll.py --httpx-transport # plus the cycle on httpx's own transport
    .venv/bin/python benchmarks/poll.py --urls 5000 --rounds 3

This is an on-demand measurement (``make bench``), not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
SENTENCE = "黄仁勋与扎克伯格在SIGGRAPH 2024对谈，第{i}号测试页面说明本页的内容与其他页面各不相同。"


def serve(port: int) -> None:
    """The benchmark's HTTP server (run in its own process)."""
    from aiohttp import web

    counts = {"200": 0, "304": 0}

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        etag = f'"v1-{name}"'
        if request.headers.get("If-None-Match") == etag:
            counts["304"] += 1
            return web.Response(status=304, headers={"ETag": etag})
        counts["200"] += 1
        body = f"<html><head><title>{name}</title></head><body><article><p>{SENTENCE.format(i=name)}</p>"
        body += "</article></body></html>"
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers={"ETag": etag})

    async def robots(request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(counts)

    app = web.Application()
    app.router.add_get("/robots.txt", robots)
    app.router.add_get("/_stats", stats)
    app.router.add_get("/{name}", page)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, handle_signals=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server() -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("benchmark server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def write_config(workdir: Path, port: int, urls: int) -> Path:
    lines = [
        '[store]\npath = "store.sqlite3"\n',
        "[http]\nconcurrency = 20\nper_host_concurrency = 20\nper_host_delay_seconds = 0\n",
    ]
    lines += [f'[[sources]]\nkind = "page"\nurl = "http://127.0.0.1:{port}/p{i}"\n' for i in range(urls)]
    path = workdir / "bench.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def in_process(config_path: Path, urls: int, rounds: int, *, httpx_transport: bool = False) -> list[float]:
    """Seconds per steady-state cycle; with ``httpx_transport``, on httpx's own transport instead of aiohttp's."""
    import httpx

    from monitor import config, pipeline
    from monitor.store import Store

    settings = config.load(config_path, cwd=config_path.parent)
    seconds = []
    limits = httpx.Limits(max_connections=settings.http.concurrency)
    transport = (lambda: httpx.AsyncHTTPTransport(limits=limits)) if httpx_transport else None
    with Store(settings.store_path) as store:
        deps = pipeline.Deps.of(store, settings, transport=transport)
        first, _ = pipeline.scan(settings, deps)  # untimed: every page is new (unless an earlier pass stored it)
        _check(first, urls, fresh=not httpx_transport)
        for _ in range(rounds):
            start = time.perf_counter()
            outcomes, new = pipeline.scan(settings, deps)
            seconds.append(time.perf_counter() - start)
            _check(outcomes, urls, fresh=False)
            assert new == 0
    return seconds


def _check(outcomes: object, urls: int, *, fresh: bool) -> None:
    rows = list(outcomes)  # type: ignore[call-overload]
    errors = [e for o in rows for e in o.errors]
    if errors:
        raise SystemExit(f"poll had errors, e.g. {errors[0]}")
    unchanged = sum(o.unchanged for o in rows)
    ingested = sum(o.ingested for o in rows)
    expected = (0, urls) if fresh else (urls, 0)
    if (unchanged, ingested) != expected:
        raise SystemExit(f"expected unchanged/ingested {expected}, got {(unchanged, ingested)}")


def production_cli() -> Path:
    """corpus-monitor installed as a user installs it (no test extras), in a cached virtual environment."""
    env_dir = CACHE / "prod-venv"
    stamp = env_dir / ".pyproject-sha256"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        venv.create(env_dir, with_pip=True, clear=True)
        subprocess.run([str(env_dir / "bin" / "pip"), "install", "--quiet", "-e", str(ROOT)], check=True)
        stamp.write_text(digest)
    return env_dir / "bin" / "corpus-monitor"


def whole_process(config_path: Path, urls: int, rounds: int, cli: Path) -> list[float]:
    command = [str(cli), "scan", "--config", str(config_path)]
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=config_path.parent)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0 or f"0 new or changed, {urls} unchanged." not in done.stdout:
            raise SystemExit(f"scan did not see {urls} unchanged pages:\n{done.stdout}\n{done.stderr}")
    return seconds


def urlwatch(workdir: Path, port: int, urls: int, rounds: int) -> list[float]:
    env_dir = CACHE / "urlwatch-2.29"
    exe = env_dir / "bin" / "urlwatch"
    if not exe.exists():
        venv.create(env_dir, with_pip=True)
        subprocess.run([str(env_dir / "bin" / "pip"), "install", "--quiet", "urlwatch==2.29"], check=True)
    jobs = workdir / "urls.yaml"
    jobs.write_text("".join(f"---\nurl: http://127.0.0.1:{port}/p{i}\n" for i in range(urls)), encoding="utf-8")
    settings = workdir / "urlwatch.yaml"
    settings.write_text("report:\n  stdout:\n    enabled: false\n", encoding="utf-8")
    command = [str(exe), "--urls", str(jobs), "--config", str(settings), "--cache", str(workdir / "cache.db")]
    subprocess.run(command, capture_output=True, check=True, cwd=workdir)  # untimed: stores the ETags
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, cwd=workdir)
        seconds.append(time.perf_counter() - start)
    return seconds


def answered(port: int) -> dict[str, int]:
    """How many 200s and 304s the server has sent so far."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as response:
        return dict(json.load(response))


def report(label: str, seconds: list[float], urls: int) -> float:
    median = statistics.median(seconds)
    spread = f"{min(seconds):.3f}-{max(seconds):.3f}"
    print(f"{label:<34} median {median:.3f} s ({spread})  {urls / median:>7,.0f} URLs/s")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1000, help="distinct URLs (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="timed cycles or runs of each kind (default 7)")
    parser.add_argument("--urlwatch", action="store_true", help="also time urlwatch 2.29 on the same server")
    parser.add_argument("--httpx-transport", action="store_true",
                        help="also time the in-process cycle on httpx's own transport (3 cycles)")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp, server() as port:
        workdir = Path(tmp)
        print(f"{args.urls} distinct URLs on http://127.0.0.1:{port}/, all answering 304 to the stored ETag")
        config_path = write_config(workdir, port, args.urls)
        report("in-process (pipeline.scan)", in_process(config_path, args.urls, args.rounds), args.urls)
        if args.httpx_transport:
            report("in-process, httpx's own transport", in_process(config_path, args.urls, 3, httpx_transport=True),
                   args.urls)
        dev = ROOT / ".venv" / "bin" / "corpus-monitor"
        report("whole process (scan, .venv)", whole_process(config_path, args.urls, args.rounds, dev), args.urls)
        ours = report("whole process (scan, production)",
                      whole_process(config_path, args.urls, args.rounds, production_cli()), args.urls)
        if args.urlwatch:
            before = answered(port)
            timed = urlwatch(workdir, port, args.urls, args.rounds)
            after = answered(port)
            theirs = report("whole process (urlwatch 2.29)", timed, args.urls)
            got = {k: after[k] - before[k] for k in after}
            print(f"  urlwatch got {got['200']} x 200 (its first, untimed run) and {got['304']} x 304")
            print(f"corpus-monitor scan (production install) is {theirs / ours:.2f}x faster than urlwatch")


if __name__ == "__main__":
    main()
