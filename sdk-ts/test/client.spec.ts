/** Client-level endpoints: health, metrics, envs, init, snapshot, users. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { Code, Envd, EnvdError } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;

before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

describe("client", () => {
  it("reports health, metrics and envs", async () => {
    const envd = new Envd({ url: `${server.url}/` });
    assert.deepEqual(await envd.health(), { version: "0.7.0" });
    const metrics = await envd.metrics();
    assert.ok(metrics.mem_total > 0);
    assert.ok(metrics.cpu_count >= 1);
    assert.equal(typeof metrics.disk_used, "number");
    const envs = await envd.envs();
    assert.equal(typeof envs, "object");
  });

  it("init sets env vars, workdir and a token the client then uses", async () => {
    const envd = new Envd({ url: server.url });
    await envd.init({
      envVars: { SDK_TEST_VAR: "42" },
      defaultWorkdir: server.scratch,
      timestamp: new Date(),
    });
    assert.equal((await envd.envs())["SDK_TEST_VAR"], "42");
    const r = await envd.commands.run("/bin/sh", { args: ["-c", 'printf "%s %s" "$SDK_TEST_VAR" "$(pwd)"'] });
    assert.equal(r.stdout, `42 ${server.scratch}`);

    await envd.init({ accessToken: "sdk-secret" });
    assert.equal(envd.accessToken, "sdk-secret");
    assert.equal((await envd.commands.run("/bin/true")).exitCode, 0);
    const anonymous = new Envd({ url: server.url });
    await assert.rejects(anonymous.metrics(), (e: unknown) => {
      assert.ok(e instanceof EnvdError);
      assert.equal(e.code, Code.Unauthenticated);
      assert.equal(e.httpStatus, 401);
      return true;
    });
    await assert.rejects(anonymous.commands.list(), (e: unknown) => e instanceof EnvdError && e.code === Code.Unauthenticated);
    // /init without the current token may not replace it.
    await assert.rejects(anonymous.init({ accessToken: "hijack" }), (e: unknown) => {
      assert.ok(e instanceof EnvdError);
      assert.equal(e.httpStatus, 401);
      return true;
    });
    await envd.prepareSnapshot();
    assert.deepEqual(await envd.health(), { version: "0.7.0" });
  });

  it("reports the access-token reason on unary and streaming RPCs", async () => {
    // A fresh envd: the guard rejects a streaming RPC with a plain-HTTP 401
    // before routing, whose reason only the `envd-error-reason` header carries
    // to a Connect client.
    const guarded = await startEnvd();
    try {
      await new Envd({ url: guarded.url }).init({ accessToken: "guard-secret" });
      const tokenInvalid = (e: unknown): boolean => {
        assert.ok(e instanceof EnvdError, `expected EnvdError, got ${String(e)}`);
        assert.equal(e.code, Code.Unauthenticated);
        assert.equal(e.reasonName, "ERROR_REASON_ACCESS_TOKEN_INVALID");
        return true;
      };
      for (const accessToken of [undefined, "wrong"]) {
        const stranger = new Envd({ url: guarded.url, accessToken });
        await assert.rejects(stranger.commands.list(), tokenInvalid);
        await assert.rejects(stranger.commands.run("/bin/true"), tokenInvalid);
        await assert.rejects(stranger.metrics(), tokenInvalid);
      }
    } finally {
      await guarded.stop();
    }
  });

  it("acts as another user with Basic auth and rejects unknown users", async () => {
    const envd = new Envd({ url: server.url, user: "root", accessToken: "sdk-secret" });
    assert.equal((await envd.commands.run("/usr/bin/id", { args: ["-un"] })).stdout, "root\n");
    await assert.rejects(
      envd.commands.run("/usr/bin/id", { user: "no-such-user-envd" }),
      (e: unknown) => e instanceof EnvdError && e.code === Code.Unauthenticated,
    );
  });

  it("fails fast with unavailable when nothing listens", async () => {
    const envd = new Envd({ url: "http://127.0.0.1:1" });
    await assert.rejects(envd.health(), (e: unknown) => e instanceof EnvdError && e.code === Code.Unavailable);
    await assert.rejects(envd.commands.list(), (e: unknown) => e instanceof EnvdError && e.code === Code.Unavailable);
  });
});
