// `gatemesh read history` as a real child process against a real access service on 127.0.0.1,
// whose replica source is a fake serving honest pages (real envelopes and signed checkpoints),
// then one that drops a reading: the warning on standard error, the right answer on standard output.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkpointBucket, openCheckpoint, readEnvelopeHeader, signCheckpoint } from '../../src/core/index.ts'
import type { CheckpointLink } from '../../src/core/index.ts'
import type { HistorySource } from '../../src/gateway/access/index.ts'
import { sealFor, startService, suite } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const SENSOR = 'cellar-1'
const HONEST = '12D3KooWPeerHonestAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const CROOK = '12D3KooWPeerCrookBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

interface Result { code: number, stdout: string, stderr: string }

describe('gatemesh read history', () => {
  let fx: Fixture
  let home: string
  let from = 0
  const held: Array<{ seq: number, env: Uint8Array }> = []
  const checkpoints: Uint8Array[] = []
  let crookFirst = false

  const source: HistorySource = async (_id, query, replica) => {
    const name = replica ?? (crookFirst ? CROOK : HONEST)
    const inRange = held.filter(h => h.seq >= query.fromSeq && h.seq < query.toSeq)
    const ordered = query.order === 'asc' ? inRange : [...inRange].reverse()
    const after = query.after
    const rest = after === undefined ? ordered : ordered.filter(h => query.order === 'asc' ? h.seq > after.seq : h.seq < after.seq)
    const page = rest.slice(0, query.limit)
    const envs = page.map(h => h.env).filter((_, i) => name !== CROOK || i !== 1)
    return { replica: name, replicas: crookFirst ? [CROOK, HONEST] : [HONEST], envs, cps: checkpoints, certs: [fx.certificate], more: rest.length > page.length }
  }

  async function gatemesh (args: string[]): Promise<Result> {
    return await new Promise(resolve => {
      execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, GATEMESH_HOME: home, GATEMESH_PASSWORD: 'cellar password' }, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
      })
    })
  }

  before(async () => {
    fx = await startService({}, undefined, { history: source })
    home = await mkdtemp(join(tmpdir(), 'gatemesh-history-cli-'))
    assert.equal((await gatemesh(['signup', '--gateway', fx.url, '--kdf-iterations', '600000'])).code, 0)
    assert.equal((await gatemesh(['sensor', 'add', SENSOR])).code, 0)
    from = Math.ceil(Date.now() / 60_000) * 60_000
    for (let i = 0; i < 5; i++) {
      const ts = from + i * 15_000
      held.push({ seq: ts * 1000, env: await sealFor(fx.dht, fx.gateway, { sensor: SENSOR, seq: ts * 1000, ts }, `{"t":${20 + i}}`) })
    }
    let prev: CheckpointLink | null = null
    for (const bucket of [...new Set(held.map(h => checkpointBucket(h.seq)))]) {
      const bytes = await signCheckpoint(suite, fx.gateway, { sensor: SENSOR, gw: readEnvelopeHeader(held[0]?.env as Uint8Array).gw, bucket, part: 0, prev, seqs: held.filter(h => checkpointBucket(h.seq) === bucket).map(h => h.seq) })
      checkpoints.push(bytes)
      prev = { bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
    }
  })
  after(async () => {
    await fx.service.stop()
    await rm(home, { recursive: true, force: true })
  })

  it('prints the range as csv and json, in either order, at most --limit readings', async () => {
    const csv = await gatemesh(['read', 'history', SENSOR, '--from', String(from), '--to', String(from + 600_000), '--format', 'csv'])
    assert.equal(csv.code, 0, csv.stderr)
    const lines = csv.stdout.trim().split('\n')
    assert.equal(lines[0], 'time,seq,collector,value,encoding,not_readable')
    assert.deepEqual(lines.slice(1).map(l => l.split(',')[1]), held.map(h => String(h.seq)))
    assert.match(lines[1] as string, /,"\{""t"":20\}",text,$/)
    assert.match(csv.stderr, /5 reading\(s\)/)

    const json = await gatemesh(['read', 'history', SENSOR, '--from', new Date(from).toISOString(), '--to', String(from + 600_000), '--order', 'desc', '--limit', '2', '--format', 'json'])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(json.stdout.trim().split('\n').map(l => (JSON.parse(l) as { text: string }).text), ['{"t":24}', '{"t":23}'])
  })

  it('warns of a replica that dropped a reading and prints the honest answer', async () => {
    crookFirst = true
    try {
      const res = await gatemesh(['read', 'history', SENSOR, '--from', String(from), '--to', String(from + 600_000), '--format', 'json'])
      assert.equal(res.code, 0, res.stderr)
      assert.equal(res.stdout.trim().split('\n').length, 5)
      assert.match(res.stderr, new RegExp(`warning: replica ${CROOK} served a page that failed verification \\(GM_ERR_HISTORY_INCOMPLETE\\)`))
    } finally {
      crookFirst = false
    }
  })

  it('prints nothing on standard output for an unknown sensor, in every format [PER-55]', async () => {
    for (const format of ['table', 'json', 'csv']) {
      const res = await gatemesh(['read', 'history', 'no-such-sensor', '--from', String(from), '--to', String(from + 600_000), '--format', format])
      assert.equal(res.code, 1, `${format}: ${res.stderr}`)
      assert.equal(res.stdout, '', format)
      assert.match(res.stderr.split('\n')[0] as string, /^gatemesh read: .*\(GM_ERR_SENSOR_NOT_FOUND\)$/, format)
      assert.doesNotMatch(res.stderr, /usage:/, format)
    }
  })

  it('says a range without readings is empty (exit 0): csv a header alone, table and json nothing [PER-55]', async () => {
    const range = ['--from', String(from + 600_000), '--to', String(from + 1_200_000)]
    const expected: Record<string, string> = { table: '', json: '', csv: 'time,seq,collector,value,encoding,not_readable\n' }
    for (const format of ['table', 'json', 'csv']) {
      const res = await gatemesh(['read', 'history', SENSOR, ...range, '--format', format])
      assert.equal(res.code, 0, `${format}: ${res.stderr}`)
      assert.equal(res.stdout, expected[format], format)
      assert.match(res.stderr, new RegExp(`^${SENSOR}: no readings from ${new Date(from + 600_000).toISOString()} to ${new Date(from + 1_200_000).toISOString()}; --from and --to read another range`, 'm'), format)
    }
  })

  it('refuses bad arguments with the usage exit status', async () => {
    for (const args of [['--from', 'yesterday'], ['--limit', '0'], ['--format', 'xml'], ['--from', 'now', '--to', '-1h']]) {
      const res = await gatemesh(['read', 'history', SENSOR, ...args])
      assert.equal(res.code, 2, args.join(' '))
      assert.match(res.stderr, /\(GM_ERR_CLI_USAGE\)/)
    }
    const latestWithFrom = await gatemesh(['read', 'latest', SENSOR, '--from', '-1h'])
    assert.equal(latestWithFrom.code, 2)
  })
})
