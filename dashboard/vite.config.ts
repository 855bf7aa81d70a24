import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Assets are referenced relative to the page's <base href>, which the API writes at run
// time (its JOBQ_PUBLIC_PATH + "/ui/"): one build serves any sub-path behind an ingress.
export default defineConfig({
  base: "./",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline script or style anywhere: a strict Content-Security-Policy holds.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
