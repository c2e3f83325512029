// The console's build: Svelte components compiled ahead of time (no template compiler, no eval at
// run time) into plain ES modules and one stylesheet, written into chalicelib/vendor/console/
// (git-ignored; `chalice package` ships it; chalicelib/api/console.py serves the files that
// .vite/manifest.json lists, nothing else).
import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

export default defineConfig({
  plugins: [svelte()],
  base: "./", // relative: the page sets <base href> to wherever the deployment serves /console/
  build: {
    outDir: "../chalicelib/vendor/console",
    emptyOutDir: true,
    manifest: true,
    assetsInlineLimit: 0, // no data: URLs in the CSS or scripts
    modulePreload: { polyfill: false }, // every browser the console supports has modulepreload
    chunkSizeWarningLimit: 400,
    sourcemap: false,
  },
});
