/**
 * Runs bundled code in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core): builds an entry with Vite, serves it on 127.0.0.1:0 and opens it.
 */
import { createServer, type Server } from 'node:http'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { build } from 'vite'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM_PATH = process.env.GATEMESH_CHROMIUM ?? '/usr/bin/chromium'

// Flags for a closed network and a root user (see the machine notes): no sandbox, no background traffic.
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

export interface BrowserHarness {
  page: Page
  close: () => Promise<void>
}

export async function openInChromium (entry: string): Promise<BrowserHarness> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's 'chromium' package (.ci/run does).`)
  const outDir = await mkdtemp(join(tmpdir(), 'gatemesh-browser-'))
  await build({
    configFile: false,
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, minify: false, target: 'es2022', lib: { entry, formats: ['es'], fileName: () => 'entry.js' } }
  })
  const html = '<!doctype html><meta charset="utf-8"><title>gatemesh test</title><script type="module" src="/entry.js"></script>'
  const server: Server = createServer((req, res) => {
    // entry.js and the chunks it imports (a dependency's dynamic import becomes a chunk of its own).
    const script = /^\/([A-Za-z0-9_.-]+\.js)$/.exec(req.url ?? '')?.[1]
    if (script !== undefined) {
      readFile(join(outDir, script)).then(body => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body), () => res.writeHead(404).end())
    } else {
      res.writeHead(200, { 'content-type': 'text/html' }).end(html)
    }
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  let browser: Browser | undefined
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
    const page = await browser.newPage()
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.waitForFunction(() => 'gatemesh' in globalThis)
    const opened = browser
    return {
      page,
      close: async () => {
        await opened.close()
        server.close()
        await rm(outDir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    await browser?.close()
    server.close()
    await rm(outDir, { recursive: true, force: true })
    throw err
  }
}
