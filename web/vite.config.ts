// `npm run build:web`: the web application (web/src) built to web/dist, served by every access
// gateway at / ([ACS-23]). Hashed file names under assets/ (cached for a year); no inline script,
// so the gateway's Content-Security-Policy needs no 'unsafe-inline'.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import preact from '@preact/preset-vite'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: '/',
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false })],
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsDir: 'assets',
    // no data: URLs for fonts or images the CSP would have to allow
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    // one chunk of about 280 KB gzip-compressed, 950 KB minified (core, client, Preact, uPlot, and
    // mqtt.js for the live view: about 100 KB gzip-compressed of it); warn past 1 MB minified
    chunkSizeWarningLimit: 1000
  }
})
