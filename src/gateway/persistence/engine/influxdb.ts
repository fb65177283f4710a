/**
 * The InfluxDB 1.x storage engine ([PER-22]), on node-influx 5.x (the maintained 1.x client).
 *
 * A reading is one point of measurement `reading`: tags `sensor`, `gw` (hex, lowercase: its
 * string order is the bytes' order), fields `env` (the envelope in base64) and `seq` (integer),
 * time = seq in µs. (sensor, gw, seq) is thus one point: writing it again overwrites the same
 * point. The contract keeps the first copy, so an append first asks which of its readings are
 * held already (one request for the batch, chunked) and writes only the others; appends,
 * checkpoint puts and deletes of one engine run one at a time, so that check and the write are
 * not interleaved (two engines writing one database could both store a reading once; the copies
 * have the same identity and plaintext [PER-1], so only the counts could differ).
 *
 * Checkpoints: measurement `checkpoint`, tags sensor, gw; fields bucket, part (integers), bytes
 * (base64); time = bucket·60 000 000 + part µs (part < 60 000 000), one point per identity.
 * Certificates: measurement `cert`, tags gw and h (the DER's SHA-256, hex), fields der (base64)
 * and nb (notBefore, ms), time 0: one point per distinct certificate; past the newest
 * MAX_CERTIFICATES_PER_GW of a gw, the others are deleted by their h.
 *
 * Pitfalls handled: times are written as integer strings with precision 'u' on the write and
 * compared as integer nanoseconds in InfluxQL (node-influx #240: a write's precision must match
 * its timestamps); results are read with queryRaw and epoch 'u' as plain JSON integers, never
 * through node-influx's Date/INanoDate parsing (#196); seq and bucket/part are read from fields.
 * InfluxQL 1.6 has no `IN`, no OR across time ranges and no tag ordering: lookups of many keys are
 * many small statements sent together, in chunks; ties on a seq are ordered here by gw.
 *
 * Durability: influxd acknowledges a write once it is in its WAL (fsynced when wal-fsync-delay is
 * 0, the default). A write larger than WRITE_CHUNK_BYTES is split into several requests, and
 * influxd applies a request shard by shard: a failed append may have stored part of its batch,
 * which a retry (idempotent) completes ([PER-22]).
 *
 * sizeBytes: the server's own measure, the sum of `diskBytes` (TSM files + WAL) of the database's
 * shards from `SHOW STATS FOR 'shard'` (admin privilege when auth is on); the series index is not
 * counted.
 */
import { createHash } from 'node:crypto'
import { InfluxDB, FieldType, escape } from 'influx'
import { GatemeshError, isGatemeshError } from '../../../core/index.ts'
import {
  CHECKPOINT_BUCKET, checkAfterSensor, checkBound, checkBucketRange, checkCertificate, checkCheckpoints, checkGwList,
  checkKeys, checkLimit, checkRangeQuery, checkReadings, checkSensor, compareBytes, compareCertificates, compareKeys, firstKeptBucket,
  MAX_CERTIFICATES_PER_GW, MAX_RANGE_LIMIT
} from './input.ts'
import type { AppendResult, HistoryKey, RangeQuery, StorageEngine, StoredCertificate, StoredCheckpoint, StoredReading } from './types.ts'

export interface InfluxEngineInit {
  /** The server, e.g. http://127.0.0.1:8086 (a path prefix is kept). */
  url: string
  database: string
  username?: string
  password?: string
  /** Per request, ms (default 10 000). */
  requestTimeout?: number
}

/** Statements sent in one query request. */
const STATEMENTS_PER_REQUEST = 256
/** Line protocol bytes per write request (influxd's default max-body-size is 25 MB). */
const WRITE_CHUNK_BYTES = 8 * 1024 * 1024

interface RawSeries { name: string, columns: string[], values?: unknown[][], tags?: Record<string, string>, partial?: boolean }
interface RawResult { statement_id: number, series?: RawSeries[], error?: string, partial?: boolean }

/**
 * node-influx's RequestError keeps the request it failed (`req`, whose raw `_header` carries the
 * Basic credentials): a logged cause would print them. Only the message (status and the server's
 * answer) is kept.
 */
export function withoutRequest (cause: unknown): unknown {
  return cause instanceof Error && !isGatemeshError(cause) ? new Error(cause.message) : cause
}

function engineError (detail: string, cause?: unknown): GatemeshError {
  return isGatemeshError(cause) ? cause : new GatemeshError('GM_ERR_PERSISTENCE_ENGINE', detail, { cause: withoutRequest(cause) })
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
const base64Of = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
const bytesOfHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))
const bytesOfBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'))
/** A seq (µs) as an InfluxQL time literal in ns, exact past 2^53 ns. */
const ns = (us: number | bigint): string => `${BigInt(us) * 1000n}`
const quote = (text: string): string => escape.stringLit(text)

/** Rows of one statement's result as objects (every series merged; a series' tags added to its rows). */
function rowsOf (result: RawResult | undefined): Array<Record<string, unknown>> {
  if (result === undefined) throw engineError('InfluxDB answered fewer results than statements.')
  if (typeof result.error === 'string') throw engineError(`InfluxDB: ${result.error}`)
  // a server with [http] max-row-limit set cuts results: never take a cut answer for the whole
  if (result.partial === true || result.series?.some(s => s.partial === true) === true) throw engineError('InfluxDB cut the result (its [http] max-row-limit); set it to 0.')
  const rows: Array<Record<string, unknown>> = []
  for (const series of result.series ?? []) {
    for (const values of series.values ?? []) {
      const row: Record<string, unknown> = { ...series.tags }
      series.columns.forEach((column, i) => { row[column] = values[i] })
      rows.push(row)
    }
  }
  return rows
}

function readingOfRow (sensor: string, row: Record<string, unknown>): StoredReading {
  if (typeof row.gw !== 'string' || typeof row.seq !== 'number' || typeof row.env !== 'string') throw engineError('InfluxDB returned a reading without gw, seq or env.')
  return { sensor, gw: bytesOfHex(row.gw), seq: row.seq, envelope: bytesOfBase64(row.env) }
}

/** A checkpoint's time in µs: unique per (bucket, part) as part < CHECKPOINT_BUCKET. */
function checkpointTime (bucket: number, part: number): bigint {
  return BigInt(bucket) * BigInt(CHECKPOINT_BUCKET) + BigInt(part)
}

export function createInfluxEngine (init: InfluxEngineInit): StorageEngine {
  let url: URL
  try {
    url = new URL(init.url)
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'The InfluxDB URL is not a URL.', { cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GatemeshError('GM_ERR_MALFORMED', 'The InfluxDB URL is http: or https:.')
  if (typeof init.database !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(init.database)) throw new GatemeshError('GM_ERR_MALFORMED', 'The InfluxDB database name is 1 to 64 of [A-Za-z0-9_-].')
  const database = init.database
  let client: InfluxDB | undefined
  /** Writes of this engine, one at a time (see the module comment). */
  let writing: Promise<unknown> = Promise.resolve()

  function opened (): InfluxDB {
    if (client === undefined) throw new GatemeshError('GM_ERR_PERSISTENCE_ENGINE', 'The InfluxDB engine is not open.')
    return client
  }

  function serial<T> (work: () => Promise<T>): Promise<T> {
    const next = writing.then(work, work)
    writing = next.catch(() => undefined)
    return next
  }

  /** Runs statements (chunked into requests), one result per statement. */
  async function query (statements: string[]): Promise<RawResult[]> {
    const influx = opened()
    const results: RawResult[] = []
    for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) {
      const chunk = statements.slice(i, i + STATEMENTS_PER_REQUEST)
      let answer: { results?: RawResult[] }
      try {
        answer = await influx.queryRaw(chunk, { database, precision: 'u', method: 'POST' }) as { results?: RawResult[] }
      } catch (err) {
        throw engineError('The InfluxDB query failed.', err)
      }
      if (!Array.isArray(answer.results) || answer.results.length !== chunk.length) throw engineError('InfluxDB answered an unexpected number of results.')
      results.push(...answer.results)
    }
    return results
  }

  async function write (points: Array<{ measurement: string, tags: Record<string, string>, fields: Record<string, unknown>, timestamp: string }>, sizeOf: (i: number) => number): Promise<void> {
    const influx = opened()
    let start = 0
    while (start < points.length) {
      let end = start
      let bytes = 0
      while (end < points.length && (end === start || bytes + sizeOf(end) <= WRITE_CHUNK_BYTES)) bytes += sizeOf(end++)
      try {
        await influx.writePoints(points.slice(start, end), { database, precision: 'u' })
      } catch (err) {
        throw engineError('The InfluxDB write failed.', err)
      }
      start = end
    }
  }

  /** The certificates held for these gws, per gw newest first, each with its series' h (empty for a point of the first schema, which had none). */
  async function heldCertificates (gws: readonly Uint8Array[]): Promise<Array<StoredCertificate & { h: string }>> {
    if (gws.length === 0) return []
    const results = await query(gws.map(gw => `SELECT der, nb, h FROM cert WHERE gw = ${quote(hexOf(gw))}`))
    return results.flatMap((result, i) => rowsOf(result).map(row => {
      if (typeof row.der !== 'string') throw engineError('InfluxDB returned a certificate without its fields.')
      return { gw: Uint8Array.from(gws[i] as Uint8Array), der: bytesOfBase64(row.der), notBefore: typeof row.nb === 'number' ? row.nb : 0, h: typeof row.h === 'string' ? row.h : '' }
    }).sort(compareCertificates))
  }

  /** Keys among `readings` held already: per sensor, sorted by seq, one range statement per chunk of seqs. */
  async function held (readings: readonly StoredReading[]): Promise<Set<string>> {
    const bySensor = new Map<string, number[]>()
    for (const r of readings) {
      const seqs = bySensor.get(r.sensor) ?? []
      seqs.push(r.seq)
      bySensor.set(r.sensor, seqs)
    }
    const statements: string[] = []
    const sensors: string[] = []
    for (const [sensor, seqs] of bySensor) {
      seqs.sort((a, b) => a - b)
      for (let i = 0; i < seqs.length; i += 256) {
        const chunk = seqs.slice(i, i + 256)
        statements.push(`SELECT seq, gw FROM reading WHERE sensor = ${quote(sensor)} AND time >= ${ns(chunk[0]!)} AND time <= ${ns(chunk.at(-1)!)}`)
        sensors.push(sensor)
      }
    }
    const found = new Set<string>()
    const results = await query(statements)
    results.forEach((result, i) => {
      for (const row of rowsOf(result)) found.add(`${sensors[i]}/${String(row.seq)}/${String(row.gw)}`)
    })
    return found
  }

  async function readingsAt (sensor: string, seq: number): Promise<StoredReading[]> {
    const [result] = await query([`SELECT env, seq, gw FROM reading WHERE sensor = ${quote(sensor)} AND time = ${ns(seq)}`])
    return rowsOf(result).map(row => readingOfRow(sensor, row))
  }

  return {
    name: 'influxdb',

    async open () {
      if (client !== undefined) return
      const influx = new InfluxDB({
        host: url.hostname,
        port: url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port),
        protocol: url.protocol === 'https:' ? 'https' : 'http',
        path: url.pathname === '/' ? undefined : url.pathname,
        database,
        username: init.username,
        password: init.password,
        pool: { requestTimeout: init.requestTimeout ?? 10_000, maxRetries: 1 },
        schema: [
          { measurement: 'reading', tags: ['sensor', 'gw'], fields: { env: FieldType.STRING, seq: FieldType.INTEGER } },
          { measurement: 'checkpoint', tags: ['sensor', 'gw'], fields: { bucket: FieldType.INTEGER, part: FieldType.INTEGER, bytes: FieldType.STRING } },
          { measurement: 'cert', tags: ['gw', 'h'], fields: { der: FieldType.STRING, nb: FieldType.INTEGER } }
        ]
      })
      try {
        await influx.createDatabase(database)
      } catch (err) {
        // the client's message names the host, never the credentials
        throw engineError(`The InfluxDB server at ${url.origin} cannot be reached or refused to create database ${database}.`, err)
      }
      client = influx
    },

    async close () {
      await writing
      client = undefined
    },

    async append (readings: readonly StoredReading[]): Promise<AppendResult> {
      checkReadings(readings)
      opened()
      if (readings.length === 0) return { stored: 0, duplicates: 0 }
      return await serial(async () => {
        const known = await held(readings)
        const fresh: StoredReading[] = []
        for (const r of readings) {
          const id = `${r.sensor}/${r.seq}/${hexOf(r.gw)}`
          if (known.has(id)) continue
          known.add(id) // a second copy in this batch is a duplicate too
          fresh.push(r)
        }
        const points = fresh.map(r => ({
          measurement: 'reading',
          tags: { sensor: r.sensor, gw: hexOf(r.gw) },
          fields: { env: base64Of(r.envelope), seq: r.seq },
          timestamp: String(r.seq)
        }))
        await write(points, i => fresh[i]!.envelope.length * 4 / 3 + 200)
        return { stored: fresh.length, duplicates: readings.length - fresh.length }
      })
    },

    async putCheckpoints (checkpoints: readonly StoredCheckpoint[]): Promise<number> {
      checkCheckpoints(checkpoints)
      opened()
      if (checkpoints.length === 0) return 0
      return await serial(async () => {
        const sensors = [...new Set(checkpoints.map(c => c.sensor))]
        const results = await query(sensors.map(sensor => {
          const mine = checkpoints.filter(c => c.sensor === sensor).map(c => c.bucket)
          return `SELECT bucket, part, gw FROM checkpoint WHERE sensor = ${quote(sensor)} AND time >= ${ns(checkpointTime(Math.min(...mine), 0))} AND time < ${ns(checkpointTime(Math.max(...mine) + 1, 0))}`
        }))
        const known = new Set<string>()
        results.forEach((result, i) => { for (const row of rowsOf(result)) known.add(`${sensors[i]}/${String(row.gw)}/${String(row.bucket)}/${String(row.part)}`) })
        const fresh: StoredCheckpoint[] = []
        for (const c of checkpoints) {
          const id = `${c.sensor}/${hexOf(c.gw)}/${c.bucket}/${c.part}`
          if (known.has(id)) continue
          known.add(id)
          fresh.push(c)
        }
        await write(fresh.map(c => ({
          measurement: 'checkpoint',
          tags: { sensor: c.sensor, gw: hexOf(c.gw) },
          fields: { bucket: c.bucket, part: c.part, bytes: base64Of(c.bytes) },
          timestamp: String(checkpointTime(c.bucket, c.part))
        })), i => fresh[i]!.bytes.length * 4 / 3 + 200)
        return fresh.length
      })
    },

    async range (q: RangeQuery): Promise<StoredReading[]> {
      checkRangeQuery(q)
      const { sensor, fromSeq, toSeq, after, limit } = q
      const asc = q.order === 'asc'
      const where = `FROM reading WHERE sensor = ${quote(sensor)}`
      // readings tied with `after` on its seq, past its gw
      const ties = after !== undefined && after.seq >= fromSeq && after.seq < toSeq
      let lo = fromSeq
      let hi = toSeq
      if (after !== undefined) {
        if (asc) lo = Math.max(lo, after.seq + 1)
        else hi = Math.min(hi, after.seq)
      }
      const statements: string[] = []
      if (ties) statements.push(`SELECT env, seq, gw ${where} AND time = ${ns(after.seq)}`)
      if (lo < hi) statements.push(`SELECT env, seq, gw ${where} AND time >= ${ns(lo)} AND time < ${ns(hi)} ORDER BY time ${asc ? 'ASC' : 'DESC'} LIMIT ${limit}`)
      opened()
      if (statements.length === 0) return []
      const results = await query(statements)
      const order = (a: HistoryKey, b: HistoryKey): number => asc ? compareKeys(a, b) : compareKeys(b, a)
      const page: StoredReading[] = []
      if (ties) {
        page.push(...rowsOf(results[0]).map(row => readingOfRow(sensor, row))
          .filter(r => asc ? compareBytes(r.gw, after.gw) > 0 : compareBytes(r.gw, after.gw) < 0).sort(order))
      }
      if (lo < hi) {
        let main = rowsOf(results[ties ? 1 : 0]).map(row => readingOfRow(sensor, row))
        if (main.length === limit && page.length < limit) {
          // LIMIT may have cut the readings of the last seq in InfluxDB's order, not ours: take all of that seq
          const last = main.at(-1)!.seq
          main = [...main.filter(r => r.seq !== last), ...await readingsAt(sensor, last)]
        }
        page.push(...main.sort(order))
      }
      return page.slice(0, limit)
    },

    async checkpoints (sensor: string, fromBucket: number, toBucket: number): Promise<StoredCheckpoint[]> {
      checkSensor(sensor)
      checkBucketRange(fromBucket, toBucket)
      opened()
      if (fromBucket > toBucket) return []
      const [result] = await query([`SELECT bucket, part, bytes, gw FROM checkpoint WHERE sensor = ${quote(sensor)} AND time >= ${ns(checkpointTime(fromBucket, 0))} AND time < ${ns(checkpointTime(toBucket + 1, 0))}`])
      return rowsOf(result).map(row => {
        if (typeof row.gw !== 'string' || typeof row.bucket !== 'number' || typeof row.part !== 'number' || typeof row.bytes !== 'string') throw engineError('InfluxDB returned a checkpoint without its fields.')
        return { sensor, gw: bytesOfHex(row.gw), bucket: row.bucket, part: row.part, bytes: bytesOfBase64(row.bytes) }
      }).sort((a, b) => compareBytes(a.gw, b.gw) || a.bucket - b.bucket || a.part - b.part)
    },

    async ids (sensor: string, fromSeq: number, toSeq: number): Promise<HistoryKey[]> {
      checkSensor(sensor)
      checkBound(fromSeq, 'fromSeq')
      checkBound(toSeq, 'toSeq')
      opened()
      if (fromSeq >= toSeq) return []
      const [result] = await query([`SELECT seq, gw FROM reading WHERE sensor = ${quote(sensor)} AND time >= ${ns(fromSeq)} AND time < ${ns(toSeq)}`])
      return rowsOf(result).map(row => {
        if (typeof row.gw !== 'string' || typeof row.seq !== 'number') throw engineError('InfluxDB returned a reading without gw or seq.')
        return { seq: row.seq, gw: bytesOfHex(row.gw) }
      }).sort(compareKeys)
    },

    async get (sensor: string, keys: readonly HistoryKey[]): Promise<StoredReading[]> {
      checkSensor(sensor)
      checkKeys(keys)
      opened()
      if (keys.length === 0) return []
      // no IN in InfluxQL 1.6: one point lookup per key, sent STATEMENTS_PER_REQUEST at a time
      const results = await query(keys.map(k => `SELECT env, seq, gw FROM reading WHERE sensor = ${quote(sensor)} AND gw = ${quote(hexOf(k.gw))} AND time = ${ns(k.seq)}`))
      return results.flatMap(result => rowsOf(result).map(row => readingOfRow(sensor, row)))
    },

    async sensors (after: string | undefined, limit: number): Promise<string[]> {
      checkAfterSensor(after)
      checkLimit(limit, MAX_RANGE_LIMIT)
      // InfluxQL 1.6 cannot compare tag values by order: all sensor values, filtered here
      const [result] = await query(['SHOW TAG VALUES FROM reading, checkpoint WITH KEY = "sensor"'])
      const all = new Set<string>()
      for (const row of rowsOf(result)) if (typeof row.value === 'string') all.add(row.value)
      return [...all].filter(s => after === undefined || s > after).sort().slice(0, limit)
    },

    async deleteBefore (sensor: string, beforeSeq: number): Promise<number> {
      checkSensor(sensor)
      checkBound(beforeSeq, 'beforeSeq')
      opened()
      return await serial(async () => {
        const [counted] = await query([`SELECT count(seq) FROM reading WHERE sensor = ${quote(sensor)} AND time < ${ns(beforeSeq)}`])
        const count = rowsOf(counted)[0]?.count
        const results = await query([
          `DELETE FROM reading WHERE sensor = ${quote(sensor)} AND time < ${ns(beforeSeq)}`,
          `DELETE FROM checkpoint WHERE sensor = ${quote(sensor)} AND time < ${ns(checkpointTime(firstKeptBucket(beforeSeq), 0))}`
        ])
        results.forEach(rowsOf)
        return typeof count === 'number' ? count : 0
      })
    },

    async sizeBytes (): Promise<number> {
      const [result] = await query(['SHOW STATS FOR \'shard\''])
      let total = 0
      for (const row of rowsOf(result)) {
        if (row.database === database && typeof row.diskBytes === 'number') total += row.diskBytes
      }
      return total
    },

    async putCertificate (gw: Uint8Array, der: Uint8Array, notBefore: number): Promise<void> {
      checkCertificate(gw, der, notBefore)
      opened()
      const h = createHash('sha256').update(der).digest('hex')
      await serial(async () => {
        const held = await heldCertificates([gw])
        if (held.some(c => c.h === h)) return
        await write([{ measurement: 'cert', tags: { gw: hexOf(gw), h }, fields: { der: base64Of(der), nb: notBefore }, timestamp: '0' }], () => der.length * 4 / 3 + 200)
        const drop = [...held, { gw, der, notBefore, h }].sort(compareCertificates).slice(MAX_CERTIFICATES_PER_GW)
        if (drop.length > 0) await query(drop.map(c => `DELETE FROM cert WHERE gw = ${quote(hexOf(gw))} AND h = ${quote(c.h)}`))
      })
    },

    async certificates (gws: readonly Uint8Array[]): Promise<StoredCertificate[]> {
      checkGwList(gws)
      opened()
      return (await heldCertificates(gws)).map(({ gw, der, notBefore }) => ({ gw, der, notBefore }))
    }
  }
}
