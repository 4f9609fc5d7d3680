import { defineConfig } from "vitest/config";

// The Python server serves dist/ at "/" and index.html for unknown paths (such as /callback),
// so assets must use absolute URLs: base "/". For development run `npm run dev` (rebuilds on
// change) next to the chat server, so sign-in uses the origin the provider knows.
export default defineConfig({
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  test: { environment: "node" },
});
