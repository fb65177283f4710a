/**
 * The collector's persistence outbox ([PER-4], [PER-11]): node:sqlite in the gateway's data
 * directory (`persistence-outbox.db`, WAL). It holds every sealed envelope given to the
 * persistence sink until W replicas confirmed it, the checkpoints signed and not yet confirmed,
 * the seqs not yet in a checkpoint, and each sensor's chain head. Which replicas confirmed what
 * is kept in memory only: after a crash everything still here is pushed again (a replica takes a
 * reading twice as once).
 *
 * Each batch of envelopes is one transaction; a checkpoint, the chain head it moves and the seqs
 * it covers are one transaction too, written before the checkpoint is sent, so a chain never
 * forks across a crash.
 *
 * [PER-4] WAL checkpoints run in a worker thread (the journal's checkpointer, [COL-12]), not in
 * the commit that fills 1000 pages: inline, their copying and fsyncs were half of what an
 * envelope cost the outbox (~70 µs of write and delete with them, ~35 without, batches of 32).
 */
import type { Worker } from 'node:worker_threads'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { GatemeshError } from '../../core/index.ts'
import { checkpointInThread } from '../collector/index.ts'
import type { CheckpointLink } from '../../core/index.ts'

export const OUTBOX_FILE = 'persistence-outbox.db'

export interface OutboxInit {
  /** How often the checkpointer thread copies the WAL back (ms); 0: SQLite's automatic checkpoint, in the commit. Default 100. */
  checkpointIntervalMs?: number
}

/** An envelope or checkpoint waiting for W confirmations. */
export interface OutboxItem {
  kind: 'env' | 'cp'
  /** Row id in its table. */
  id: number
  sensor: string
  size: number
  /** When it was written to the outbox (ms since the epoch). */
  writtenAt: number
  /** An envelope's seq. */
  seq?: number
  /** The bytes, when in memory (loaded on demand otherwise). */
  bytes?: Uint8Array
}

export interface OutboxEnvelope {
  sensor: string
  seq: number
  envelope: Uint8Array
}

export interface SignedCheckpoint {
  sensor: string
  bucket: number
  part: number
  bytes: Uint8Array
  /** SHA-256 of the checkpoint's body: the new chain head's. */
  hash: Uint8Array
  /** The seqs it covers: they leave the unsigned set. */
  seqs: readonly number[]
}

export interface OutboxContents {
  items: OutboxItem[]
  /** sensor → seqs written and not yet in a checkpoint. */
  unsigned: Map<string, number[]>
}

function fail (err: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_PERSISTENCE_OUTBOX', undefined, { cause: err })
}

export class Outbox {
  private readonly path: string
  private readonly checkpointIntervalMs: number
  private db?: DatabaseSync
  private checkpointer?: Worker
  private statements?: {
    insertEnv: StatementSync
    insertUnsigned: StatementSync
    deleteEnv: StatementSync
    deleteCp: StatementSync
    insertCp: StatementSync
    deleteUnsigned: StatementSync
    head: StatementSync
    setHead: StatementSync
    nextPart: StatementSync
    setNextPart: StatementSync
    envBytes: StatementSync
    cpBytes: StatementSync
  }

  constructor (dataDir: string, init: OutboxInit = {}) {
    this.path = join(dataDir, OUTBOX_FILE)
    this.checkpointIntervalMs = init.checkpointIntervalMs ?? 100
  }

  /** Whether a thread copies the WAL back (false: SQLite does, in the commit that fills 1000 pages). */
  get checkpointsInThread (): boolean {
    return this.checkpointer !== undefined
  }

  /** [PER-4] Moves the WAL checkpoints to their thread; should it fail, SQLite's own take over again. */
  private startCheckpointer (db: DatabaseSync): void {
    this.checkpointer = checkpointInThread(db, { path: this.path, intervalMs: this.checkpointIntervalMs }, {
      isOpen: open => this.db === open,
      lost: lostWorker => {
        if (this.checkpointer !== lostWorker) return false
        this.checkpointer = undefined
        return true
      }
    })
  }

  open (): OutboxContents {
    try {
      mkdirSync(join(this.path, '..'), { recursive: true })
      const db = new DatabaseSync(this.path)
      // the checkpointer thread of a previous open may still be closing its connection (the last
      // to close a WAL database checkpoints it): wait for its lock rather than fail
      db.exec(`PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
        CREATE TABLE IF NOT EXISTS envs (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, seq INTEGER NOT NULL, written INTEGER NOT NULL, env BLOB NOT NULL, UNIQUE (sensor, seq));
        CREATE TABLE IF NOT EXISTS cps (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, bucket INTEGER NOT NULL, part INTEGER NOT NULL, written INTEGER NOT NULL, cp BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS unsigned (sensor TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sensor, seq)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS heads (sensor TEXT PRIMARY KEY, bucket INTEGER NOT NULL, part INTEGER NOT NULL, hash BLOB NOT NULL, zero INTEGER);
        CREATE TABLE IF NOT EXISTS parts (sensor TEXT NOT NULL, bucket INTEGER NOT NULL, next INTEGER NOT NULL, PRIMARY KEY (sensor, bucket)) WITHOUT ROWID;`)
      this.db = db
      if (this.checkpointIntervalMs > 0) this.startCheckpointer(db)
      this.statements = {
        insertEnv: db.prepare('INSERT OR IGNORE INTO envs (sensor, seq, written, env) VALUES (?, ?, ?, ?)'),
        insertUnsigned: db.prepare('INSERT OR IGNORE INTO unsigned (sensor, seq) VALUES (?, ?)'),
        deleteEnv: db.prepare('DELETE FROM envs WHERE id = ?'),
        deleteCp: db.prepare('DELETE FROM cps WHERE id = ?'),
        insertCp: db.prepare('INSERT INTO cps (sensor, bucket, part, written, cp) VALUES (?, ?, ?, ?, ?)'),
        deleteUnsigned: db.prepare('DELETE FROM unsigned WHERE sensor = ? AND seq = ?'),
        head: db.prepare('SELECT bucket, part, hash, zero FROM heads WHERE sensor = ?'),
        setHead: db.prepare('INSERT INTO heads (sensor, bucket, part, hash, zero) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sensor) DO UPDATE SET bucket = excluded.bucket, part = excluded.part, hash = excluded.hash, zero = max(coalesce(heads.zero, -1), coalesce(excluded.zero, -1))'),
        nextPart: db.prepare('SELECT next FROM parts WHERE sensor = ? AND bucket = ?'),
        setNextPart: db.prepare('INSERT INTO parts (sensor, bucket, next) VALUES (?, ?, ?) ON CONFLICT (sensor, bucket) DO UPDATE SET next = excluded.next'),
        envBytes: db.prepare('SELECT env FROM envs WHERE id = ?'),
        cpBytes: db.prepare('SELECT cp FROM cps WHERE id = ?')
      }
      const items: OutboxItem[] = []
      for (const row of db.prepare('SELECT id, sensor, written, length(env) AS size FROM envs ORDER BY id').all() as Array<{ id: number, sensor: string, written: number, size: number }>) {
        items.push({ kind: 'env', id: row.id, sensor: row.sensor, size: row.size, writtenAt: row.written })
      }
      for (const row of db.prepare('SELECT id, sensor, written, length(cp) AS size FROM cps ORDER BY id').all() as Array<{ id: number, sensor: string, written: number, size: number }>) {
        items.push({ kind: 'cp', id: row.id, sensor: row.sensor, size: row.size, writtenAt: row.written })
      }
      const unsigned = new Map<string, number[]>()
      for (const row of db.prepare('SELECT sensor, seq FROM unsigned ORDER BY sensor, seq').all() as Array<{ sensor: string, seq: number }>) {
        const list = unsigned.get(row.sensor)
        if (list === undefined) unsigned.set(row.sensor, [row.seq]); else list.push(row.seq)
      }
      return { items, unsigned }
    } catch (err) {
      this.close()
      throw fail(err)
    }
  }

  close (): void {
    const checkpointer = this.checkpointer
    this.checkpointer = undefined
    checkpointer?.postMessage('stop')
    try { this.db?.close() } catch { /* closed already */ }
    this.db = undefined
    this.statements = undefined
  }

  private get s (): NonNullable<Outbox['statements']> {
    if (this.statements === undefined) throw new GatemeshError('GM_ERR_PERSISTENCE_OUTBOX', 'The outbox is closed.')
    return this.statements
  }

  private transaction<T> (fn: () => T): T {
    const db = this.db
    if (db === undefined) throw new GatemeshError('GM_ERR_PERSISTENCE_OUTBOX', 'The outbox is closed.')
    try {
      db.exec('BEGIN IMMEDIATE')
      const out = fn()
      db.exec('COMMIT')
      return out
    } catch (err) {
      try { db.exec('ROLLBACK') } catch { /* no transaction open */ }
      throw fail(err)
    }
  }

  /** [PER-4] One transaction: the envelopes (a (sensor, seq) held already is skipped) and their seqs, unsigned. Returns the new items. */
  write (readings: readonly OutboxEnvelope[], now: number): OutboxItem[] {
    const s = this.s
    return this.transaction(() => {
      const items: OutboxItem[] = []
      for (const r of readings) {
        const result = s.insertEnv.run(r.sensor, r.seq, now, r.envelope)
        if (result.changes === 0) continue
        s.insertUnsigned.run(r.sensor, r.seq)
        items.push({ kind: 'env', id: Number(result.lastInsertRowid), sensor: r.sensor, seq: r.seq, size: r.envelope.length, writtenAt: now, bytes: r.envelope })
      }
      return items
    })
  }

  /** Confirmed by W replicas: gone. */
  remove (items: readonly OutboxItem[]): void {
    if (items.length === 0) return
    const s = this.s
    this.transaction(() => {
      for (const item of items) (item.kind === 'env' ? s.deleteEnv : s.deleteCp).run(item.id)
    })
  }

  /** The bytes of an item not in memory (undefined when it is gone). */
  bytes (item: OutboxItem): Uint8Array | undefined {
    const row = (item.kind === 'env' ? this.s.envBytes : this.s.cpBytes).get(item.id) as { env?: Uint8Array, cp?: Uint8Array } | undefined
    return row?.env ?? row?.cp
  }

  /** [PER-11] A sensor's chain head (the last checkpoint it signed) and the last bucket whose part 0 it signed. */
  head (sensor: string): { link: CheckpointLink, lastPartZero: number } | null {
    const row = this.s.head.get(sensor) as { bucket: number, part: number, hash: Uint8Array, zero: number | null } | undefined
    return row === undefined ? null : { link: { bucket: row.bucket, part: row.part, h: row.hash }, lastPartZero: row.zero ?? -1 }
  }

  /** The part the next checkpoint of (sensor, bucket) takes ([PER-10]: 0, then 1, 2...). */
  nextPart (sensor: string, bucket: number): number {
    const row = this.s.nextPart.get(sensor, bucket) as { next: number } | undefined
    return row?.next ?? 0
  }

  /**
   * [PER-11] One transaction: the checkpoint (to send), the chain head it becomes, the bucket's
   * next part, and its seqs out of the unsigned set. Returns it as an item to push.
   */
  commitCheckpoint (cp: SignedCheckpoint, now: number): OutboxItem {
    const s = this.s
    return this.transaction(() => {
      const result = s.insertCp.run(cp.sensor, cp.bucket, cp.part, now, cp.bytes)
      s.setHead.run(cp.sensor, cp.bucket, cp.part, cp.hash, cp.part === 0 ? cp.bucket : null)
      s.setNextPart.run(cp.sensor, cp.bucket, cp.part + 1)
      for (const seq of cp.seqs) s.deleteUnsigned.run(cp.sensor, seq)
      return { kind: 'cp' as const, id: Number(result.lastInsertRowid), sensor: cp.sensor, size: cp.bytes.length, writtenAt: now, bytes: cp.bytes }
    })
  }
}
