/** `envd.files`: RPC operations, `/files` transfers, watch, signed URLs. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { Code, Envd, EnvdError, ErrorReason } from "../src/node.js";
import { startEnvd, type RunningEnvd } from "./support.js";

let server: RunningEnvd;
let envd: Envd;
let dir: string;

before(async () => {
  server = await startEnvd();
  envd = new Envd({ url: server.url });
  dir = server.scratch;
});
after(() => server.stop());

const isCode = (code: Code, httpStatus?: number) => (e: unknown) => {
  assert.ok(e instanceof EnvdError, `expected EnvdError, got ${String(e)}`);
  assert.equal(e.code, code);
  assert.equal(e.httpStatus, httpStatus);
  return true;
};

/** A deterministic pseudo-random stream of `size` bytes in 64 KiB chunks, hashed as it goes. */
function generated(size: number): { stream: ReadableStream<Uint8Array>; digest: () => string } {
  const hash = createHash("sha256");
  let sent = 0;
  let x = 12345;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) {
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(65536, size - sent));
      for (let i = 0; i < chunk.length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        chunk[i] = x >>> 24;
      }
      hash.update(chunk);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { stream, digest: () => hash.digest("hex") };
}

describe("transfers", () => {
  it("writes and reads text and bytes", async () => {
    const info = await envd.files.write(`${dir}/a/b/hello.txt`, "héllo\n");
    assert.deepEqual(info, { name: "hello.txt", path: `${dir}/a/b/hello.txt`, type: "file", metadata: {} });
    assert.equal(await envd.files.read(`${dir}/a/b/hello.txt`), "héllo\n");
    const bytes = new Uint8Array([0, 255, 1, 254]);
    await envd.files.write(`${dir}/bin`, bytes);
    assert.deepEqual(await envd.files.read(`${dir}/bin`, { format: "bytes" }), bytes);
    assert.equal(await envd.files.read(`${dir}/bin`, { format: "text" }).then((t) => t.length > 0), true);
  });

  it("streams 24 MiB up and down without corruption", async () => {
    const size = 24 * 1024 * 1024;
    const up = generated(size);
    await envd.files.write(`${dir}/big.bin`, up.stream);
    assert.equal((await envd.files.stat(`${dir}/big.bin`)).size, size);
    const down = await envd.files.read(`${dir}/big.bin`, { format: "stream" });
    const hash = createHash("sha256");
    let received = 0;
    for await (const chunk of down) {
      hash.update(chunk);
      received += chunk.length;
    }
    assert.equal(received, size);
    assert.equal(hash.digest("hex"), up.digest());
  });

  it("reads an empty file", async () => {
    await envd.files.write(`${dir}/empty`, "");
    assert.equal(await envd.files.read(`${dir}/empty`), "");
    const stream = await envd.files.read(`${dir}/empty`, { format: "stream" });
    let n = 0;
    for await (const chunk of stream) n += chunk.length;
    assert.equal(n, 0);
  });

  it("writes several files in one request", async () => {
    const infos = await envd.files.writeMany([
      { path: `${dir}/many/one.txt`, data: "1" },
      { path: `${dir}/many/two.txt`, data: new TextEncoder().encode("2") },
    ]);
    assert.deepEqual(
      infos.map((i) => i.path),
      [`${dir}/many/one.txt`, `${dir}/many/two.txt`],
    );
    assert.equal(await envd.files.read(`${dir}/many/two.txt`), "2");
  });

  it("maps HTTP failures to typed errors", async () => {
    await assert.rejects(envd.files.read(`${dir}/missing`), (e: unknown) => {
      isCode(Code.NotFound, 404)(e);
      assert.ok(e instanceof EnvdError);
      assert.equal(e.reason, ErrorReason.PATH_NOT_FOUND);
      assert.equal(e.reasonName, "ERROR_REASON_PATH_NOT_FOUND");
      return true;
    });
    await assert.rejects(envd.files.read(dir), isCode(Code.InvalidArgument, 400));
    await assert.rejects(envd.files.write("", "x"), isCode(Code.InvalidArgument));
  });
});

describe("metadata and compose", () => {
  const want = { owner: "alice", kind: "report" };
  const metadata = { Owner: "alice", kind: "report" };

  it("sends metadata on every upload path and shows it in entries", async () => {
    const root = `${dir}/meta`;
    // Single write (octet-stream); envd lower-cases the keys.
    const info = await envd.files.write(`${root}/a.txt`, "a", { metadata });
    assert.deepEqual(info.metadata, want);
    assert.deepEqual((await envd.files.stat(`${root}/a.txt`)).metadata, want);
    // A stream carries it too.
    const streamed = await envd.files.write(`${root}/s.bin`, generated(100_000).stream, { metadata });
    assert.deepEqual(streamed.metadata, want);
    // Every file of a multipart upload gets the same set.
    const infos = await envd.files.writeMany(
      [
        { path: `${root}/1.txt`, data: "one" },
        { path: `${root}/2.txt`, data: "two" },
      ],
      { metadata },
    );
    assert.deepEqual(
      infos.map((i) => i.metadata),
      [want, want],
    );
    const listed = await envd.files.list(root);
    assert.equal(listed.length, 4);
    for (const e of listed) assert.deepEqual(e.metadata, want, e.name);

    // A rename keeps it; an overwrite replaces the set, a plain write clears it.
    const moved = await envd.files.rename(`${root}/a.txt`, `${root}/b.txt`);
    assert.deepEqual(moved.metadata, want);
    const replaced = await envd.files.write(`${root}/b.txt`, "b", { metadata: { kind: "draft" } });
    assert.deepEqual(replaced.metadata, { kind: "draft" });
    const cleared = await envd.files.write(`${root}/b.txt`, "c");
    assert.deepEqual(cleared.metadata, {});
    assert.deepEqual((await envd.files.stat(`${root}/b.txt`)).metadata, {});
  });

  it("refuses invalid metadata and writes nothing", async () => {
    const path = `${dir}/meta-bad/x.txt`;
    // envd's rule: a key of at most 246 bytes.
    await assert.rejects(envd.files.write(path, "x", { metadata: { ["k".repeat(247)]: "v" } }), (e: unknown) => {
      isCode(Code.InvalidArgument, 400)(e);
      assert.match((e as Error).message, /invalid metadata/);
      return true;
    });
    // Not an HTTP header at all: refused before sending.
    await assert.rejects(
      envd.files.writeMany([{ path, data: "x" }], { metadata: { "two words": "v" } }),
      isCode(Code.InvalidArgument),
    );
    await assert.rejects(envd.files.write(path, "x", { metadata: { k: "line\nbreak" } }), isCode(Code.InvalidArgument));
    assert.equal(await envd.files.exists(path), false);
  });

  it("composes sources in order and removes them", async () => {
    const root = `${dir}/compose`;
    await envd.files.write(`${root}/a.part`, "hello ");
    await envd.files.write(`${root}/b.part`, "world");
    const dest = `${root}/out/whole.txt`;
    const info = await envd.files.compose([`${root}/b.part`, `${root}/a.part`], dest);
    assert.deepEqual(info, { name: "whole.txt", path: dest, type: "file", metadata: {} });
    assert.equal(await envd.files.read(dest), "worldhello ");
    assert.equal(await envd.files.exists(`${root}/a.part`), false);
    assert.equal(await envd.files.exists(`${root}/b.part`), false);

    await assert.rejects(envd.files.compose([], dest), isCode(Code.InvalidArgument, 400));
    await assert.rejects(envd.files.compose([`${root}/missing`], dest), isCode(Code.NotFound, 404));
    await assert.rejects(envd.files.compose([dest], `${root}/x`, { user: "no-such-user-envd" }), (e: unknown) => {
      assert.ok(e instanceof EnvdError);
      assert.equal(e.httpStatus, 401);
      return true;
    });
    assert.equal(await envd.files.read(dest), "worldhello ");
  });
});

describe("filesystem RPCs", () => {
  it("stat, exists, list with depth, makeDir, rename, remove", async () => {
    const root = `${dir}/tree`;
    const made = await envd.files.makeDir(`${root}/sub-1`);
    assert.equal(made.type, "dir");
    assert.equal(made.path, `${root}/sub-1`);
    await assert.rejects(envd.files.makeDir(`${root}/sub-1`), isCode(Code.AlreadyExists));
    await envd.files.write(`${root}/sub-1/file.txt`, "abc");
    await envd.files.makeDir(`${root}/sub-2`);

    const stat = await envd.files.stat(`${root}/sub-1/file.txt`);
    assert.equal(stat.type, "file");
    assert.equal(stat.size, 3);
    assert.equal(stat.name, "file.txt");
    assert.ok(stat.modifiedTime instanceof Date);
    assert.match(stat.permissions, /^-rw/);

    assert.deepEqual(
      (await envd.files.list(root)).map((e) => e.name),
      ["sub-1", "sub-2"],
    );
    assert.deepEqual(
      (await envd.files.list(root, { depth: 2 })).map((e) => e.path),
      [`${root}/sub-1`, `${root}/sub-1/file.txt`, `${root}/sub-2`],
    );

    const moved = await envd.files.rename(`${root}/sub-1/file.txt`, `${root}/sub-2/renamed.txt`);
    assert.equal(moved.path, `${root}/sub-2/renamed.txt`);
    assert.equal(await envd.files.exists(`${root}/sub-1/file.txt`), false);
    assert.equal(await envd.files.exists(`${root}/sub-2/renamed.txt`), true);

    await envd.files.remove(root);
    assert.equal(await envd.files.exists(root), false);
    await assert.rejects(envd.files.stat(root), (e: unknown) => {
      isCode(Code.NotFound)(e);
      assert.ok(e instanceof EnvdError);
      assert.equal(e.reason, ErrorReason.PATH_NOT_FOUND);
      return true;
    });
    await assert.rejects(envd.files.remove("  "), isCode(Code.InvalidArgument));
  });

  it("watches a directory", async () => {
    const watched = `${dir}/watched`;
    await envd.files.makeDir(watched);
    const watch = await envd.files.watch(watched, { recursive: true });
    await envd.files.makeDir(`${watched}/inner`);
    await envd.commands.run("/bin/sh", { args: ["-c", `echo x > ${watched}/inner/f.txt`] });
    const seen: string[] = [];
    for await (const event of watch) {
      seen.push(`${event.type}:${event.name}`);
      if (seen.includes("create:inner/f.txt")) break;
    }
    assert.equal(seen[0], "create:inner");
    assert.ok(seen.includes("create:inner/f.txt"));
    watch.stop();
    await assert.rejects(envd.files.watch(`${dir}/nope`), isCode(Code.NotFound));
  });
});

describe("signed URLs", () => {
  it("work without a token, and with one after init", async () => {
    const path = `${dir}/signed.txt`;
    await envd.files.write(path, "signed!");
    const plain = await envd.files.downloadUrl(path);
    assert.equal(plain, `${server.url}/files?path=${encodeURIComponent(path)}`);

    const token = `tok-${Date.now()}`;
    await envd.init({ accessToken: token });
    assert.equal(envd.accessToken, token);
    {
      const download = await envd.files.downloadUrl(path, { expiresInSeconds: 60 });
      assert.match(download, /signature=v1_/);
      assert.match(download, /signature_expiration=\d+/);
      const got = await fetch(download);
      assert.equal(got.status, 200);
      assert.equal(await got.text(), "signed!");

      const upload = await envd.files.uploadUrl(`${dir}/up.txt`, { user: "root" });
      assert.match(upload, /username=root/);
      const put = await fetch(upload, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: "uploaded",
      });
      assert.equal(put.status, 200);
      assert.equal(await envd.files.read(`${dir}/up.txt`), "uploaded");

      const tampered = download.replace(encodeURIComponent(path), encodeURIComponent(`${dir}/up.txt`));
      assert.equal((await fetch(tampered)).status, 401);

      const stranger = new Envd({ url: server.url, accessToken: "wrong" });
      await assert.rejects(stranger.files.read(path), isCode(Code.Unauthenticated, 401));
      // An RPC with an empty body: envd closes the connection without reading
      // the body of a rejected request, so a Stat here can end in EPIPE.
      await assert.rejects(stranger.commands.list(), isCode(Code.Unauthenticated));
    }
  });
});
