/** `envd.commands` against a real envd. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Code, Envd, EnvdError, ErrorReason } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;
let envd: Envd;

before(async () => {
  server = await startEnvd();
  envd = new Envd({ url: server.url });
});
after(() => server.stop());

describe("commands.run", () => {
  it("collects stdout, stderr and a non-zero exit as a result", async () => {
    const r = await envd.commands.run("/bin/sh", { args: ["-c", "echo out; echo err >&2; exit 3"] });
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
    assert.equal(r.exited, true);
    assert.equal(r.status, "exit status 3");
    assert.equal(r.error, "exit status 3");
    assert.ok(r.pid > 0);
  });

  it("passes args, env and cwd", async () => {
    const r = await envd.commands.run("/bin/sh", {
      args: ["-c", 'printf "%s|%s|%s" "$1" "$GREETING" "$(pwd)"', "sh", "a b"],
      envs: { GREETING: "hi" },
      cwd: server.scratch,
    });
    assert.equal(r.stdout, `a b|hi|${server.scratch}`);
    assert.equal(r.exitCode, 0);
    assert.equal(r.error, undefined);
  });

  it("feeds stdin and closes it", async () => {
    const r = await envd.commands.run("/bin/cat", { stdin: "line 1\nline 2\n" });
    assert.equal(r.stdout, "line 1\nline 2\n");
  });

  it("returns the result of a process that exits without reading its input", async () => {
    const r = await envd.commands.run("/bin/sh", { args: ["-c", "exit 4"], stdin: "x".repeat(300_000) });
    assert.equal(r.exitCode, 4);
  });

  it("is cancelled by an AbortSignal", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(
      envd.commands.run("/bin/sleep", { args: ["30"], signal: controller.signal }),
      (e: unknown) => e instanceof EnvdError && e.code === Code.Canceled,
    );
  });

  it("streams output to callbacks", async () => {
    const seen: string[] = [];
    await envd.commands.run("/bin/sh", { args: ["-c", "echo a; echo b"], onStdout: (d) => seen.push(d) });
    assert.equal(seen.join(""), "a\nb\n");
  });

  it("kills the process at the timeout with deadline_exceeded", async () => {
    const started = Date.now();
    await assert.rejects(envd.commands.run("/bin/sleep", { args: ["30"], timeoutMs: 500 }), (e: unknown) => {
      assert.ok(e instanceof EnvdError);
      assert.equal(e.code, Code.DeadlineExceeded);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
  });
});

describe("commands.spawn and handles", () => {
  it("spawns with stdin, iterates output, waits", async () => {
    const h = await envd.commands.spawn("/bin/cat", { stdin: true });
    await h.sendStdin("ping\n");
    const chunks: string[] = [];
    for await (const chunk of h) {
      assert.equal(chunk.stream, "stdout");
      chunks.push(new TextDecoder().decode(chunk.data));
      if (chunks.join("").includes("ping")) break;
    }
    await h.closeStdin();
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "ping\n");
  });

  it("connects by tag, lists, signals and kills", async () => {
    const tag = `t-${Date.now()}`;
    const h = await envd.commands.spawn("/bin/sleep", { args: ["30"], tag });
    const listed = await envd.commands.list();
    const mine = listed.find((p) => p.pid === h.pid);
    assert.ok(mine);
    assert.equal(mine.tag, tag);
    assert.equal(mine.cmd, "/bin/sleep");
    assert.deepEqual(mine.args, ["30"]);

    const other = await envd.commands.connect({ tag });
    assert.equal(other.pid, h.pid);
    await envd.commands.signal({ tag }, "SIGTERM");
    const r = await other.wait();
    assert.equal(r.exitCode, -1);
    assert.equal(r.exited, false);
    assert.match(r.status, /terminated/);
    assert.equal((await h.wait()).status, r.status);
    assert.equal(await envd.commands.kill(h.pid), false);
  });

  it("disconnect leaves the process running", async () => {
    const h = await envd.commands.spawn("/bin/sh", { args: ["-c", "sleep 0.5; echo done"], stdin: false });
    h.disconnect();
    await assert.rejects(h.wait(), (e: unknown) => e instanceof EnvdError && e.code === Code.Canceled);
    const again = await envd.commands.connect(h.pid);
    const r = await again.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "done\n");
  });

  it("kill by handle ends the process", async () => {
    const h = await envd.commands.spawn("/bin/sleep", { args: ["30"] });
    assert.equal(await h.kill(), true);
    const r = await h.wait();
    assert.equal(r.status, "signal: killed");
  });

  it("reports a missing process as not_found", async () => {
    await assert.rejects(
      envd.commands.connect(999_999),
      (e: unknown) => e instanceof EnvdError && e.code === Code.NotFound && e.reason === ErrorReason.PROCESS_NOT_FOUND,
    );
    await assert.rejects(
      envd.commands.sendStdin({ tag: "no-such-tag" }, "x"),
      (e: unknown) => e instanceof EnvdError && e.code === Code.NotFound && e.httpStatus === undefined,
    );
  });
});
