"""The published ``e2b`` PyPI SDK's sync ``Sandbox``, unmodified, driving envd in debug mode.

Debug mode (E2B_DEBUG=true) skips the control plane and assumes envd version 99.99.99, so every
client-side version gate is open. E2B_SANDBOX_URL points the SDK at our envd. Run through
tests/interop/run.sh, which starts envd and sets ENVD_URL / E2B_SANDBOX_URL.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from e2b import (  # noqa: E402
    AuthenticationException,
    CommandExitException,
    FilesystemEventType,
    InvalidArgumentException,
    NotFoundException,
    PtySize,
    Sandbox,
    TimeoutException,
)
from harness import Suite, envd_url, probe_filesystem, until  # noqa: E402

BASE = envd_url()
FS = probe_filesystem(BASE)
t = Suite("e2b-py-sync")
sbx = Sandbox.create()
UNKNOWN_PID = 2**31 - 2
# Commands run under `bash -l`, so whatever the machine's login profile prints to stderr precedes
# each command's own stderr. Measure it once and strip it, keeping the assertions exact.
LOGIN_NOISE = sbx.commands.run("true").stderr


def own_stderr(s: str) -> str:
    return s[len(LOGIN_NOISE):] if LOGIN_NOISE and s.startswith(LOGIN_NOISE) else s


class Collector:
    """Thread-safe append-only list of output chunks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list = []

    def __call__(self, chunk) -> None:
        with self._lock:
            self._parts.append(chunk)

    def text(self) -> str:
        with self._lock:
            return "".join(p if isinstance(p, str) else bytes(p).decode(errors="replace") for p in self._parts)

    def count(self) -> int:
        with self._lock:
            return len(self._parts)


def wait_in_thread(handle, **callbacks):
    """Runs ``handle.wait(**callbacks)`` in a thread; returns (thread, box with result/error)."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = handle.wait(**callbacks)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, box


def case_create() -> None:
    assert sbx.sandbox_id == "debug_sandbox_id", sbx.sandbox_id
    other = Sandbox.connect(sbx.sandbox_id)
    r = other.commands.run("echo connected")
    assert r.stdout == "connected\n", repr(r.stdout)


def case_run() -> None:
    r = sbx.commands.run("echo hi")
    assert r.stdout == "hi\n", repr(r.stdout)
    assert own_stderr(r.stderr) == "", repr(r.stderr)
    assert r.exit_code == 0
    assert r.error is None, r.error


def case_run_opts() -> None:
    r = sbx.commands.run('echo "$FOO|$(pwd)|$(id -un)"', user="root", cwd="/tmp", envs={"FOO": "bar baz"})
    assert r.stdout == "bar baz|/tmp|root\n", repr(r.stdout)


def case_defaults() -> None:
    r = sbx.commands.run('echo "$(id -un)|$HOME|$USER|$(pwd)"')
    assert r.stdout == "root|/root|root|/root\n", repr(r.stdout)
    r = sbx.commands.run("printf 'h\\xc3\\xa9llo \\xe2\\x86\\x92\\n'")
    assert r.stdout == "h\u00e9llo \u2192\n", repr(r.stdout)


def case_rejections() -> None:
    try:
        sbx.commands.run("pwd", cwd="/nonexistent/envd-interop")
    except InvalidArgumentException as e:
        assert "does not exist" in str(e), str(e)
    else:
        raise AssertionError("expected InvalidArgumentException for a missing cwd")
    try:
        sbx.commands.run("id", user="envd-interop-no-such-user")
    except AuthenticationException:
        pass
    else:
        raise AssertionError("expected AuthenticationException for an unknown user")


def case_exit_error() -> None:
    try:
        sbx.commands.run("echo out; echo err >&2; exit 3")
    except CommandExitException as e:
        assert e.exit_code == 3, e.exit_code
        assert e.stdout == "out\n", repr(e.stdout)
        assert own_stderr(e.stderr) == "err\n", repr(e.stderr)
        assert e.error == "exit status 3", repr(e.error)
    else:
        raise AssertionError("expected CommandExitException")


def case_timeout() -> None:
    marker = f"timeout-{uuid.uuid4()}"
    started = time.monotonic()
    try:
        sbx.commands.run(f"sleep 30 # {marker}", timeout=1)
    except TimeoutException:
        pass
    else:
        raise AssertionError("expected TimeoutException")
    assert time.monotonic() - started < 10
    for _ in range(50):
        if not any(marker in " ".join(p.args) for p in sbx.commands.list()):
            return
        time.sleep(0.1)
    raise AssertionError("timed-out process still listed")


def case_background() -> None:
    h = sbx.commands.run("sleep 0.3; echo done", background=True)
    assert isinstance(h.pid, int) and h.pid > 0, h.pid
    r = h.wait()
    assert r.stdout == "done\n", repr(r.stdout)
    assert r.exit_code == 0
    h2 = sbx.commands.run("exit 7", background=True)
    try:
        h2.wait()
    except CommandExitException as e:
        assert e.exit_code == 7
    else:
        raise AssertionError("expected CommandExitException")


def case_stream() -> None:
    out, err = Collector(), Collector()
    r = sbx.commands.run(
        'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; printf "no newline"',
        on_stdout=out,
        on_stderr=err,
    )
    assert out.text() == "out1\nout2\nno newline", repr(out.text())
    assert own_stderr(err.text()) == "err1\n", repr(err.text())
    assert out.count() >= 2, out.count()
    assert r.stdout == "out1\nout2\nno newline"


def case_large() -> None:
    r = sbx.commands.run("seq 1 20000")
    lines = r.stdout.rstrip("\n").split("\n")
    assert len(lines) == 20000 and lines[0] == "1" and lines[-1] == "20000", len(lines)


def case_stdin() -> None:
    h = sbx.commands.run("cat", background=True, stdin=True)
    out = Collector()
    th, box = wait_in_thread(h, on_stdout=out)
    sbx.commands.send_stdin(h.pid, "hello\n")
    until(lambda: out.text() == "hello\n", "cat to echo the first line")
    h.send_stdin(b"world\n")
    until(lambda: out.text() == "hello\nworld\n", "cat to echo the second line")
    sbx.commands.close_stdin(h.pid)
    th.join(10)
    assert not th.is_alive(), "cat did not exit after close_stdin"
    assert "error" not in box, box.get("error")
    assert box["result"].stdout == "hello\nworld\n", repr(box["result"].stdout)


def case_stream_input() -> None:
    # Client-streaming RPC (process.Process/StreamInput), which only the Python SDK uses.
    h = sbx.commands.run("cat", background=True, stdin=True)
    out = Collector()
    th, box = wait_in_thread(h, on_stdout=out)
    sbx.commands.stream_input(h.pid, iter(["one\n", b"two\n"]))
    until(lambda: out.text() == "one\ntwo\n", "cat to echo the streamed input")
    sbx.commands.close_stdin(h.pid)
    th.join(10)
    assert "error" not in box, box.get("error")


def case_stdin_default_off() -> None:
    r = sbx.commands.run("cat; echo eof-seen")
    assert r.stdout == "eof-seen\n", repr(r.stdout)


def case_kill() -> None:
    h = sbx.commands.run("sleep 30", background=True)
    assert sbx.commands.kill(h.pid) is True
    try:
        h.wait()
    except CommandExitException as e:
        assert e.exit_code == -1, e.exit_code
        assert e.error == "signal: killed", repr(e.error)
    else:
        raise AssertionError("expected CommandExitException after kill")
    h2 = sbx.commands.run("sleep 30", background=True)
    assert h2.kill() is True
    assert sbx.commands.kill(UNKNOWN_PID) is False


def case_list() -> None:
    marker = f"list-{uuid.uuid4()}"
    h = sbx.commands.run(f"sleep 30 # {marker}", background=True, cwd="/tmp", envs={"MARK": marker})
    try:
        procs = sbx.commands.list()
        p = next((x for x in procs if x.pid == h.pid), None)
        assert p is not None, [x.pid for x in procs]
        assert p.cmd == "/bin/bash", p.cmd
        assert list(p.args) == ["-l", "-c", f"sleep 30 # {marker}"], p.args
        assert p.cwd == "/tmp", p.cwd
        assert dict(p.envs) == {"MARK": marker}, p.envs
    finally:
        h.kill()
    for _ in range(50):
        if not any(x.pid == h.pid for x in sbx.commands.list()):
            return
        time.sleep(0.1)
    raise AssertionError("killed process still listed")


def case_connect() -> None:
    h = sbx.commands.run("sleep 1; echo later; exit 4", background=True)
    h.disconnect()
    c = sbx.commands.connect(h.pid)
    assert c.pid == h.pid
    out = Collector()
    try:
        c.wait(on_stdout=out)
    except CommandExitException as e:
        assert e.exit_code == 4, e.exit_code
    else:
        raise AssertionError("expected CommandExitException")
    assert out.text() == "later\n", repr(out.text())
    for call in (lambda: sbx.commands.connect(UNKNOWN_PID), lambda: sbx.commands.send_stdin(UNKNOWN_PID, "x")):
        try:
            call()
        except NotFoundException:
            pass
        else:
            raise AssertionError("expected NotFoundException for an unknown pid")


def case_connect_after_exit() -> None:
    h = sbx.commands.run("exit 5", background=True)
    try:
        h.wait()
    except CommandExitException:
        pass
    started = time.monotonic()
    c = sbx.commands.connect(h.pid)
    try:
        c.wait()
    except CommandExitException as e:
        assert e.exit_code == 5, e.exit_code
    else:
        raise AssertionError("expected the cached exit code 5")
    assert time.monotonic() - started < 5, "connect to an exited process hung"


def case_pty() -> None:
    h = sbx.pty.create(PtySize(rows=24, cols=80))
    assert h.pid > 0
    data = Collector()
    th, box = wait_in_thread(h, on_pty=data)
    sbx.pty.send_stdin(h.pid, b'stty size; echo "term=$TERM"\n')
    until(lambda: "24 80" in data.text() and "term=xterm-256color" in data.text(), '"24 80" from stty size')
    sbx.pty.resize(h.pid, PtySize(rows=30, cols=100))
    sbx.pty.send_stdin(h.pid, b"stty size\n")
    until(lambda: "30 100" in data.text(), '"30 100" after resize')
    assert sbx.pty.kill(h.pid) is True
    th.join(10)
    assert not th.is_alive(), "pty stream did not end after kill"
    err = box.get("error")
    assert isinstance(err, CommandExitException) and err.exit_code == -1, repr(err)


def case_pty_connect() -> None:
    h = sbx.pty.create(PtySize(rows=24, cols=80))
    h.disconnect()
    c = sbx.pty.connect(h.pid)
    data = Collector()
    th, box = wait_in_thread(c, on_pty=data)
    sbx.pty.send_stdin(h.pid, b"echo via-connect; exit 3\n")
    th.join(10)
    assert not th.is_alive(), "pty did not exit"
    err = box.get("error")
    assert isinstance(err, CommandExitException) and err.exit_code == 3, repr(err)
    assert "via-connect" in data.text(), repr(data.text())


t.test("create/connect: debug sandbox", case_create)
t.test("run foreground: echo hi", case_run)
t.test("run: user, cwd and envs reach the process", case_run_opts)
t.test("run: default user root, HOME/USER, cwd home; UTF-8 output", case_defaults)
t.test("run: missing cwd / unknown user raise typed exceptions", case_rejections)
t.test("run: non-zero exit raises CommandExitException", case_exit_error)
t.test("run: timeout raises TimeoutException and ends the command", case_timeout)
t.test("run background + wait()", case_background)
t.test("streaming on_stdout/on_stderr callbacks", case_stream)
t.test("large output arrives complete and in order", case_large)
t.test("stdin: send_stdin to cat, then close_stdin", case_stdin)
t.test("stdin: stream_input (client-streaming StreamInput)", case_stream_input)
t.test("stdin disabled by default: cat sees EOF at once", case_stdin_default_off)
t.test("kill: commands.kill(pid), handle.kill(), unknown pid", case_kill)
t.test("list: shows a running command with its config", case_list)
t.test("connect(pid): later output and exit; unknown pid", case_connect)
t.test("connect(pid) after exit returns the cached end at once", case_connect_after_exit)
t.test("pty: create, send_stdin, resize (stty size), kill", case_pty)
t.test("pty: connect(pid) and exit via input", case_pty_connect)

# ---- filesystem (skipped with the reason until envd serves it) ----

DIR = f"/tmp/envd-interop-pysync-{uuid.uuid4()}"
RPC_GATE = FS["rpc"]
HTTP_GATE = FS["http"] or FS["rpc"]


def case_fs_dirs() -> None:
    assert sbx.files.make_dir(DIR) is True
    assert sbx.files.make_dir(DIR) is False
    assert sbx.files.exists(DIR) is True
    assert sbx.files.exists(f"{DIR}/missing") is False


def case_fs_rw() -> None:
    info = sbx.files.write(f"{DIR}/a.txt", "hello file\n")
    assert info.path == f"{DIR}/a.txt", info.path
    assert sbx.files.read(f"{DIR}/a.txt") == "hello file\n"
    assert bytes(sbx.files.read(f"{DIR}/a.txt", format="bytes")) == b"hello file\n"
    st = sbx.files.get_info(f"{DIR}/a.txt")
    assert st.size == 11, st.size


def case_fs_list() -> None:
    sbx.files.write(f"{DIR}/sub/b.txt", "b")
    names = sorted(e.name for e in sbx.files.list(DIR))
    assert names == ["a.txt", "sub"], names
    deep = sbx.files.list(DIR, depth=2)
    assert any(e.path == f"{DIR}/sub/b.txt" for e in deep), [e.path for e in deep]


def case_fs_move_remove() -> None:
    moved = sbx.files.rename(f"{DIR}/a.txt", f"{DIR}/c.txt")
    assert moved.path == f"{DIR}/c.txt", moved.path
    assert sbx.files.exists(f"{DIR}/a.txt") is False
    sbx.files.remove(f"{DIR}/c.txt")
    assert sbx.files.exists(f"{DIR}/c.txt") is False


def case_fs_watch() -> None:
    # The sync SDK polls: CreateWatcher + GetWatcherEvents + RemoveWatcher.
    sbx.files.make_dir(f"{DIR}/w")
    w = sbx.files.watch_dir(f"{DIR}/w")
    try:
        sbx.commands.run(f"echo x > {DIR}/w/new.txt")
        seen: list = []

        def got() -> bool:
            seen.extend(w.get_new_events())
            return any(e.name == "new.txt" and e.type == FilesystemEventType.CREATE for e in seen)

        until(got, "a CREATE event for new.txt")
    finally:
        w.stop()


# ---- file metadata (X-Metadata-* -> user.e2b.* xattrs; gated on envd >= 0.6.2, open in debug mode) ----

META = {"Owner": "alice", "kind": "report"}
META_WANT = {"owner": "alice", "kind": "report"}


def case_meta_write() -> None:
    # A single write with str data is multipart; use_octet_stream=True sends the raw body.
    info = sbx.files.write(f"{DIR}/meta/multipart.txt", "m", metadata=META)
    assert info.metadata == META_WANT, info.metadata
    assert sbx.files.get_info(f"{DIR}/meta/multipart.txt").metadata == META_WANT
    info = sbx.files.write(f"{DIR}/meta/octet.txt", "o", metadata=META, use_octet_stream=True)
    assert info.metadata == META_WANT, info.metadata
    assert sbx.files.get_info(f"{DIR}/meta/octet.txt").metadata == META_WANT
    # A write without metadata clears the set.
    plain = sbx.files.write(f"{DIR}/meta/octet.txt", "p", use_octet_stream=True)
    assert plain.metadata is None, plain.metadata
    assert sbx.files.get_info(f"{DIR}/meta/octet.txt").metadata is None


def case_meta_write_files() -> None:
    infos = sbx.files.write_files(
        [{"path": f"{DIR}/meta/many/one.txt", "data": "1"}, {"path": f"{DIR}/meta/many/two.txt", "data": "2"}],
        metadata=META,
    )
    assert [i.metadata for i in infos] == [META_WANT, META_WANT], infos
    listed = sbx.files.list(f"{DIR}/meta/many")
    assert [(e.name, e.metadata) for e in listed] == [("one.txt", META_WANT), ("two.txt", META_WANT)], listed
    octet = sbx.files.write_files(
        [{"path": f"{DIR}/meta/many/three.txt", "data": "3"}, {"path": f"{DIR}/meta/many/four.txt", "data": "4"}],
        metadata={"batch": "2"},
        use_octet_stream=True,
    )
    assert [i.metadata for i in octet] == [{"batch": "2"}, {"batch": "2"}], octet


def case_meta_rename() -> None:
    moved = sbx.files.rename(f"{DIR}/meta/multipart.txt", f"{DIR}/meta/renamed.txt")
    assert moved.metadata == META_WANT, moved.metadata
    assert sbx.files.get_info(f"{DIR}/meta/renamed.txt").metadata == META_WANT


def case_meta_invalid() -> None:
    try:
        sbx.files.write(f"{DIR}/meta/bad.txt", "x", metadata={"k" * 247: "v"})
    except InvalidArgumentException as e:
        assert "invalid metadata" in str(e), str(e)
    else:
        raise AssertionError("expected InvalidArgumentException")
    assert sbx.files.exists(f"{DIR}/meta/bad.txt") is False


def case_watch_uploads() -> None:
    sbx.files.make_dir(f"{DIR}/wu")
    w = sbx.files.watch_dir(f"{DIR}/wu")
    seen: list = []

    def types_after(n: int) -> list:
        until(lambda: bool(seen.extend(w.get_new_events())) or len(seen) >= n, f"{n} events for up.txt")
        time.sleep(0.3)
        seen.extend(w.get_new_events())
        return [(e.name, e.type) for e in seen]

    try:
        C, M, W = FilesystemEventType.CREATE, FilesystemEventType.CHMOD, FilesystemEventType.WRITE
        sbx.files.write(f"{DIR}/wu/up.txt", "new")
        got = types_after(3)
        assert got == [("up.txt", C), ("up.txt", M), ("up.txt", W)], got
        sbx.files.write(f"{DIR}/wu/up.txt", "replaced", use_octet_stream=True)
        got = types_after(6)
        assert got[3:] == [("up.txt", M), ("up.txt", W), ("up.txt", W)], got
    finally:
        w.stop()


t.test("files: make_dir / exists", case_fs_dirs, gate=RPC_GATE)
t.test("files: write / read / get_info", case_fs_rw, gate=HTTP_GATE)
t.test("files: list", case_fs_list, gate=HTTP_GATE)
t.test("files: rename / remove", case_fs_move_remove, gate=HTTP_GATE)
t.test("files: watch_dir (polling watcher)", case_fs_watch, gate=RPC_GATE)
t.test("files: write with metadata (multipart, octet-stream) shows in get_info", case_meta_write, gate=HTTP_GATE)
t.test("files: write_files with metadata on every file, list shows it", case_meta_write_files, gate=HTTP_GATE)
t.test("files: rename keeps metadata", case_meta_rename, gate=HTTP_GATE)
t.test("files: invalid metadata raises InvalidArgumentException", case_meta_invalid, gate=HTTP_GATE)
t.test("files: watch_dir counts an upload of a new file and of an existing one", case_watch_uploads, gate=RPC_GATE)

try:
    sbx.commands.run(f"rm -rf {DIR}")
except Exception:  # noqa: BLE001 - best-effort cleanup
    pass
t.done()
