"""Minimal test harness shared by the Python interop scenarios.

Each case prints one line, ``PASS <suite>/<name>``, ``FAIL <suite>/<name>: <why>`` or
``SKIP <suite>/<name>: <why>``; tests/interop/run.sh counts those lines. ``Suite.done()`` exits 1
when any case failed. Every case has a deadline so a hung stream fails the case, not the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from typing import Any, Awaitable, Callable, Optional


class Skip(Exception):
    """Raised (via ``skip()``) when a case does not apply to this envd build."""


def skip(reason: str) -> None:
    raise Skip(reason)


def _one_line(s: Any) -> str:
    return re.sub(r"\s+", " ", str(s)).strip()[:600]


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


class Suite:
    def __init__(self, name: str) -> None:
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def _report(self, name: str, err: Optional[BaseException], gate: Optional[str] = None) -> None:
        case = f"{self.name}/{name}"
        if gate is not None:
            self.skipped += 1
            print(f"SKIP {case}: {_one_line(gate)}", flush=True)
        elif err is None:
            self.passed += 1
            print(f"PASS {case}", flush=True)
        elif isinstance(err, Skip):
            self.skipped += 1
            print(f"SKIP {case}: {_one_line(err)}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {case}: {_one_line(_describe(err))}", flush=True)
            if os.environ.get("INTEROP_VERBOSE"):
                traceback.print_exception(err)

    def test(self, name: str, fn: Callable[[], None], timeout: float = 30, gate: Optional[str] = None) -> None:
        """Runs a blocking case in a worker thread so that a hang becomes a failure."""
        if gate:
            self._report(name, None, gate)
            return
        box: dict[str, BaseException] = {}

        def run() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - reported, not swallowed
                box["err"] = e

        worker = threading.Thread(target=run, daemon=True, name=name)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self._report(name, TimeoutError(f"timed out after {timeout} s"))
        else:
            self._report(name, box.get("err"))

    async def atest(self, name: str, fn: Callable[[], Awaitable[None]], timeout: float = 30, gate: Optional[str] = None) -> None:
        if gate:
            self._report(name, None, gate)
            return
        try:
            await asyncio.wait_for(fn(), timeout)
        except asyncio.TimeoutError:
            self._report(name, TimeoutError(f"timed out after {timeout} s"))
        except BaseException as e:  # noqa: BLE001 - reported, not swallowed
            self._report(name, e)
        else:
            self._report(name, None)

    def done(self) -> None:
        print(f"# {self.name}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped", flush=True)
        # The SDK's pooled connections and any leaked worker threads must not keep us alive.
        sys.stdout.flush()
        os._exit(1 if self.failed else 0)


def until(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def auntil(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def envd_url() -> str:
    url = os.environ.get("ENVD_URL")
    if not url:
        print("ENVD_URL is not set; run this through tests/interop/run.sh", file=sys.stderr)
        sys.exit(2)
    assert os.environ.get("E2B_DEBUG") == "true", "E2B_DEBUG must be 'true'"
    assert os.environ.get("E2B_SANDBOX_URL", "").rstrip("/") == url.rstrip("/"), "E2B_SANDBOX_URL must be ENVD_URL"
    return url.rstrip("/")


def _status(req: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read(200).decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(200).decode(errors="replace")


def probe_filesystem(base: str) -> dict[str, Optional[str]]:
    """``{"rpc": reason|None, "http": reason|None}``: why filesystem cases must be skipped, if so.

    Available means ``Filesystem.Stat {path:"/"}`` and ``GET /files?path=/etc/passwd`` answer 200; a
    route that does not exist yet (404/405/501) is reported as a skip reason.
    """
    out: dict[str, Optional[str]] = {"rpc": None, "http": None}
    code, body = _status(
        urllib.request.Request(
            f"{base}/filesystem.Filesystem/Stat",
            data=json.dumps({"path": "/"}).encode(),
            headers={"content-type": "application/json", "connect-protocol-version": "1"},
            method="POST",
        )
    )
    if code != 200 and code in (404, 405, 501):
        out["rpc"] = f"envd does not serve filesystem.Filesystem yet (POST /filesystem.Filesystem/Stat -> HTTP {code} {_one_line(body) or '(empty body)'})"
    code, body = _status(urllib.request.Request(f"{base}/files?path=/etc/passwd&username=root"))
    if code != 200 and code in (404, 405, 501):
        out["http"] = f"envd does not serve GET /files yet (GET /files?path=/etc/passwd -> HTTP {code} {_one_line(body)[:120] or '(empty body)'})"
    return out
