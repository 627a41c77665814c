import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  plugins: [svelte()],
  // Source maps stay on disk for the operator ('hidden': no sourceMappingURL); the server never serves them.
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: 'hidden' },
  server: {
    // The protocol types live in server/src/protocol, shared with the server.
    fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] },
    proxy: { '/socket.io': { target: 'http://localhost:8080', ws: true } },
  },
});
