/** §6.3 signature test vectors and the base64 encoder behind them. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { encodeBase64 } from "../src/base64.js";
import { fileSignature } from "../src/node.js";

const token = "secret-access-token";

describe("fileSignature (spec §6.3 vectors)", () => {
  it("read, user, no expiry", async () => {
    assert.equal(
      await fileSignature({ path: "/path/to/resource.txt", operation: "read", username: "user", token }),
      "v1_/0lpZh0CqgZvu5XIwq2wcliltum4wAS2H36jVjFApV0",
    );
  });
  it("write, root, expiry", async () => {
    assert.equal(
      await fileSignature({ path: "/path/to/demo.txt", operation: "write", username: "root", token, expiration: 1700000000 }),
      "v1_lBs3UB8YidWbWkExnyxa81tZNSbGcpXdicXNVcYFZAs",
    );
  });
  it("read, absent user", async () => {
    assert.equal(
      await fileSignature({ path: "/home/user/a.txt", operation: "read", username: "", token }),
      "v1_HoHyLz7kRQP7IAmvkMOSL969BGDI6RIb5xjayl4Djcc",
    );
  });
  it("write, absent path and user", async () => {
    assert.equal(
      await fileSignature({ path: "", operation: "write", username: "", token }),
      "v1_82R10Rkzh6YhxTNrfQLnRmIESjDApuO5NxM4bcZr+Ho",
    );
  });
});

describe("encodeBase64", () => {
  it("matches Node's encoder for every length and byte", () => {
    for (let n = 0; n < 64; n++) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 37 + n * 11) & 255);
      const expected = Buffer.from(bytes).toString("base64");
      assert.equal(encodeBase64(bytes), expected);
      assert.equal(encodeBase64(bytes, false), expected.replace(/=+$/, ""));
    }
  });
});
