/**
 * Scenario "web" (issue 17's three figures): the web application as built by `npm run build:web`,
 * in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), served by an access
 * gateway of a local network of real processes (src/demo/network.ts): a CA, `g1` (collector,
 * access) and `p1` (persistence; R = W = 1). Each figure beside a floor measured in the same run.
 *
 *   1. First load: the JavaScript the page loads until the log-in form shows (every response of
 *      resource type "script", as Chromium received it), each gzip-compressed here (node:zlib,
 *      level 9), summed. Beside it the same bytes uncompressed and the CSS.
 *   2. Log-in at the product's default KDF cost (DEFAULT_KDF_ITERATIONS of src/core/account.ts):
 *      an account made once through the client library (Node, WebCrypto suite, default cost), then
 *      in a fresh browser context each time: the time in the page from the log-in form's submit
 *      event to its own sensor appearing in the sensor list (the gateway's /v1/network, the KDF
 *      progress' calibration, the bundle fetched, verified and opened, kept in IndexedDB, the
 *      sensor list fetched and drawn). Floor: a bare WebCrypto PBKDF2-SHA256 deriveBits of the
 *      same iterations in the same page, right after.
 *   3. A chart of 10 000 readings: one sensor's readings sent to g1's HTTP collector in batches of
 *      100 ([COL-3]; the sensor's token bucket, [COL-9], paces them at 100/s), until the client
 *      library's history holds them all; then in the page, from the click on "Show history" (last
 *      hour) to the uPlot canvas drawn with every point (the chart's `data-drawn` marker) and the
 *      frame after it. Floor: the client library's `history()` in Node (fetch, verify, decrypt;
 *      the same WebCrypto suite and pages of 5 000 as the page), no rendering.
 * Log-in and chart are measured `--runs` times (3; 1 with --quick). Writes bench/results/web.json and .md.
 *
 *   node bench/web.ts [--quick] [--runs N] [--readings N]
 */
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { DEFAULT_KDF_ITERATIONS } from '../src/core/index.ts'
import { createClient } from '../src/client/index.ts'
import type { Session } from '../src/client/index.ts'
import { ROOT, startNetwork } from '../src/demo/network.ts'
import type { Network, RunningGateway } from '../src/demo/network.ts'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/browser.ts'
import { environment, numberOption } from './harness.ts'
import { formatSpread, spread } from './persistence-helpers.ts'

export interface WebOptions { quick?: boolean, runs?: number, readings?: number }

const SENSOR = 'bench-web'
const BATCH = 100
const PAGE_SIZE = 5000
const log = (line: string): void => { console.error(`web: ${line}`) }

async function sh (line: string): Promise<{ code: number, stderr: string }> {
  return await new Promise(resolve => {
    execFile('sh', ['-c', line], { timeout: 300_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr })
    })
  })
}

interface FirstLoad { scripts: Array<{ url: string, bytes: number, gzip: number }>, jsBytes: number, jsGzip: number, cssBytes: number, cssGzip: number, servedEncoding: string[] }

async function firstLoad (browser: Browser, g1: RunningGateway): Promise<FirstLoad> {
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  const pending: Array<Promise<{ url: string, type: string, body: Buffer, encoding: string }>> = []
  page.on('response', res => {
    const type = res.request().resourceType()
    if (type === 'script' || type === 'stylesheet') pending.push(res.body().then(body => ({ url: res.url(), type, body, encoding: res.headers()['content-encoding'] ?? 'identity' })))
  })
  await page.goto(g1.ready.access as string)
  await page.locator('#login-password').waitFor()
  const got = await Promise.all(pending)
  await ctx.close()
  const gz = (b: Buffer): number => gzipSync(b, { level: 9 }).length
  const scripts = got.filter(r => r.type === 'script').map(r => ({ url: new URL(r.url).pathname, bytes: r.body.length, gzip: gz(r.body) }))
  const css = got.filter(r => r.type === 'stylesheet')
  return {
    scripts,
    jsBytes: scripts.reduce((a, s) => a + s.bytes, 0),
    jsGzip: scripts.reduce((a, s) => a + s.gzip, 0),
    cssBytes: css.reduce((a, s) => a + s.body.length, 0),
    cssGzip: css.reduce((a, s) => a + gz(s.body), 0),
    servedEncoding: [...new Set(got.map(r => r.encoding))]
  }
}

/** Logs in through the page; ms from the form's submit to `sensor` listed, and the bare PBKDF2 after it. */
interface LoginRequest { path: string, startMs: number, ms: number }

async function logIn (browser: Browser, g1: RunningGateway, pseudonym: string, password: string): Promise<{ page: Page, ms: number, kdfMs: number, requests: LoginRequest[] }> {
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  await page.goto(g1.ready.access as string)
  await page.locator('#login-pseudonym').fill(pseudonym)
  await page.locator('#login-password').fill(password)
  await page.evaluate((sensor: string) => {
    const w = globalThis as unknown as { benchLogin: { submitted?: number, listed?: number } }
    w.benchLogin = {}
    document.addEventListener('submit', () => { w.benchLogin.submitted = performance.now() }, { capture: true, once: true })
    const seen = (): boolean => document.querySelector(`#owned-sensors li[data-sensor="${sensor}"]`) !== null
    const observer = new MutationObserver(() => {
      if (seen()) { w.benchLogin.listed = performance.now(); observer.disconnect() }
    })
    observer.observe(document.body, { childList: true, subtree: true })
  }, SENSOR)
  await page.getByRole('button', { name: 'Log in' }).click()
  const ms = await (await page.waitForFunction(() => {
    const t = (globalThis as unknown as { benchLogin: { submitted?: number, listed?: number } }).benchLogin
    return t.listed !== undefined && t.submitted !== undefined ? t.listed - t.submitted : undefined
  }, undefined, { timeout: 120_000, polling: 50 })).jsonValue() as number
  // the gateway requests made between the submit and the list (Resource Timing), for where the rest goes
  const requests = await page.evaluate(() => {
    const t = (globalThis as unknown as { benchLogin: { submitted: number, listed: number } }).benchLogin
    return (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
      .filter(e => e.startTime >= t.submitted && e.responseEnd <= t.listed)
      .map(e => ({ path: new URL(e.name).pathname.replace(/\/[a-z2-7]{52}$/, '/<pseudonym>'), startMs: e.startTime - t.submitted, ms: e.responseEnd - e.startTime }))
  })
  const kdfMs = await page.evaluate(async (iterations: number) => {
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('bench web floor password'), 'PBKDF2', false, ['deriveBits'])
    const started = performance.now()
    await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: crypto.getRandomValues(new Uint8Array(16)), iterations }, key, 256)
    return performance.now() - started
  }, DEFAULT_KDF_ITERATIONS)
  return { page, ms, kdfMs, requests }
}

/** On the sensor's page: ms from the click on "Show history" (last hour) to the chart drawn with `count` points, and to the next frame. */
async function drawHistory (page: Page, count: number): Promise<{ drawnMs: number, frameMs: number, shownText: string }> {
  await page.locator('header a').click()
  await page.locator(`#owned-sensors li[data-sensor="${SENSOR}"] a`).click()
  await page.getByLabel('Range').selectOption('hour')
  await page.evaluate((n: string) => {
    const w = globalThis as unknown as { benchChart: { clicked?: number, drawn?: number, frame?: number } }
    w.benchChart = {}
    const button = [...document.querySelectorAll('button')].find(b => b.textContent === 'Show history')
    button?.addEventListener('click', () => { w.benchChart.clicked = performance.now() }, { capture: true, once: true })
    const observer = new MutationObserver(() => {
      if (document.querySelector(`#history-result .chart[data-drawn="${n}"]`) === null) return
      w.benchChart.drawn = performance.now()
      observer.disconnect()
      requestAnimationFrame(() => { w.benchChart.frame = performance.now() })
    })
    observer.observe(document.body, { attributes: true, attributeFilter: ['data-drawn'], subtree: true })
  }, String(count))
  await page.getByRole('button', { name: 'Show history' }).click()
  const times = await (await page.waitForFunction(() => {
    const t = (globalThis as unknown as { benchChart: { clicked?: number, drawn?: number, frame?: number } }).benchChart
    return t.frame !== undefined && t.drawn !== undefined && t.clicked !== undefined ? { drawnMs: t.drawn - t.clicked, frameMs: t.frame - t.clicked } : undefined
  }, undefined, { timeout: 120_000, polling: 50 })).jsonValue() as { drawnMs: number, frameMs: number }
  const shownText = (await page.locator('#history-result > p.muted').first().textContent()) ?? ''
  if (Number(await page.locator('#history-result').getAttribute('data-count')) !== count) throw new Error(`the page shows ${await page.locator('#history-result').getAttribute('data-count')} readings, not ${count}`)
  return { ...times, shownText: shownText.replace(/\s+/g, ' ').trim() }
}

/** Sends `count` readings in batches of 100, paced by the collector's 429 Retry-After ([COL-9]). */
async function sendReadings (collector: string, credential: string, count: number): Promise<{ ms: number, rateLimited: number }> {
  const url = `${collector}/v1/sensors/${SENSOR}/readings`
  const started = performance.now()
  let rateLimited = 0
  for (let sent = 0; sent < count;) {
    const n = Math.min(BATCH, count - sent)
    const readings = Array.from({ length: n }, (_, i) => {
      const k = sent + i
      return { temperature: Number((20 + 5 * Math.sin(k / 300)).toFixed(2)), humidity: Number((50 + 10 * Math.cos(k / 700)).toFixed(2)), k }
    })
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: JSON.stringify({ readings }) })
    const text = await res.text()
    if (res.status === 202) { sent += n; continue }
    if (res.status === 429 || res.status === 503 || res.status === 404) {
      // 404 until the sensor record reaches the collector's directory
      if (res.status === 429) rateLimited++
      const wait = res.status === 429 ? Math.min(1000, Number(res.headers.get('retry-after') ?? 1) * 1000) : 500
      await new Promise(resolve => setTimeout(resolve, res.status === 429 ? Math.max(250, wait) : wait))
      continue
    }
    throw new Error(`collector: ${res.status} ${text}`)
  }
  return { ms: performance.now() - started, rateLimited }
}

async function nodeHistory (session: Session, from: number, to: number): Promise<{ ms: number, count: number }> {
  const started = performance.now()
  let count = 0
  for await (const r of session.history(SENSOR, { from, to, limit: 20_000, pageSize: PAGE_SIZE })) {
    if (r.notReadable === undefined && r.value === undefined) throw new Error('a reading did not open')
    count++
  }
  return { ms: performance.now() - started, count }
}

export async function run (options: WebOptions = {}): Promise<unknown> {
  const quick = options.quick === true
  const runs = options.runs ?? (quick ? 1 : 3)
  const readings = options.readings ?? 10_000
  const loadBefore = loadavg()
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-web-'))
  let net: Network | undefined
  let browser: Browser | undefined
  try {
    log('npm run build:web')
    const build = await sh(`cd '${ROOT}' && npm run build:web`)
    if (build.code !== 0) throw new Error(`npm run build:web: ${build.stderr}`)
    net = await startNetwork({
      dir,
      gateways: [{ name: 'g1', services: ['collector', 'access'] }, { name: 'p1', services: ['persistence'] }],
      gatewayArgs: ['--replicas', '1', '--write-quorum', '1'],
      readyTimeoutMs: 60_000
    })
    const g1 = net.gateways[0] as RunningGateway
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })

    // ------------------------------------------------ 1. first load
    const load = await firstLoad(browser, g1)
    log(`first load: ${load.scripts.length} script(s), ${(load.jsGzip / 1024).toFixed(1)} KiB gzip (${(load.jsBytes / 1024).toFixed(1)} KiB)`)

    // ------------------------------------------------ the account (default KDF cost) and the sensor
    const password = `bench web ${Math.random().toString(36).slice(2)}`
    const client = createClient({ gateway: g1.ready.access as string })
    let t = performance.now()
    const signup = await client.signup(password)
    const nodeSignupMs = performance.now() - t
    t = performance.now()
    const session = await client.login(signup.pseudonym, password)
    const nodeLoginMs = performance.now() - t
    const { credential } = await session.addSensor(SENSOR)
    log(`signed up (${Math.round(nodeSignupMs)} ms) and logged in (${Math.round(nodeLoginMs)} ms) in Node at ${DEFAULT_KDF_ITERATIONS} iterations; sensor added`)

    // ------------------------------------------------ 2. log-in in the page
    const logins: Array<{ ms: number, kdfMs: number, requests: LoginRequest[] }> = []
    let page: Page | undefined
    for (let i = 0; i < runs; i++) {
      const got = await logIn(browser, g1, signup.pseudonym, password)
      logins.push({ ms: got.ms, kdfMs: got.kdfMs, requests: got.requests })
      log(`log-in ${i + 1}: ${Math.round(got.ms)} ms (bare PBKDF2 ${Math.round(got.kdfMs)} ms); requests: ${got.requests.map(r => `${r.path} at ${Math.round(r.startMs)} for ${Math.round(r.ms)} ms`).join(', ')}`)
      if (page !== undefined) await page.context().close()
      page = got.page
    }

    // ------------------------------------------------ 3. 10 000 readings
    const from = Date.now() - 60_000
    const sent = await sendReadings(g1.ready.collector?.http as string, credential, readings)
    log(`${readings} readings sent in ${Math.round(sent.ms)} ms (${sent.rateLimited} times 429)`)
    t = performance.now()
    let held = 0
    for (;;) {
      held = (await nodeHistory(session, from, Date.now() + 60_000)).count
      if (held >= readings) break
      if (performance.now() - t > 300_000) throw new Error(`history holds ${held} of ${readings} after 5 min`)
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    log(`history holds ${held} readings (${Math.round(performance.now() - t)} ms after the last was acknowledged)`)
    const charts: Array<{ nodeMs: number, drawnMs: number, frameMs: number, shownText: string }> = []
    for (let i = 0; i < runs; i++) {
      const base = await nodeHistory(session, from, Date.now() + 60_000)
      if (base.count !== readings) throw new Error(`history: ${base.count} of ${readings}`)
      const drawn = await drawHistory(page as Page, readings)
      charts.push({ nodeMs: base.ms, ...drawn })
      log(`chart ${i + 1}: drawn ${Math.round(drawn.drawnMs)} ms, frame ${Math.round(drawn.frameMs)} ms; Node history() ${Math.round(base.ms)} ms; page: ${drawn.shownText}`)
    }

    const result = {
      quick, runs, readings, kdfIterations: DEFAULT_KDF_ITERATIONS,
      loadAverage: { before: loadBefore, after: loadavg() },
      chromium: browser.version(),
      firstLoad: load,
      node: { signupMs: nodeSignupMs, loginMs: nodeLoginMs },
      logins,
      send: sent,
      charts
    }
    writeResultsFiles(result)
    return result
  } finally {
    await browser?.close().catch(() => {})
    await net?.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

interface Result {
  quick: boolean, runs: number, readings: number, kdfIterations: number, chromium: string
  loadAverage: { before: number[], after: number[] }
  firstLoad: FirstLoad
  node: { signupMs: number, loginMs: number }
  logins: Array<{ ms: number, kdfMs: number, requests?: LoginRequest[] }>
  send: { ms: number, rateLimited: number }
  charts: Array<{ nodeMs: number, drawnMs: number, frameMs: number }>
}

/** Writes bench/results/web.json and web.md (exported to write them again from a saved result). */
export function writeResultsFiles (r: Record<string, unknown>): void {
  const result = r as unknown as Result
  const f = formatSpread
  const kib = (bytes: number): string => (bytes / 1024).toFixed(1)
  const fl = result.firstLoad
  const overheads = result.logins.map(x => x.ms - x.kdfMs)
  const rates = result.logins.map(x => result.kdfIterations / x.kdfMs)
  const budget = 1500 - spread(overheads).median
  const meets = budget > 0 ? budget * spread(rates).median : undefined
  const lines = [
    '# Web application: first load, log-in, a chart of 10 000 readings', '',
    `Node ${process.version}, Chromium ${result.chromium} (headless), ${cpus().length} cores, shared with other engineers' test runs (load average ${result.loadAverage.before.map(x => x.toFixed(1)).join(' / ')} before, ${result.loadAverage.after.map(x => x.toFixed(1)).join(' / ')} after). ` +
      `A CA, g1 (collector, access: serves the app) and p1 (persistence) as real processes on 127.0.0.1. Log-in and chart measured ${result.runs} time(s): min-max (median).${result.quick ? ' Quick run.' : ''}`, '',
    '| figure | measured | floor (same run) | ratio | target |',
    '|---|---:|---|---:|---|',
    `| first load: JavaScript the page loads, gzip -9, KiB | ${kib(fl.jsGzip)} (${fl.scripts.length} file(s), ${kib(fl.jsBytes)} uncompressed; CSS ${kib(fl.cssGzip)} gzip) | - | | ≤ 300 KB (292.97 KiB) |`,
    `| log-in at ${result.kdfIterations.toLocaleString('en')} PBKDF2-SHA256 iterations: submit → own sensor listed, ms | ${f(spread(result.logins.map(x => x.ms)))} | bare WebCrypto deriveBits, same page: ${f(spread(result.logins.map(x => x.kdfMs)))} | ${f(spread(result.logins.map(x => x.ms / x.kdfMs)), 2)} | < 1 500 |`,
    `| chart of ${result.readings.toLocaleString('en')} readings: click → canvas drawn, ms | ${f(spread(result.charts.map(x => x.drawnMs)))} | client library history() in Node (fetch, verify, decrypt): ${f(spread(result.charts.map(x => x.nodeMs)))} | ${f(spread(result.charts.map(x => x.drawnMs / x.nodeMs)), 2)} | < 3 000 |`,
    `| the same, to the frame after it, ms | ${f(spread(result.charts.map(x => x.frameMs)))} | | | |`,
    '',
    `Log-in beyond the KDF (the log-in less the bare deriveBits): ${f(spread(overheads))} ms. At this run's PBKDF2 rate (${f(spread(rates))} iterations/ms, median) ` +
      `and that overhead, a log-in under 1 500 ms needs at most ${meets === undefined ? '- (the overhead alone exceeds it)' : `${(Math.floor(meets / 100_000) * 100_000).toLocaleString('en')} iterations`} ` +
      `(the protocol's floor, OWASP's recommendation for PBKDF2-HMAC-SHA256: 600,000).` +
      (result.logins[0]?.requests === undefined ? '' : ` Gateway requests during a log-in (Resource Timing, the median run): ${(result.logins.slice().sort((a, b) => a.ms - b.ms)[Math.floor((result.logins.length - 1) / 2)]?.requests ?? []).map(q => `${q.path} at +${Math.round(q.startMs)} ms for ${Math.round(q.ms)} ms`).join(', ')}.`),
    '',
    `Scripts: ${fl.scripts.map(s => `${s.url} ${kib(s.gzip)} KiB gzip`).join(', ')}; served with content-encoding ${fl.servedEncoding.join(', ')}. ` +
      `In Node (WebCrypto suite, the same default cost) the account's sign-up took ${Math.round(result.node.signupMs)} ms and a log-in ${Math.round(result.node.loginMs)} ms. ` +
      `The ${result.readings.toLocaleString('en')} readings went in as batches of ${BATCH} in ${(result.send.ms / 1000).toFixed(1)} s (the sensor's token bucket, [COL-9]).`,
    ''
  ]
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL('web.json', dir), JSON.stringify({ title: 'Web application: first load, log-in, a chart of 10 000 readings', environment: environment(), result }, null, 2) + '\n')
  writeFileSync(new URL('web.md', dir), lines.join('\n'))
  console.log(lines.join('\n'))
}

/** The options of this scenario on a command line (this script's, or `npm run bench`'s). */
export function options (argv: string[]): WebOptions {
  return { quick: argv.includes('--quick'), runs: numberOption(argv, '--runs', true), readings: numberOption(argv, '--readings', true) }
}

if (import.meta.main) {
  const { withGatewayV8Pool } = await import('./harness.ts')
  await withGatewayV8Pool()
  await run(options(process.argv))
}
