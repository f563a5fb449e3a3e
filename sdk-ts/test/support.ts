/**
 * Test support: a real envd per test file (binary from `ENVD_BIN`, else the
 * workspace's debug build), a scratch directory, and a stall-able proxy.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const ENVD_BIN = process.env["ENVD_BIN"] ?? resolve(here, "../../target/debug/envd");

/** A running envd and its scratch directory. */
export interface RunningEnvd {
  url: string;
  /** An empty directory (mode 0777) removed by `stop`. */
  scratch: string;
  stop(): Promise<void>;
}

/** Starts envd on 127.0.0.1:0 (plus `extraArgs`) and waits for its "listening" line. */
export async function startEnvd(extraArgs: string[] = []): Promise<RunningEnvd> {
  const root = mkdtempSync(join(tmpdir(), "envd-sdk-ts-"));
  const scratch = join(root, "scratch");
  mkdirSync(scratch);
  chmodSync(scratch, 0o777);
  const child: ChildProcess = spawn(
    ENVD_BIN,
    [
      "--addr",
      "127.0.0.1:0",
      "--run-dir",
      join(root, "run"),
      "--hosts-file",
      join(root, "hosts"),
      "--drop-caches",
      join(root, "drop_caches"),
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", process.env["ENVD_LOG"] === undefined ? "ignore" : "inherit"] },
  );
  const url = await new Promise<string>((resolvePromise, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error("envd did not start within 20 s")), 20_000);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`envd exited early with ${code}`)));
    lines.on("line", (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1]!);
      }
    });
  });
  child.stdout!.resume();
  return {
    url,
    scratch,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A TCP proxy to envd that can be frozen: it then forwards nothing but keeps connections open. */
export interface StallProxy {
  url: string;
  freeze(): void;
  close(): Promise<void>;
}

export async function stallProxy(target: string): Promise<StallProxy> {
  const { hostname, port } = new URL(target);
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.on("data", (d) => {
      if (!frozen) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!frozen) client.write(d);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no proxy address");
  return {
    url: `http://127.0.0.1:${address.port}`,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
