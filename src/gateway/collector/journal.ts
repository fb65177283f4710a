/**
 * The collector's journal of sealed readings (node:sqlite, WAL). Readings are appended in groups:
 * the rows that arrive within one event-loop turn (or up to `maxRows`) go into one transaction,
 * and every append of the group resolves once that transaction commits. [COL-12]
 * Rows are removed once the collector has handed them off, in the next transaction, so the
 * journal holds at most the readings in flight. Only ciphertext is ever written. [COL-13]
 * WAL checkpoints run in a worker thread (checkpointer.ts), off the commit path.
 */
import './errors.ts'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { Worker } from 'node:worker_threads'
import { GatemeshError } from '../../core/index.ts'
import { startCheckpointer } from './checkpointer.ts'
import type { SealedReading } from './types.ts'

export interface JournalInit {
  path: string
  /** 0: commit at the end of the current event-loop turn; otherwise after this many ms. */
  intervalMs?: number
  maxRows?: number
  sync?: 'normal' | 'full'
  /**
   * How often the checkpointer thread copies the WAL back into the database (ms). 0: SQLite's
   * automatic checkpoint instead, run by the commit that fills 1000 pages, on the event loop.
   */
  checkpointIntervalMs?: number
}

/** The WAL length (frames of 4 KiB) past which the journal rewinds it. */
const WAL_REWIND_FRAMES = 1000

interface Waiting {
  reading: SealedReading
  resolve: (id: number) => void
  reject: (err: unknown) => void
}

export class Journal {
  private readonly init: Required<JournalInit>
  private db?: DatabaseSync
  private insert?: StatementSync
  private prune?: StatementSync
  private queue: Waiting[] = []
  private timer?: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate>
  /** Rows up to this id have been handed off and may be deleted. */
  private handedOff = 0
  private pruned = 0
  private checkpointer?: Worker

  constructor (init: JournalInit) {
    this.init = { intervalMs: 0, maxRows: 512, sync: 'normal', checkpointIntervalMs: 100, ...init }
  }

  /** Opens the journal; returns the rows a previous run committed but did not hand off. */
  open (): Array<SealedReading & { id: number }> {
    mkdirSync(dirname(this.init.path), { recursive: true, mode: 0o700 })
    const db = new DatabaseSync(this.init.path)
    db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.init.sync === 'full' ? 'FULL' : 'NORMAL'}`)
    migrateToAutoincrement(db)
    // AUTOINCREMENT: ids are never reused, so "every id up to N was handed off" stays true after
    // the table empties (hand-off and pruning work by the highest id handed off).
    db.exec('CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL)')
    this.insert = db.prepare('INSERT INTO readings (sensor, ts, seq, envelope) VALUES (?, ?, ?, ?)')
    this.prune = db.prepare('DELETE FROM readings WHERE id <= ?')
    this.db = db
    if (this.init.checkpointIntervalMs > 0) this.startCheckpointer(db)
    const rows = db.prepare('SELECT id, sensor, ts, seq, envelope FROM readings ORDER BY id').all()
    return rows.map(row => ({
      id: Number(row.id),
      sensorId: String(row.sensor),
      ts: Number(row.ts),
      seq: Number(row.seq),
      envelope: new Uint8Array(row.envelope as Uint8Array)
    }))
  }

  /** Moves the WAL checkpoints to their thread; should it fail, SQLite's own take over again. */
  private startCheckpointer (db: DatabaseSync): void {
    db.exec('PRAGMA wal_autocheckpoint = 0')
    const worker = startCheckpointer({ path: this.init.path, intervalMs: this.init.checkpointIntervalMs })
    const fallBack = (): void => {
      if (this.checkpointer !== worker) return
      this.checkpointer = undefined
      if (this.db === db) db.exec('PRAGMA wal_autocheckpoint = 1000')
    }
    // the WAL is rewound once a transaction starts with every frame copied back: past 1000
    // frames (4 MB), copy back here the few that the thread's round missed
    worker.on('message', (frames: number) => {
      if (this.db !== db || frames < WAL_REWIND_FRAMES) return
      try { db.exec('PRAGMA wal_checkpoint(PASSIVE)') } catch { /* the next round tries again */ }
    })
    worker.on('error', fallBack)
    worker.on('exit', fallBack)
    this.checkpointer = worker
  }

  /** Resolves with the row id once the reading's transaction has committed. */
  append (reading: SealedReading): Promise<number> {
    if (this.db === undefined) return Promise.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
    return new Promise((resolve, reject) => {
      this.queue.push({ reading, resolve, reject })
      if (this.queue.length >= this.init.maxRows) this.schedule(true)
      else this.schedule(false)
    })
  }

  /** Marks every row up to `id` as handed off; they are deleted with the next transaction. */
  handOff (id: number): void {
    if (id > this.handedOff) this.handedOff = id
  }

  private schedule (now: boolean): void {
    if (this.timer !== undefined && !now) return
    if (this.timer !== undefined) this.clearTimer()
    if (now || this.init.intervalMs <= 0) this.timer = setImmediate(() => { this.timer = undefined; this.commit() })
    else this.timer = setTimeout(() => { this.timer = undefined; this.commit() }, this.init.intervalMs)
  }

  private clearTimer (): void {
    if (this.timer === undefined) return
    clearTimeout(this.timer as ReturnType<typeof setTimeout>)
    clearImmediate(this.timer as ReturnType<typeof setImmediate>)
    this.timer = undefined
  }

  /** One transaction: the waiting rows in, the handed-off rows out. */
  private commit (): void {
    const db = this.db
    const batch = this.queue.splice(0, this.init.maxRows)
    if (this.queue.length > 0) this.schedule(true)
    if (db === undefined || this.insert === undefined || this.prune === undefined) {
      for (const w of batch) w.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
      return
    }
    const ids: number[] = []
    try {
      db.exec('BEGIN')
      if (this.handedOff > this.pruned) { this.prune.run(this.handedOff); this.pruned = this.handedOff }
      for (const { reading } of batch) {
        ids.push(Number(this.insert.run(reading.sensorId, reading.ts, reading.seq, reading.envelope).lastInsertRowid))
      }
      db.exec('COMMIT')
    } catch (err) {
      try { if (db.isTransaction) db.exec('ROLLBACK') } catch { /* already rolled back */ }
      const error = new GatemeshError('GM_ERR_JOURNAL', undefined, { cause: err })
      for (const w of batch) w.reject(error)
      return
    }
    for (let i = 0; i < batch.length; i++) batch[i]?.resolve(ids[i] as number)
  }

  /** Commits what waits, deletes what was handed off, and closes. */
  close (): void {
    this.clearTimer()
    while (this.queue.length > 0) this.commit()
    const checkpointer = this.checkpointer
    this.checkpointer = undefined
    checkpointer?.postMessage('stop')
    const db = this.db
    if (db === undefined) return
    try {
      if (this.handedOff > this.pruned) this.prune?.run(this.handedOff)
      db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    } finally {
      db.close()
      this.db = undefined
    }
  }
}

/**
 * Journals made before ids were AUTOINCREMENT reused ids once emptied; carry their rows (those
 * not yet handed off) over to the new table, in order, in one transaction.
 */
function migrateToAutoincrement (db: DatabaseSync): void {
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'readings'").get() as { sql?: string } | undefined
  if (table?.sql === undefined || table.sql.includes('AUTOINCREMENT')) return
  db.exec(`BEGIN IMMEDIATE;
    ALTER TABLE readings RENAME TO readings_v0;
    CREATE TABLE readings (id INTEGER PRIMARY KEY AUTOINCREMENT, sensor TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL);
    INSERT INTO readings (sensor, ts, seq, envelope) SELECT sensor, ts, seq, envelope FROM readings_v0 ORDER BY id;
    DROP TABLE readings_v0;
    COMMIT`)
}
