// `gatemesh read history`'s argument rules and output formats [PER-55], without a network.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GatemeshError, isGatemeshError } from '../core/index.ts'
import type { HistoryReading, Session } from '../client/index.ts'
import { formatHeader, formatReading, joinRelativeTimes, parseHistoryArgs, parseTime, printHistory } from './history.ts'
import type { HistoryFormat } from './history.ts'

const NOW = Date.parse('2026-03-01T12:00:00Z')
const usage = (err: unknown): boolean => isGatemeshError(err, 'GM_ERR_CLI_USAGE')

describe('read history arguments', () => {
  it('reads times as ISO 8601, epoch ms, now, or relative', () => {
    assert.equal(parseTime('now', NOW, 'to'), NOW)
    assert.equal(parseTime('-1h', NOW, 'from'), NOW - 3_600_000)
    assert.equal(parseTime('-30m', NOW, 'from'), NOW - 1_800_000)
    assert.equal(parseTime('-7d', NOW, 'from'), NOW - 7 * 86_400_000)
    assert.equal(parseTime('-45s', NOW, 'from'), NOW - 45_000)
    assert.equal(parseTime('1764000000000', NOW, 'from'), 1_764_000_000_000)
    assert.equal(parseTime('2026-01-31T12:00:00Z', NOW, 'from'), Date.parse('2026-01-31T12:00:00Z'))
    assert.equal(parseTime('2026-01-31T12:00', NOW, 'from'), Date.parse('2026-01-31T12:00:00Z'), 'no zone: UTC')
    assert.equal(parseTime('2026-01-31T14:00:00+02:00', NOW, 'from'), Date.parse('2026-01-31T12:00:00Z'))
    assert.equal(parseTime('2026-01-31', NOW, 'from'), Date.parse('2026-01-31T00:00:00Z'))
    for (const bad of ['yesterday', '1h', '-1y', '-h', '2026-13-45', '2026-01-31 12:00', '', '+1h', '1.5', '-1.5h']) {
      assert.throws(() => parseTime(bad, NOW, 'from'), usage, bad)
    }
  })

  it('joins a relative time to its option, so the parser does not take it for one', () => {
    assert.deepEqual(joinRelativeTimes(['s1', '--from', '-1h', '--to', 'now', '--limit', '5']), ['s1', '--from=-1h', '--to', 'now', '--limit', '5'])
    assert.deepEqual(joinRelativeTimes(['--to', '-7d']), ['--to=-7d'])
    assert.deepEqual(joinRelativeTimes(['--from', '-x']), ['--from', '-x'], 'anything else is left to the parser')
  })

  it('defaults: the hour before --to (or the client\'s default range), ascending, every reading, a table', () => {
    assert.deepEqual(parseHistoryArgs({}, NOW), { options: { from: undefined, to: undefined, limit: undefined, order: 'asc' }, format: 'table' })
    assert.deepEqual(parseHistoryArgs({ to: '-1d' }, NOW).options, { from: NOW - 86_400_000 - 3_600_000, to: NOW - 86_400_000, limit: undefined, order: 'asc' })
    assert.deepEqual(parseHistoryArgs({ from: '-7d', to: 'now', limit: '20', order: 'desc', format: 'csv' }, NOW), {
      options: { from: NOW - 7 * 86_400_000, to: NOW, limit: 20, order: 'desc' }, format: 'csv'
    })
  })

  it('refuses bad arguments as usage errors', () => {
    for (const values of [{ from: 'now', to: '-1h' }, { from: 'now', to: 'now' }, { limit: '0' }, { limit: '-3' }, { limit: '2.5' }, { limit: 'ten' },
      { order: 'up' }, { format: 'xml' }, { from: 'soon' }]) {
      assert.throws(() => parseHistoryArgs(values, NOW), usage, JSON.stringify(values))
    }
  })
})

describe('read history output', () => {
  const base = { sensor: 's1', seq: 1_764_000_000_000_000, ts: 1_764_000_000_000, gateway: 'ab'.repeat(32), gatewayPeerId: '12D3KooWExample' }
  const text: HistoryReading = { ...base, value: new TextEncoder().encode('21.5, "dry"\nok'), text: '21.5, "dry"\nok' }
  const bytes: HistoryReading = { ...base, value: new Uint8Array([0xff, 0x00]) }
  const hidden: HistoryReading = { ...base, value: undefined, notReadable: 'GM_ERR_NOT_A_RECIPIENT' }

  it('csv quotes by RFC 4180 and says what it could not read', () => {
    assert.equal(formatHeader('csv'), 'time,seq,collector,value,encoding,not_readable')
    assert.equal(formatReading(text, 'csv'), '2025-11-24T16:00:00.000Z,1764000000000000,12D3KooWExample,"21.5, ""dry""\nok",text,')
    assert.equal(formatReading(bytes, 'csv'), '2025-11-24T16:00:00.000Z,1764000000000000,12D3KooWExample,/wA=,base64,')
    assert.equal(formatReading(hidden, 'csv'), '2025-11-24T16:00:00.000Z,1764000000000000,12D3KooWExample,,,GM_ERR_NOT_A_RECIPIENT')
  })

  it('json is one object per line; a table row is one line', () => {
    assert.equal(formatHeader('json'), undefined)
    assert.deepEqual(JSON.parse(formatReading(text, 'json')), { ...base, time: '2025-11-24T16:00:00.000Z', text: '21.5, "dry"\nok' })
    assert.deepEqual(JSON.parse(formatReading(hidden, 'json')).notReadable, 'GM_ERR_NOT_A_RECIPIENT')
    assert.deepEqual(JSON.parse(formatReading(bytes, 'json')).base64, '/wA=')
    assert.ok(!formatReading(text, 'table').includes('\n'))
    assert.match(formatReading(hidden, 'table'), /\(not readable: GM_ERR_NOT_A_RECIPIENT\)$/)
  })
})

describe('read history printing', () => {
  const reading: HistoryReading = { sensor: 's1', seq: 1_764_000_000_000_000, ts: 1_764_000_000_000, gateway: 'ab'.repeat(32), gatewayPeerId: '12D3KooWExample', value: new TextEncoder().encode('21.5'), text: '21.5' }

  /** A session whose history yields `readings`, then fails with `failure` if given. */
  function session (readings: HistoryReading[], failure?: GatemeshError): Session {
    return {
      history: () => ({
        from: 1_763_996_400_000,
        to: 1_764_000_060_000,
        stats: { pages: 1, readings: readings.length, notReadable: 0, retries: 0, misbehaved: 0, openEnds: new Set<string>() },
        async * [Symbol.asyncIterator] () {
          yield * readings
          if (failure !== undefined) throw failure
        }
      })
    } as unknown as Session
  }

  async function print (readings: HistoryReading[], format: HistoryFormat, failure?: GatemeshError): Promise<{ out: string[], err: string, failed?: unknown }> {
    const out: string[] = []
    let err = ''
    try {
      await printHistory(session(readings, failure), 's1', { options: {}, format }, { out: line => { out.push(line) }, err: text => { err += text }, tty: false })
      return { out, err }
    } catch (failed) {
      return { out, err, failed }
    }
  }

  it('prints nothing on standard output when the first page fails, in every format [PER-55]', async () => {
    for (const format of ['table', 'json', 'csv'] as const) {
      const result = await print([], format, new GatemeshError('GM_ERR_SENSOR_NOT_FOUND'))
      assert.ok(isGatemeshError(result.failed, 'GM_ERR_SENSOR_NOT_FOUND'), format)
      assert.deepEqual(result.out, [], format)
    }
  })

  it('an empty range: no readings said on standard error; csv is a header alone, table and json print nothing', async () => {
    for (const [format, expected] of [['table', []], ['json', []], ['csv', [formatHeader('csv')]]] as const) {
      const result = await print([], format)
      assert.equal(result.failed, undefined, format)
      assert.deepEqual(result.out, expected, format)
      assert.match(result.err, /^s1: no readings from 2025-11-24T15:00:00\.000Z to 2025-11-24T16:01:00\.000Z; --from and --to read another range/, format)
    }
  })

  it('the header comes with the first reading; a later failure leaves what was verified', async () => {
    const table = await print([reading, reading], 'table')
    assert.deepEqual(table.out, [formatHeader('table'), formatReading(reading, 'table'), formatReading(reading, 'table')])
    assert.match(table.err, /s1: 2 reading\(s\) from /)
    const json = await print([reading], 'json', new GatemeshError('GM_ERR_HISTORY_TAMPERED'))
    assert.ok(isGatemeshError(json.failed, 'GM_ERR_HISTORY_TAMPERED'))
    assert.deepEqual(json.out.map(line => JSON.parse(line) as unknown), [JSON.parse(formatReading(reading, 'json'))])
  })
})
