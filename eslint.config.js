// ESLint flat config for the repository's TypeScript/JavaScript: the SDK
// (type-aware, through sdk-ts/tsconfig.json), its tests, the conformance
// adapter and the conformance runner. Generated code (sdk-ts/src/gen) and
// build output are not linted.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Globals of Node scripts (declared here rather than via the `globals` package). */
const nodeGlobals = Object.fromEntries(
  [
    "AbortController", "AbortSignal", "Buffer", "URL", "URLSearchParams", "TextDecoder", "TextEncoder",
    "ReadableStream", "WritableStream", "Blob", "FormData", "Headers", "Request", "Response", "fetch",
    "clearInterval", "clearTimeout", "console", "crypto", "process", "queueMicrotask", "setImmediate",
    "setInterval", "setTimeout", "structuredClone",
  ].map((name) => [name, "readonly"]),
);

export default tseslint.config(
  {
    ignores: ["**/node_modules/**", "**/dist/**", "sdk-ts/src/gen/**", "target/**", "target-ci/**"],
  },
  {
    files: ["sdk-ts/src/**/*.ts", "sdk-ts/test/**/*.ts"],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unnecessary-condition": ["error", { allowConstantLoopConditions: true }],
      // Classes hide their constructors from users with `@internal` docs.
      "@typescript-eslint/no-extraneous-class": "off",
    },
  },
  {
    // The browser entry and everything it imports must stay free of Node.
    files: ["sdk-ts/src/**/*.ts"],
    ignores: ["sdk-ts/src/node.ts", "sdk-ts/src/transport/node.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "sdk-ts/src is shared with browsers: no Node built-ins." },
            { group: ["@connectrpc/connect-node"], message: "Only src/transport/node.ts may use connect-node." },
          ],
        },
      ],
      "no-restricted-globals": [
        "error",
        { name: "Buffer", message: "Not in browsers: use Uint8Array." },
        { name: "process", message: "Not in browsers." },
        { name: "require", message: "ESM only." },
      ],
    },
  },
  {
    files: ["sdk-ts/test/**/*.ts"],
    rules: {
      // Tests assert on values the types already promise.
      "@typescript-eslint/no-non-null-assertion": "off",
      // node:test's describe/it return promises the runner tracks itself.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "before", "after", "suite"] },
          ],
        },
      ],
    },
  },
  {
    files: ["conformance/adapters/ts/**/*.{js,mjs,ts}", "conformance/runner/**/*.{js,mjs,ts}", "sdk-ts/bench/**/*.mjs"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: nodeGlobals,
    },
  },
);
