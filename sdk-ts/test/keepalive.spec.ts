/** Streams never hang silently: keepalive header and the 3× watchdog. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { Interceptor } from "@connectrpc/connect";

import { Code, Envd, EnvdError, ErrorReason } from "../src/node.js";
import { stallProxy, startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;

before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

const isStall = (e: unknown): boolean => {
  assert.ok(e instanceof EnvdError, `expected EnvdError, got ${String(e)}`);
  assert.equal(e.code, Code.Unavailable);
  assert.match(e.message, /keepalive/);
  assert.equal(e.reason, ErrorReason.STREAM_STALLED);
  return true;
};

describe("keepalive", () => {
  it("asks for the interval and survives idle periods longer than 3× it", async () => {
    const seen: (string | null)[] = [];
    const record: Interceptor = (next) => (request) => {
      seen.push(request.header.get("keepalive-ping-interval"));
      return next(request);
    };
    const envd = new Envd({ url: server.url, keepaliveIntervalMs: 1000, interceptors: [record] });
    const r = await envd.commands.run("/bin/sh", { args: ["-c", "sleep 4; echo late"] });
    assert.equal(r.stdout, "late\n");
    assert.deepEqual(seen, ["1"]);
  });

  it("fails a stalled command stream with unavailable", async () => {
    const proxy = await stallProxy(server.url);
    try {
      const envd = new Envd({ url: proxy.url, keepaliveIntervalMs: 1000 });
      const handle = await envd.commands.spawn("/bin/sleep", { args: ["30"] });
      proxy.freeze();
      const started = Date.now();
      await assert.rejects(handle.wait(), isStall);
      const took = Date.now() - started;
      assert.ok(took >= 2000 && took < 8000, `stall detected after ${took} ms`);
      // The process itself is unaffected.
      const direct = new Envd({ url: server.url });
      assert.equal(await direct.commands.kill(handle.pid), true);
    } finally {
      await proxy.close();
    }
  });

  it("fails a stalled watch with unavailable", async () => {
    const proxy = await stallProxy(server.url);
    try {
      const envd = new Envd({ url: proxy.url, keepaliveIntervalMs: 1000 });
      const watch = await envd.files.watch(server.scratch);
      proxy.freeze();
      await assert.rejects(
        (async () => {
          for await (const event of watch) {
            assert.fail(`unexpected event ${event.name}`);
          }
        })(),
        isStall,
      );
    } finally {
      await proxy.close();
    }
  });
});
