// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "artifacts/", "cache/", "types/", "coverage/", "data/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: "readonly",
        process: "readonly",
        URL: "readonly",
        fetch: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        AbortSignal: "readonly",
        TextEncoder: "readonly",
        Buffer: "readonly",
        structuredClone: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // Node runs our .ts files by stripping types: syntax that needs compiling is not allowed.
      "no-restricted-syntax": [
        "error",
        { selector: "TSEnumDeclaration", message: "use a union of string literals: Node's type stripping cannot run enums" },
        { selector: "TSModuleDeclaration[kind!='global'][declare!=true]", message: "namespaces need compiling; use modules" },
        { selector: "TSParameterProperty", message: "parameter properties need compiling; assign fields explicitly" },
      ],
    },
  },
  {
    // Tests read JSON answers whose shape is what they assert.
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["service/core/**/*.ts"],
    rules: {
      // core/ is pure: no I/O, nothing of ours outside core/.
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*", "fs", "net", "http", "pg", "ioredis", "bullmq", "fastify", "ethers"], message: "service/core is pure: no I/O" },
            { group: ["../*"], message: "service/core imports nothing of ours outside core/" },
          ],
        },
      ],
    },
  },
);
