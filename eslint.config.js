import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", ".sst/", ".fleet/", "cdk.out/", "schema/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["@aws-sdk/*"], message: "Only functions/aws/ talks to AWS: import an adapter instead." }] },
      ],
    },
  },
  { files: ["functions/aws/**", "test/**", "bench/**"], rules: { "no-restricted-imports": "off" } },
);
