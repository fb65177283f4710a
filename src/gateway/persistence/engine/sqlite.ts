/**
 * The embedded storage engine ([PER-21]): one node:sqlite file (`persistence.db` in the gateway's
 * data dir), WAL, synchronous = FULL by default: a replica's `stored` answer lets a collector drop
 * its outbox copy ([PER-4]), so an append is on disk (the WAL fsynced) before it resolves, across
 * a power loss too, not only a process crash. One transaction (one fsync) per append of up to
 * 4 096 readings keeps that cheap. `sync: 'normal'` trades the last commits on power loss (never
 * corruption) for fewer fsyncs, for tests and benchmarks that say so.
 *
 * Rows are keyed the way they are read: readings by (sensor, seq, gw), WITHOUT ROWID, so a range
 * is one index walk in [PER-1] order (BLOBs compare bytewise in SQLite, memcmp); checkpoints by
 * (sensor, gw, bucket, part); certificates by (gw, der), the newest few per gw. Envelopes and checkpoints are stored as the
 * opaque bytes given, never logged.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite'
import { GatemeshError, isGatemeshError } from '../../../core/index.ts'
import {
  checkAfterSensor, checkBound, checkBucketRange, checkCertificate, checkCheckpoints, checkGwList, checkKeys, checkLimit,
  checkRangeQuery, checkReadings, checkSensor, firstKeptBucket, MAX_CERTIFICATES_PER_GW, MAX_RANGE_LIMIT
} from './input.ts'
import type { AppendResult, HistoryKey, RangeQuery, StorageEngine, StoredCertificate, StoredCheckpoint, StoredReading } from './types.ts'

export interface SqliteEngineInit {
  /** The database file (created if absent); its directory must exist. */
  path: string
  /** `full` (default): every append is fsynced before it resolves. `normal`: see the module comment. */
  sync?: 'full' | 'normal'
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS readings (
  sensor TEXT NOT NULL, seq INTEGER NOT NULL, gw BLOB NOT NULL, envelope BLOB NOT NULL,
  PRIMARY KEY (sensor, seq, gw)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  sensor TEXT NOT NULL, gw BLOB NOT NULL, bucket INTEGER NOT NULL, part INTEGER NOT NULL, bytes BLOB NOT NULL,
  PRIMARY KEY (sensor, gw, bucket, part)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS checkpoints_by_bucket ON checkpoints (sensor, bucket);
CREATE TABLE IF NOT EXISTS collector_certs (
  gw BLOB NOT NULL, der BLOB NOT NULL, not_before INTEGER NOT NULL,
  PRIMARY KEY (gw, der)
) WITHOUT ROWID;
`

/** Readings one INSERT statement takes (4 parameters each): one call into SQLite per 64 rows instead of per row. */
const ROWS_PER_INSERT = 64

interface Statements {
  insertReading: StatementSync
  insertReadings: StatementSync
  insertCheckpoint: StatementSync
  rangeAsc: StatementSync
  rangeAscAfter: StatementSync
  rangeDesc: StatementSync
  rangeDescAfter: StatementSync
  ids: StatementSync
  get: StatementSync
  checkpoints: StatementSync
  nextReadingSensor: StatementSync
  nextCheckpointSensor: StatementSync
  deleteReadings: StatementSync
  deleteCheckpoints: StatementSync
  putCert: StatementSync
  pruneCerts: StatementSync
  getCerts: StatementSync
}

interface ReadingRow { sensor: string, seq: number, gw: Uint8Array, envelope: Uint8Array }

function engineError (detail: string, cause: unknown): GatemeshError {
  return isGatemeshError(cause) ? cause : new GatemeshError('GM_ERR_PERSISTENCE_ENGINE', detail, { cause })
}

function toReading (row: ReadingRow): StoredReading {
  return { sensor: row.sensor, gw: row.gw, seq: row.seq, envelope: row.envelope }
}

export function createSqliteEngine (init: SqliteEngineInit): StorageEngine {
  if (typeof init?.path !== 'string' || init.path === '') throw new GatemeshError('GM_ERR_MALFORMED', 'The sqlite engine needs a file path.')
  const sync = init.sync ?? 'full'
  let db: DatabaseSync | undefined
  let st: Statements | undefined

  function opened (): { db: DatabaseSync, st: Statements } {
    if (db === undefined || st === undefined) throw new GatemeshError('GM_ERR_PERSISTENCE_ENGINE', 'The sqlite engine is not open.')
    return { db, st }
  }

  /** Runs `work` in one transaction: all of it or none of it. */
  function transaction<T> (work: (st: Statements) => T): T {
    const { db, st } = opened()
    try {
      db.exec('BEGIN IMMEDIATE')
    } catch (err) {
      throw engineError('The sqlite transaction could not begin.', err)
    }
    try {
      const result = work(st)
      db.exec('COMMIT')
      return result
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw engineError('The sqlite transaction failed and was rolled back.', err)
    }
  }

  function read<T> (work: (st: Statements) => T): T {
    const { st } = opened()
    try {
      return work(st)
    } catch (err) {
      throw engineError('The sqlite read failed.', err)
    }
  }

  return {
    name: 'sqlite',

    async open () {
      if (db !== undefined) return
      let handle: DatabaseSync
      try {
        handle = new DatabaseSync(init.path)
      } catch (err) {
        throw engineError(`The sqlite file ${init.path} cannot be opened.`, err)
      }
      try {
        handle.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}; PRAGMA busy_timeout = 5000;`)
        handle.exec(SCHEMA)
        st = {
          insertReading: handle.prepare('INSERT OR IGNORE INTO readings (sensor, seq, gw, envelope) VALUES (?, ?, ?, ?)'),
          // each row inserted or ignored on its own, in order, as by insertReading one at a time
          insertReadings: handle.prepare(`INSERT OR IGNORE INTO readings (sensor, seq, gw, envelope) VALUES ${Array.from({ length: ROWS_PER_INSERT }, () => '(?, ?, ?, ?)').join(', ')}`),
          insertCheckpoint: handle.prepare('INSERT OR IGNORE INTO checkpoints (sensor, gw, bucket, part, bytes) VALUES (?, ?, ?, ?, ?)'),
          rangeAsc: handle.prepare('SELECT sensor, seq, gw, envelope FROM readings WHERE sensor = ? AND seq >= ? AND seq < ? ORDER BY seq, gw LIMIT ?'),
          rangeAscAfter: handle.prepare('SELECT sensor, seq, gw, envelope FROM readings WHERE sensor = ? AND seq >= ? AND seq < ? AND (seq, gw) > (?, ?) ORDER BY seq, gw LIMIT ?'),
          rangeDesc: handle.prepare('SELECT sensor, seq, gw, envelope FROM readings WHERE sensor = ? AND seq >= ? AND seq < ? ORDER BY seq DESC, gw DESC LIMIT ?'),
          rangeDescAfter: handle.prepare('SELECT sensor, seq, gw, envelope FROM readings WHERE sensor = ? AND seq >= ? AND seq < ? AND (seq, gw) < (?, ?) ORDER BY seq DESC, gw DESC LIMIT ?'),
          ids: handle.prepare('SELECT seq, gw FROM readings WHERE sensor = ? AND seq >= ? AND seq < ? ORDER BY seq, gw'),
          get: handle.prepare('SELECT sensor, seq, gw, envelope FROM readings WHERE sensor = ? AND seq = ? AND gw = ?'),
          checkpoints: handle.prepare('SELECT sensor, gw, bucket, part, bytes FROM checkpoints WHERE sensor = ? AND bucket >= ? AND bucket <= ? ORDER BY gw, bucket, part'),
          // one index seek each: the sensors listing never scans the readings
          nextReadingSensor: handle.prepare('SELECT MIN(sensor) AS sensor FROM readings WHERE sensor > ?'),
          nextCheckpointSensor: handle.prepare('SELECT MIN(sensor) AS sensor FROM checkpoints WHERE sensor > ?'),
          deleteReadings: handle.prepare('DELETE FROM readings WHERE sensor = ? AND seq < ?'),
          deleteCheckpoints: handle.prepare('DELETE FROM checkpoints WHERE sensor = ? AND bucket < ?'),
          putCert: handle.prepare('INSERT OR IGNORE INTO collector_certs (gw, der, not_before) VALUES (?, ?, ?)'),
          pruneCerts: handle.prepare(`DELETE FROM collector_certs WHERE gw = ? AND der NOT IN
            (SELECT der FROM collector_certs WHERE gw = ? ORDER BY not_before DESC, der DESC LIMIT ${MAX_CERTIFICATES_PER_GW})`),
          getCerts: handle.prepare('SELECT der, not_before FROM collector_certs WHERE gw = ? ORDER BY not_before DESC, der DESC')
        }
      } catch (err) {
        handle.close()
        throw engineError(`The sqlite file ${init.path} cannot be used as a persistence store.`, err)
      }
      db = handle
    },

    async close () {
      if (db === undefined) return
      const handle = db
      db = undefined
      st = undefined
      handle.close()
    },

    async append (readings: readonly StoredReading[]): Promise<AppendResult> {
      checkReadings(readings)
      opened()
      if (readings.length === 0) return { stored: 0, duplicates: 0 }
      const stored = transaction(st => {
        let count = 0
        let at = 0
        const args: SQLInputValue[] = new Array(4 * ROWS_PER_INSERT)
        for (; at + ROWS_PER_INSERT <= readings.length; at += ROWS_PER_INSERT) {
          for (let k = 0; k < ROWS_PER_INSERT; k++) {
            const r = readings[at + k] as StoredReading
            args[4 * k] = r.sensor
            args[4 * k + 1] = r.seq
            args[4 * k + 2] = r.gw
            args[4 * k + 3] = r.envelope
          }
          count += Number(st.insertReadings.run(...args).changes)
        }
        for (; at < readings.length; at++) {
          const r = readings[at] as StoredReading
          count += Number(st.insertReading.run(r.sensor, r.seq, r.gw, r.envelope).changes)
        }
        return count
      })
      return { stored, duplicates: readings.length - stored }
    },

    async putCheckpoints (checkpoints: readonly StoredCheckpoint[]): Promise<number> {
      checkCheckpoints(checkpoints)
      opened()
      if (checkpoints.length === 0) return 0
      return transaction(st => {
        let count = 0
        for (const c of checkpoints) count += Number(st.insertCheckpoint.run(c.sensor, c.gw, c.bucket, c.part, c.bytes).changes)
        return count
      })
    },

    async range (query: RangeQuery): Promise<StoredReading[]> {
      checkRangeQuery(query)
      const { sensor, fromSeq, toSeq, after, limit } = query
      opened()
      if (fromSeq >= toSeq) return []
      return read(st => {
        // after a cursor the seq bound on its side is the cursor's own seq: SQLite's index search
        // starts at the tighter bound (with the range's it walked every row before the cursor,
        // each page slower than the one before it)
        const args: SQLInputValue[] = after === undefined
          ? [sensor, fromSeq, toSeq, limit]
          : query.order === 'asc'
            ? [sensor, Math.max(fromSeq, after.seq), toSeq, after.seq, after.gw, limit]
            : [sensor, fromSeq, Math.min(toSeq, after.seq + 1), after.seq, after.gw, limit]
        const statement = query.order === 'asc'
          ? (after === undefined ? st.rangeAsc : st.rangeAscAfter)
          : (after === undefined ? st.rangeDesc : st.rangeDescAfter)
        return (statement.all(...args) as unknown as ReadingRow[]).map(toReading)
      })
    },

    async checkpoints (sensor: string, fromBucket: number, toBucket: number): Promise<StoredCheckpoint[]> {
      checkSensor(sensor)
      checkBucketRange(fromBucket, toBucket)
      return read(st => st.checkpoints.all(sensor, fromBucket, toBucket) as unknown as StoredCheckpoint[])
        .map(c => ({ sensor: c.sensor, gw: c.gw, bucket: c.bucket, part: c.part, bytes: c.bytes }))
    },

    async ids (sensor: string, fromSeq: number, toSeq: number): Promise<HistoryKey[]> {
      checkSensor(sensor)
      checkBound(fromSeq, 'fromSeq')
      checkBound(toSeq, 'toSeq')
      opened()
      if (fromSeq >= toSeq) return []
      return read(st => (st.ids.all(sensor, fromSeq, toSeq) as unknown as HistoryKey[]).map(k => ({ seq: k.seq, gw: k.gw })))
    },

    async get (sensor: string, keys: readonly HistoryKey[]): Promise<StoredReading[]> {
      checkSensor(sensor)
      checkKeys(keys)
      return read(st => {
        const found: StoredReading[] = []
        for (const key of keys) {
          const row = st.get.get(sensor, key.seq, key.gw) as ReadingRow | undefined
          if (row !== undefined) found.push(toReading(row))
        }
        return found
      })
    },

    async sensors (after: string | undefined, limit: number): Promise<string[]> {
      checkAfterSensor(after)
      checkLimit(limit, MAX_RANGE_LIMIT)
      return read(st => {
        const found: string[] = []
        // '' sorts before every sensor id (ids are 1..128 characters)
        let cursor = after ?? ''
        while (found.length < limit) {
          const a = (st.nextReadingSensor.get(cursor) as { sensor: string | null }).sensor
          const b = (st.nextCheckpointSensor.get(cursor) as { sensor: string | null }).sensor
          const next = a === null ? b : b === null ? a : (a < b ? a : b)
          if (next === null) break
          found.push(next)
          cursor = next
        }
        return found
      })
    },

    async deleteBefore (sensor: string, beforeSeq: number): Promise<number> {
      checkSensor(sensor)
      checkBound(beforeSeq, 'beforeSeq')
      return transaction(st => {
        const deleted = Number(st.deleteReadings.run(sensor, beforeSeq).changes)
        st.deleteCheckpoints.run(sensor, firstKeptBucket(beforeSeq))
        return deleted
      })
    },

    async sizeBytes (): Promise<number> {
      const { db } = opened()
      try {
        // the pages in use (a delete frees pages that later appends reuse; the file does not shrink
        // without a VACUUM, so its length would keep a replica at its storage limit, [PER-42])
        const pragma = (name: string): number => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[name])
        return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size')
      } catch (err) {
        throw engineError('The sqlite database cannot be measured.', err)
      }
    },

    async putCertificate (gw: Uint8Array, der: Uint8Array, notBefore: number): Promise<void> {
      checkCertificate(gw, der, notBefore)
      transaction(st => {
        st.putCert.run(gw, der, notBefore)
        st.pruneCerts.run(gw, gw)
      })
    },

    async certificates (gws: readonly Uint8Array[]): Promise<StoredCertificate[]> {
      checkGwList(gws)
      return read(st => {
        const found: StoredCertificate[] = []
        for (const gw of gws) {
          for (const row of st.getCerts.all(gw) as Array<{ der: Uint8Array, not_before: number }>) {
            found.push({ gw: Uint8Array.from(gw), der: row.der, notBefore: row.not_before })
          }
        }
        return found
      })
    }
  }
}
