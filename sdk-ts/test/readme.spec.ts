/**
 * The README's quick start works as written: it is extracted, pointed at a
 * test envd (only the URL changes) and run as a module importing the built
 * package `@envd/sdk` (run `npm run build` first; `npm test` does).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { startEnvd, type RunningEnvd } from "./support.js";

const root = fileURLToPath(new URL("..", import.meta.url));
let server: RunningEnvd;

before(async () => {
  server = await startEnvd();
});
after(() => server.stop());

describe("README", () => {
  it("opens with a five-line quick start that runs", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const match = /^```ts\n([\s\S]*?)```/m.exec(readme);
    assert.ok(match, "the README has a ts block");
    const snippet = match[1]!;
    assert.equal(snippet.trimEnd().split("\n").length, 5);
    assert.ok(readme.indexOf(match[0]) < readme.indexOf("\n## "), "the quick start comes first");
    assert.match(snippet, /from "@envd\/sdk"/);

    const file = join(root, "test", `.readme-${process.pid}.mts`);
    writeFileSync(file, snippet.replace("http://127.0.0.1:49983", server.url));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: root });
      assert.equal(stdout, "hello\n\n");
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("has a terminal sessions example that runs", async () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Terminal sessions"));
    const match = /```ts\n([\s\S]*?)```/.exec(section);
    assert.ok(match, "the terminal section has a ts block");
    const file = join(root, "test", `.readme-terminal-${process.pid}.mts`);
    writeFileSync(file, match[1]!.replace("http://127.0.0.1:49983", server.url));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", file], { cwd: root });
      // The terminal's echo of "hi", then cat's copy; then cat ended at end of input.
      assert.equal(stdout, 'true "hi\\r\\nhi\\r\\n"\n');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
