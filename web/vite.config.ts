// `npm run build:web`: the web application (web/src) built to web/dist, served by every access
// gateway at / ([ACS-23]). Hashed file names under assets/ (cached for a year); no inline script,
// so the gateway's Content-Security-Policy needs no 'unsafe-inline'.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { defineConfig, type Plugin } from 'vite'
import preact from '@preact/preset-vite'
import { SOURCES_FILE, bundledSources } from '../src/demo/web-sources.ts'

const root = fileURLToPath(new URL('.', import.meta.url))

/**
 * [ACS-23] Each script and style sheet also as `.br` and `.gz` beside it, compressed once at build
 * time at the highest levels: the gateway sends the one the browser accepts (about 280 KB instead
 * of 930 KB for the script), and the file itself to a browser that accepts neither.
 */
function precompress (): Plugin {
  return {
    name: 'gatemesh-precompress',
    apply: 'build',
    writeBundle (options, bundle) {
      const dir = options.dir as string
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css|svg)$/.test(name)) continue
        const bytes = readFileSync(join(dir, name))
        writeFileSync(join(dir, `${name}.br`), brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }))
        writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes, { level: 9 }))
      }
    }
  }
}

/**
 * Every file of the checkout this build read (Vite's module list) in dist/.sources.json: what
 * `npm start` checks to decide whether to build again (src/demo/web-build.ts).
 */
function sourcesList (): Plugin {
  return {
    name: 'gatemesh-sources',
    apply: 'build',
    writeBundle (options) {
      const checkout = fileURLToPath(new URL('..', import.meta.url))
      writeFileSync(join(options.dir as string, SOURCES_FILE), JSON.stringify(bundledSources(this.getModuleIds(), checkout), null, 1) + '\n')
    }
  }
}

export default defineConfig({
  root,
  base: '/',
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false }), precompress(), sourcesList()],
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
