import { defineConfig } from "vite";

export default defineConfig({
  clearScreen: false,
  esbuild: { jsx: "automatic" },
  // The tests also read the table of field-rule cases shared with the Rust rules.
  server: { port: 5173, strictPort: true, fs: { allow: [".", "../crates/api/tests"] } },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
