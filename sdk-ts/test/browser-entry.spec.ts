/**
 * The browser entry: it bundles for the browser platform with no Node
 * built-ins, and (run here over Node's fetch) drives envd like the Node one.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

import { Code, Envd, EnvdError, ErrorReason } from "../src/browser.js";
import { startEnvd, type RunningEnvd } from "./support.js";

const root = fileURLToPath(new URL("..", import.meta.url));
let server: RunningEnvd;

before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

describe("browser entry", () => {
  it("bundles for browsers without Node built-ins", async () => {
    const result = await build({
      entryPoints: [join(root, "src/browser.ts")],
      bundle: true,
      platform: "browser",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((i) => i.includes("connect-web")));
    assert.ok(!inputs.some((i) => i.includes("connect-node") || i.startsWith("node:")), inputs.join("\n"));
    const code = result.outputFiles[0]!.text;
    assert.doesNotMatch(code, /from\s*["']node:|require\(["']node:/);
  });

  it("runs commands, streams and files over fetch", async () => {
    const envd = new Envd({ url: server.url });
    const r = await envd.commands.run("/bin/sh", { args: ["-c", "echo web; exit 2"] });
    assert.equal(r.stdout, "web\n");
    assert.equal(r.exitCode, 2);

    const path = `${server.scratch}/web.txt`;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("from "));
        controller.enqueue(new TextEncoder().encode("a stream"));
        controller.close();
      },
    });
    await envd.files.write(path, body);
    assert.equal(await envd.files.read(path), "from a stream");
    await assert.rejects(envd.files.stat(`${path}.missing`), (e: unknown) => e instanceof EnvdError && e.code === Code.NotFound);

    const pty = await envd.pty.create({ cols: 50, rows: 20, cmd: "/bin/sh" });
    await pty.write("stty size\n");
    for await (const chunk of pty) {
      if (chunk.length > 0 && new TextDecoder().decode(pty.received).includes("20 50")) break;
    }
    await pty.kill();
    assert.equal((await pty.wait()).status, "signal: killed");
  });

  it("reports the access-token reason on unary and streaming RPCs", async () => {
    const guarded = await startEnvd();
    try {
      await new Envd({ url: guarded.url }).init({ accessToken: "guard-secret" });
      const stranger = new Envd({ url: guarded.url, accessToken: "wrong" });
      const tokenInvalid = (e: unknown): boolean => {
        assert.ok(e instanceof EnvdError, `expected EnvdError, got ${String(e)}`);
        assert.equal(e.code, Code.Unauthenticated);
        assert.equal(e.reason, ErrorReason.ACCESS_TOKEN_INVALID);
        return true;
      };
      await assert.rejects(stranger.commands.list(), tokenInvalid);
      await assert.rejects(stranger.commands.run("/bin/true"), tokenInvalid);
      await assert.rejects(stranger.metrics(), tokenInvalid);
    } finally {
      await guarded.stop();
    }
  });
});
