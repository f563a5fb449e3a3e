"""The published ``e2b`` PyPI SDK's ``AsyncSandbox``, unmodified, driving envd in debug mode.

Same command set as e2b_sync.py, through the asyncio client (callbacks on the handles, streamed
``watch_dir`` instead of the polling watcher). Run through tests/interop/run.sh.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))

from e2b import (  # noqa: E402
    AsyncSandbox,
    AuthenticationException,
    CommandExitException,
    FilesystemEventType,
    InvalidArgumentException,
    NotFoundException,
    PtySize,
    TimeoutException,
)
from harness import Suite, auntil, envd_url, probe_filesystem  # noqa: E402

UNKNOWN_PID = 2**31 - 2


class Collector:
    def __init__(self) -> None:
        self.parts: list = []

    def __call__(self, chunk) -> None:
        self.parts.append(chunk)

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else bytes(p).decode(errors="replace") for p in self.parts)


async def expect_exit(awaitable, code: int, error: str | None = None) -> CommandExitException:
    try:
        await awaitable
    except CommandExitException as e:
        assert e.exit_code == code, f"exit code {e.exit_code}, want {code}"
        if error is not None:
            assert e.error == error, f"error {e.error!r}, want {error!r}"
        return e
    raise AssertionError(f"expected CommandExitException with exit code {code}")


async def main() -> None:
    base = envd_url()
    fs = probe_filesystem(base)
    t = Suite("e2b-py-async")
    sbx = await AsyncSandbox.create()
    # Commands run under `bash -l`, so whatever the machine's login profile prints to stderr
    # precedes each command's own stderr. Measure it once and strip it, keeping assertions exact.
    login_noise = (await sbx.commands.run("true")).stderr

    def own_stderr(s: str) -> str:
        return s[len(login_noise):] if login_noise and s.startswith(login_noise) else s

    async def case_create() -> None:
        assert sbx.sandbox_id == "debug_sandbox_id", sbx.sandbox_id
        other = await AsyncSandbox.connect(sbx.sandbox_id)
        r = await other.commands.run("echo connected")
        assert r.stdout == "connected\n", repr(r.stdout)

    async def case_run() -> None:
        r = await sbx.commands.run("echo hi")
        assert (r.stdout, own_stderr(r.stderr), r.exit_code, r.error) == ("hi\n", "", 0, None), r

    async def case_run_opts() -> None:
        r = await sbx.commands.run('echo "$FOO|$(pwd)|$(id -un)"', user="root", cwd="/tmp", envs={"FOO": "bar baz"})
        assert r.stdout == "bar baz|/tmp|root\n", repr(r.stdout)

    async def case_defaults() -> None:
        r = await sbx.commands.run('echo "$(id -un)|$HOME|$USER|$(pwd)"')
        assert r.stdout == "root|/root|root|/root\n", repr(r.stdout)
        r = await sbx.commands.run("printf 'h\\xc3\\xa9llo \\xe2\\x86\\x92\\n'")
        assert r.stdout == "h\u00e9llo \u2192\n", repr(r.stdout)

    async def case_rejections() -> None:
        try:
            await sbx.commands.run("pwd", cwd="/nonexistent/envd-interop")
        except InvalidArgumentException as e:
            assert "does not exist" in str(e), str(e)
        else:
            raise AssertionError("expected InvalidArgumentException for a missing cwd")
        try:
            await sbx.commands.run("id", user="envd-interop-no-such-user")
        except AuthenticationException:
            pass
        else:
            raise AssertionError("expected AuthenticationException for an unknown user")

    async def case_exit_error() -> None:
        e = await expect_exit(sbx.commands.run("echo out; echo err >&2; exit 3"), 3, "exit status 3")
        assert (e.stdout, own_stderr(e.stderr)) == ("out\n", "err\n"), (e.stdout, e.stderr)

    async def case_timeout() -> None:
        marker = f"timeout-{uuid.uuid4()}"
        try:
            await sbx.commands.run(f"sleep 30 # {marker}", timeout=1)
        except TimeoutException:
            pass
        else:
            raise AssertionError("expected TimeoutException")
        for _ in range(50):
            if not any(marker in " ".join(p.args) for p in await sbx.commands.list()):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("timed-out process still listed")

    async def case_background() -> None:
        h = await sbx.commands.run("sleep 0.3; echo done", background=True)
        assert h.pid > 0
        assert h.exit_code is None
        r = await h.wait()
        assert (r.stdout, r.exit_code) == ("done\n", 0), r
        h2 = await sbx.commands.run("exit 7", background=True)
        await expect_exit(h2.wait(), 7)

    async def case_stream() -> None:
        out, err = Collector(), Collector()
        r = await sbx.commands.run(
            'echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2; printf "no newline"',
            on_stdout=out,
            on_stderr=err,
        )
        assert out.text() == "out1\nout2\nno newline", repr(out.text())
        assert own_stderr(err.text()) == "err1\n", repr(err.text())
        assert len(out.parts) >= 2, out.parts
        assert r.stdout == "out1\nout2\nno newline"

    async def case_large() -> None:
        r = await sbx.commands.run("seq 1 20000")
        lines = r.stdout.rstrip("\n").split("\n")
        assert len(lines) == 20000 and lines[0] == "1" and lines[-1] == "20000", len(lines)

    async def case_stdin() -> None:
        out = Collector()
        h = await sbx.commands.run("cat", background=True, stdin=True, on_stdout=out)
        await sbx.commands.send_stdin(h.pid, "hello\n")
        await auntil(lambda: out.text() == "hello\n", "cat to echo the first line")
        await h.send_stdin(b"world\n")
        await auntil(lambda: out.text() == "hello\nworld\n", "cat to echo the second line")
        await sbx.commands.close_stdin(h.pid)
        r = await asyncio.wait_for(h.wait(), 10)
        assert r.stdout == "hello\nworld\n", repr(r.stdout)

    async def case_stream_input() -> None:
        # Client-streaming process.Process/StreamInput: each message must reach the process while
        # the request stream is still open.
        out = Collector()
        h = await sbx.commands.run("cat", background=True, stdin=True, on_stdout=out)
        async with sbx.commands.stream_input(h.pid) as inp:
            await inp.send("one\n")
            await auntil(lambda: out.text() == "one\n", "cat to echo input sent on the open stream")
            await inp.send(b"two\n")
        await auntil(lambda: out.text() == "one\ntwo\n", "cat to echo the second message")
        await sbx.commands.close_stdin(h.pid)
        await asyncio.wait_for(h.wait(), 10)

    async def case_stdin_default_off() -> None:
        r = await sbx.commands.run("cat; echo eof-seen")
        assert r.stdout == "eof-seen\n", repr(r.stdout)

    async def case_kill() -> None:
        h = await sbx.commands.run("sleep 30", background=True)
        assert await sbx.commands.kill(h.pid) is True
        await expect_exit(h.wait(), -1, "signal: killed")
        h2 = await sbx.commands.run("sleep 30", background=True)
        assert await h2.kill() is True
        await expect_exit(h2.wait(), -1)
        assert await sbx.commands.kill(UNKNOWN_PID) is False

    async def case_list() -> None:
        marker = f"list-{uuid.uuid4()}"
        h = await sbx.commands.run(f"sleep 30 # {marker}", background=True, cwd="/tmp", envs={"MARK": marker})
        try:
            procs = await sbx.commands.list()
            p = next((x for x in procs if x.pid == h.pid), None)
            assert p is not None, [x.pid for x in procs]
            assert p.cmd == "/bin/bash", p.cmd
            assert list(p.args) == ["-l", "-c", f"sleep 30 # {marker}"], p.args
            assert p.cwd == "/tmp", p.cwd
            assert dict(p.envs) == {"MARK": marker}, p.envs
        finally:
            await h.kill()
        await expect_exit(h.wait(), -1)
        assert not any(x.pid == h.pid for x in await sbx.commands.list()), "killed process still listed"

    async def case_connect() -> None:
        h = await sbx.commands.run("sleep 1; echo later; exit 4", background=True)
        await h.disconnect()
        out = Collector()
        c = await sbx.commands.connect(h.pid, on_stdout=out)
        assert c.pid == h.pid
        await expect_exit(c.wait(), 4)
        assert out.text() == "later\n", repr(out.text())
        for call in (sbx.commands.connect(UNKNOWN_PID), sbx.commands.send_stdin(UNKNOWN_PID, "x")):
            try:
                await call
            except NotFoundException:
                pass
            else:
                raise AssertionError("expected NotFoundException for an unknown pid")

    async def case_connect_after_exit() -> None:
        h = await sbx.commands.run("exit 5", background=True)
        await expect_exit(h.wait(), 5)
        c = await asyncio.wait_for(sbx.commands.connect(h.pid), 5)
        await expect_exit(asyncio.wait_for(c.wait(), 5), 5)

    async def case_pty() -> None:
        data = Collector()
        h = await sbx.pty.create(PtySize(rows=24, cols=80), on_data=data)
        assert h.pid > 0
        await sbx.pty.send_stdin(h.pid, b'stty size; echo "term=$TERM"\n')
        await auntil(lambda: "24 80" in data.text() and "term=xterm-256color" in data.text(), '"24 80" from stty size')
        await sbx.pty.resize(h.pid, PtySize(rows=30, cols=100))
        await sbx.pty.send_stdin(h.pid, b"stty size\n")
        await auntil(lambda: "30 100" in data.text(), '"30 100" after resize')
        assert await sbx.pty.kill(h.pid) is True
        await expect_exit(asyncio.wait_for(h.wait(), 10), -1)

    async def case_pty_connect() -> None:
        h = await sbx.pty.create(PtySize(rows=24, cols=80), on_data=lambda _: None)
        await h.disconnect()
        data = Collector()
        c = await sbx.pty.connect(h.pid, on_data=data)
        await sbx.pty.send_stdin(h.pid, b"echo via-connect; exit 3\n")
        await expect_exit(asyncio.wait_for(c.wait(), 10), 3)
        assert "via-connect" in data.text(), repr(data.text())

    await t.atest("create/connect: debug sandbox", case_create)
    await t.atest("run foreground: echo hi", case_run)
    await t.atest("run: user, cwd and envs reach the process", case_run_opts)
    await t.atest("run: default user root, HOME/USER, cwd home; UTF-8 output", case_defaults)
    await t.atest("run: missing cwd / unknown user raise typed exceptions", case_rejections)
    await t.atest("run: non-zero exit raises CommandExitException", case_exit_error)
    await t.atest("run: timeout raises TimeoutException and ends the command", case_timeout)
    await t.atest("run background + wait()", case_background)
    await t.atest("streaming on_stdout/on_stderr callbacks", case_stream)
    await t.atest("large output arrives complete and in order", case_large)
    await t.atest("stdin: send_stdin to cat, then close_stdin", case_stdin)
    await t.atest("stdin: stream_input handle (client-streaming StreamInput)", case_stream_input)
    await t.atest("stdin disabled by default: cat sees EOF at once", case_stdin_default_off)
    await t.atest("kill: commands.kill(pid), handle.kill(), unknown pid", case_kill)
    await t.atest("list: shows a running command with its config", case_list)
    await t.atest("connect(pid): later output and exit; unknown pid", case_connect)
    await t.atest("connect(pid) after exit returns the cached end at once", case_connect_after_exit)
    await t.atest("pty: create, send_stdin, resize (stty size), kill", case_pty)
    await t.atest("pty: connect(pid) and exit via input", case_pty_connect)

    # ---- filesystem (skipped with the reason until envd serves it) ----
    d = f"/tmp/envd-interop-pyasync-{uuid.uuid4()}"
    rpc_gate = fs["rpc"]
    http_gate = fs["http"] or fs["rpc"]

    async def case_fs_dirs() -> None:
        assert await sbx.files.make_dir(d) is True
        assert await sbx.files.make_dir(d) is False
        assert await sbx.files.exists(d) is True
        assert await sbx.files.exists(f"{d}/missing") is False

    async def case_fs_rw() -> None:
        info = await sbx.files.write(f"{d}/a.txt", "hello file\n")
        assert info.path == f"{d}/a.txt", info.path
        assert await sbx.files.read(f"{d}/a.txt") == "hello file\n"
        assert bytes(await sbx.files.read(f"{d}/a.txt", format="bytes")) == b"hello file\n"
        assert (await sbx.files.get_info(f"{d}/a.txt")).size == 11

    async def case_fs_list() -> None:
        await sbx.files.write(f"{d}/sub/b.txt", "b")
        names = sorted(e.name for e in await sbx.files.list(d))
        assert names == ["a.txt", "sub"], names
        deep = await sbx.files.list(d, depth=2)
        assert any(e.path == f"{d}/sub/b.txt" for e in deep), [e.path for e in deep]

    async def case_fs_move_remove() -> None:
        moved = await sbx.files.rename(f"{d}/a.txt", f"{d}/c.txt")
        assert moved.path == f"{d}/c.txt", moved.path
        assert await sbx.files.exists(f"{d}/a.txt") is False
        await sbx.files.remove(f"{d}/c.txt")
        assert await sbx.files.exists(f"{d}/c.txt") is False

    async def case_fs_watch() -> None:
        await sbx.files.make_dir(f"{d}/w")
        events: list = []
        w = await sbx.files.watch_dir(f"{d}/w", on_event=events.append)
        try:
            await sbx.commands.run(f"echo x > {d}/w/new.txt")
            await auntil(
                lambda: any(e.name == "new.txt" and e.type == FilesystemEventType.CREATE for e in events),
                "a CREATE event for new.txt",
            )
        finally:
            await w.stop()

    # ---- file metadata (X-Metadata-* -> user.e2b.* xattrs; gated on envd >= 0.6.2, open in debug mode) ----
    meta = {"Owner": "alice", "kind": "report"}
    want = {"owner": "alice", "kind": "report"}

    async def case_meta_write() -> None:
        # A single write with str data is multipart; use_octet_stream=True sends the raw body.
        info = await sbx.files.write(f"{d}/meta/multipart.txt", "m", metadata=meta)
        assert info.metadata == want, info.metadata
        assert (await sbx.files.get_info(f"{d}/meta/multipart.txt")).metadata == want
        info = await sbx.files.write(f"{d}/meta/octet.txt", "o", metadata=meta, use_octet_stream=True)
        assert info.metadata == want, info.metadata
        assert (await sbx.files.get_info(f"{d}/meta/octet.txt")).metadata == want
        # A write without metadata clears the set.
        plain = await sbx.files.write(f"{d}/meta/octet.txt", "p", use_octet_stream=True)
        assert plain.metadata is None, plain.metadata
        assert (await sbx.files.get_info(f"{d}/meta/octet.txt")).metadata is None

    async def case_meta_write_files() -> None:
        infos = await sbx.files.write_files(
            [{"path": f"{d}/meta/many/one.txt", "data": "1"}, {"path": f"{d}/meta/many/two.txt", "data": "2"}],
            metadata=meta,
        )
        assert [i.metadata for i in infos] == [want, want], infos
        listed = await sbx.files.list(f"{d}/meta/many")
        assert [(e.name, e.metadata) for e in listed] == [("one.txt", want), ("two.txt", want)], listed
        octet = await sbx.files.write_files(
            [{"path": f"{d}/meta/many/three.txt", "data": "3"}, {"path": f"{d}/meta/many/four.txt", "data": "4"}],
            metadata={"batch": "2"},
            use_octet_stream=True,
        )
        assert [i.metadata for i in octet] == [{"batch": "2"}, {"batch": "2"}], octet

    async def case_meta_rename() -> None:
        moved = await sbx.files.rename(f"{d}/meta/multipart.txt", f"{d}/meta/renamed.txt")
        assert moved.metadata == want, moved.metadata
        assert (await sbx.files.get_info(f"{d}/meta/renamed.txt")).metadata == want

    async def case_meta_invalid() -> None:
        try:
            await sbx.files.write(f"{d}/meta/bad.txt", "x", metadata={"k" * 247: "v"})
        except InvalidArgumentException as e:
            assert "invalid metadata" in str(e), str(e)
        else:
            raise AssertionError("expected InvalidArgumentException")
        assert await sbx.files.exists(f"{d}/meta/bad.txt") is False

    async def case_watch_uploads() -> None:
        await sbx.files.make_dir(f"{d}/wu")
        events: list = []
        w = await sbx.files.watch_dir(f"{d}/wu", on_event=events.append)

        async def types_after(n: int) -> list:
            await auntil(lambda: len(events) >= n, f"{n} events for up.txt")
            await asyncio.sleep(0.3)
            return [(e.name, e.type) for e in events]

        try:
            c, m, wr = FilesystemEventType.CREATE, FilesystemEventType.CHMOD, FilesystemEventType.WRITE
            await sbx.files.write(f"{d}/wu/up.txt", "new")
            got = await types_after(3)
            assert got == [("up.txt", c), ("up.txt", m), ("up.txt", wr)], got
            await sbx.files.write(f"{d}/wu/up.txt", "replaced", use_octet_stream=True)
            got = await types_after(6)
            assert got[3:] == [("up.txt", m), ("up.txt", wr), ("up.txt", wr)], got
        finally:
            await w.stop()

    await t.atest("files: make_dir / exists", case_fs_dirs, gate=rpc_gate)
    await t.atest("files: write / read / get_info", case_fs_rw, gate=http_gate)
    await t.atest("files: list", case_fs_list, gate=http_gate)
    await t.atest("files: rename / remove", case_fs_move_remove, gate=http_gate)
    await t.atest("files: watch_dir (streamed)", case_fs_watch, gate=rpc_gate)
    await t.atest("files: write with metadata (multipart, octet-stream) shows in get_info", case_meta_write, gate=http_gate)
    await t.atest("files: write_files with metadata on every file, list shows it", case_meta_write_files, gate=http_gate)
    await t.atest("files: rename keeps metadata", case_meta_rename, gate=http_gate)
    await t.atest("files: invalid metadata raises InvalidArgumentException", case_meta_invalid, gate=http_gate)
    await t.atest("files: watch_dir counts an upload of a new file and of an existing one", case_watch_uploads, gate=rpc_gate)

    try:
        await sbx.commands.run(f"rm -rf {d}")
    except Exception:  # noqa: BLE001 - best-effort cleanup
        pass
    t.done()


asyncio.run(main())
