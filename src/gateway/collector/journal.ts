/**
 * The collector's journal (node:sqlite, WAL): the write-ahead log behind the acknowledgement
 * promise. [COL-7] [COL-12] [COL-13] [COL-24]
 *
 * A reading is appended as soon as it is accepted. The readings that arrive within one event-loop
 * turn (or up to `maxRows`) form a group, written in one transaction as ONE row of table `groups`:
 * the group's readings encoded together and encrypted at rest with AES-256-GCM, once, under a
 * journal key (HKDF-SHA256 from the gateway's key seed, one key per epoch; an epoch begins at
 * every open) with a counter nonce (journal-group.ts holds the format). Every append of the group
 * resolves, with a handle on its reading, once the transaction commits; the acknowledgement
 * follows. Sealing for the access list happens after, off the acknowledgement path, and each
 * handle is released once every reading sink holds the sealed reading ([COL-14]); the journal counts in memory the readings of each group not yet released, and the
 * transaction after the last release deletes the group's row, so the journal holds only the
 * groups with readings in flight. Only ciphertext is ever written.
 *
 * At open, the groups a previous run committed but did not delete are returned, decrypted, for
 * sealing, every reading of each: a group of which some readings had already been delivered
 * (before a crash, a stop that could not wait for all, a sealing or a sink that failed) comes
 * back whole, and those readings are delivered again: delivery is at least once after a crash;
 * a group's window runs from its first reading's delivery to the commit after its last one's.
 * WAL checkpoints run in a worker thread (checkpointer.ts), off the commit path.
 */
import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import type { Worker } from 'node:worker_threads'
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { checkpointInThread } from './checkpointer.ts'
import { openGroup, sealGroup } from './journal-group.ts'

export interface JournalInit {
  path: string
  /** The gateway's 32-byte key seed; the journal keys are derived from it ([COL-24]). */
  secret: Uint8Array
  /** 0: commit at the end of the current event-loop turn; otherwise after this many ms. */
  intervalMs?: number
  /** Readings per transaction, i.e. per group row, at most. */
  maxRows?: number
  sync?: 'normal' | 'full'
  /**
   * How often the checkpointer thread copies the WAL back into the database (ms). 0: SQLite's
   * automatic checkpoint instead, run by the commit that fills 1000 pages, on the event loop.
   */
  checkpointIntervalMs?: number
}

/** A reading as accepted: the plaintext lives only in memory and, encrypted, in the journal. */
export interface CollectedReading {
  sensorId: string
  ts: number
  seq: number
  plaintext: Uint8Array
}

/** Names a journaled reading, for release(): its group (the row id) and its place in the group. */
export interface JournalHandle {
  readonly group: number
  readonly index: number
}

/** A reading a previous run journaled, with the handle that releases it. */
export type JournaledReading = CollectedReading & { id: JournalHandle }

/** What open() found of a previous run. */
export interface JournalLeft {
  /** Accepted readings not yet delivered to every sink (or not known to be), decrypted, in journal order. */
  collected: JournaledReading[]
  /**
   * Readings in rows that could not be decrypted or decoded (a different gateway key, altered
   * bytes), as many as the rows' `count` says: kept, never delivered.
   */
  unreadable: number
}

const KEY_INFO = 'gatemesh/journal/v1'
/**
 * Table `groups`. No AUTOINCREMENT: SQLite would then update table sqlite_sequence in every
 * transaction that inserts, which tripled the cost of a commit (67 against 21 µs, measured); the
 * journal numbers its groups itself (nextGroup).
 */
const GROUPS_COLUMNS = 'id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL, ctr INTEGER NOT NULL, count INTEGER NOT NULL, sealed BLOB NOT NULL'
/** Counter nonces per epoch stay far below 2^48; a new epoch (and key) begins at every open. */
const MAX_COUNTER = 2 ** 48

interface Waiting {
  reading: CollectedReading
  resolve: (handle: JournalHandle) => void
  reject: (err: unknown) => void
}

/** A committed group with readings not yet released. */
interface Unreleased {
  left: number
  /** 1 at the index of each released reading: a second release of one changes nothing. */
  released: Uint8Array
}

/** [COL-24] The journal key of an epoch: HKDF-SHA256(seed, salt = "", info = label || epoch as u64). */
export function journalKey (secret: Uint8Array, epoch: number): Buffer {
  const info = Buffer.alloc(KEY_INFO.length + 8)
  info.write(KEY_INFO, 0, 'latin1')
  info.writeBigUInt64BE(BigInt(epoch), KEY_INFO.length)
  return Buffer.from(hkdfSync('sha256', secret, new Uint8Array(0), info, 32))
}

export class Journal {
  private readonly init: Required<JournalInit>
  private db?: DatabaseSync
  private insert?: StatementSync
  private remove?: StatementSync
  private queue: Waiting[] = []
  /**
   * The committed groups with readings in flight, by row id. Not a Map, for the reason the seal
   * pool's batches in flight are not one (seal-pool.ts).
   */
  private groups: Record<number, Unreleased> = Object.create(null) as Record<number, Unreleased>
  /** Ids of the groups whose readings were all delivered, deleted by the next transaction. */
  private released: number[] = []
  private timer?: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate>
  private checkpointer?: Worker
  /** Settles once the checkpointer thread has closed its connection and exited. */
  private checkpointerExited: Promise<void> = Promise.resolve()
  /** A KeyObject: node checks a raw Buffer key on every cipher, ~25 µs a reading (measured). */
  private key?: KeyObject
  private epoch = 0
  private counter = 0
  /** The id of the next group row. */
  private nextGroup = 1

  constructor (init: JournalInit) {
    if (!(init.secret instanceof Uint8Array) || init.secret.length !== 32) throw new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'The journal needs the 32-byte key seed.')
    this.init = { intervalMs: 0, maxRows: 512, sync: 'normal', checkpointIntervalMs: 100, ...init }
  }

  /** Opens the journal and begins a new epoch; returns what a previous run left. */
  open (): JournalLeft {
    let db: DatabaseSync
    try {
      mkdirSync(dirname(this.init.path), { recursive: true, mode: 0o700 })
      db = new DatabaseSync(this.init.path)
    } catch (err) {
      throw new GatemeshError('GM_ERR_JOURNAL', 'The journal cannot be opened.', { cause: err })
    }
    try {
      db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${this.init.sync === 'full' ? 'FULL' : 'NORMAL'}`)
      db.exec(`CREATE TABLE IF NOT EXISTS groups (${GROUPS_COLUMNS});
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)`)
      // [COL-24] every open is a new epoch: a new key, so counter nonces start again at 0 safely
      db.exec("INSERT INTO meta (name, value) VALUES ('epoch', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1")
      this.epoch = Number((db.prepare("SELECT value FROM meta WHERE name = 'epoch'").get() as { value: number }).value)
      this.key = createSecretKey(journalKey(this.init.secret, this.epoch))
      this.counter = 0
      this.insert = db.prepare('INSERT INTO groups (id, epoch, ctr, count, sealed) VALUES (?, ?, ?, ?, ?)')
      // group ids only ever grow within an open, so a released handle never names a later group
      this.nextGroup = Number((db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM groups').get() as { id: number }).id) + 1
      this.remove = db.prepare('DELETE FROM groups WHERE id = ?')
    } catch (err) {
      // a file that is no SQLite database, a disk that fails: the journal cannot open
      db.close()
      throw isGatemeshError(err) ? err : new GatemeshError('GM_ERR_JOURNAL', undefined, { cause: err })
    }
    this.groups = Object.create(null) as Record<number, Unreleased>
    this.db = db
    if (this.init.checkpointIntervalMs > 0) this.startCheckpointer(db)
    try {
      return this.readGroups(db)
    } catch (err) {
      // rows that do not decrypt or decode never throw: this is the database failing
      this.close().catch(() => { /* the error that matters is err */ })
      throw new GatemeshError('GM_ERR_JOURNAL', undefined, { cause: err })
    }
  }

  /** The key of an epoch, derived once per open for the rows of earlier epochs. */
  private keyOf (keys: Map<number, KeyObject>, epoch: number): KeyObject {
    let key = keys.get(epoch)
    if (key === undefined) { key = createSecretKey(journalKey(this.init.secret, epoch)); keys.set(epoch, key) }
    return key
  }

  /** [COL-13] The readings of every group left, each with a handle of this open; counts the unreadable rows' readings. */
  private readGroups (db: DatabaseSync): JournalLeft {
    const collected: JournaledReading[] = []
    let unreadable = 0
    const keys = new Map<number, KeyObject>()
    for (const row of db.prepare('SELECT id, epoch, ctr, count, sealed FROM groups ORDER BY id').all()) {
      const group = Number(row.id)
      const count = Number(row.count)
      let readings: CollectedReading[] | undefined
      try {
        // any column may have been altered: a throw here (an epoch that is no u64, a sealed that is no blob) is unreadable too
        readings = openGroup(this.keyOf(keys, Number(row.epoch)), Number(row.epoch), Number(row.ctr), count, row.sealed as Uint8Array)
      } catch { /* unreadable */ }
      if (readings === undefined) {
        unreadable += Number.isSafeInteger(count) && count > 0 ? count : 1
        continue
      }
      this.groups[group] = { left: readings.length, released: new Uint8Array(readings.length) }
      for (let index = 0; index < readings.length; index++) collected.push({ ...readings[index] as CollectedReading, id: { group, index } })
    }
    return { collected, unreadable }
  }

  /** Moves the WAL checkpoints to their thread; should it fail, SQLite's own take over again. */
  private startCheckpointer (db: DatabaseSync): void {
    const worker = checkpointInThread(db, { path: this.init.path, intervalMs: this.init.checkpointIntervalMs }, {
      isOpen: open => this.db === open,
      lost: lostWorker => {
        if (this.checkpointer !== lostWorker) return false
        this.checkpointer = undefined
        return true
      }
    })
    this.checkpointer = worker
    this.checkpointerExited = new Promise(resolve => { worker.once('exit', () => { resolve() }) })
  }

  /** Resolves with the reading's handle once its group's transaction has committed. */
  append (reading: CollectedReading): Promise<JournalHandle> {
    if (this.db === undefined) return Promise.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
    return new Promise((resolve, reject) => {
      this.queue.push({ reading, resolve, reject })
      if (this.queue.length >= this.init.maxRows) this.schedule(true)
      else this.schedule(false)
    })
  }

  /** Readings appended and not yet released: waiting for their commit, or committed and awaiting a sink. */
  depth (): number {
    let n = this.queue.length
    for (const id in this.groups) n += (this.groups[id as unknown as number] as Unreleased).left
    return n
  }

  /**
   * The reading was delivered to every sink: once every reading of its group is, the next
   * transaction deletes the group's row. A handle released again, or unknown, changes nothing.
   */
  release (handle: JournalHandle): void {
    const group = this.groups[handle.group]
    if (group === undefined || group.released[handle.index] !== 0) return
    group.released[handle.index] = 1
    if (--group.left > 0) return
    delete this.groups[handle.group]
    this.released.push(handle.group)
    this.schedule(false)
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

  /** [COL-24] Inserts one group row, sealed under the epoch's key with the next counter nonce; returns its id. In a transaction. */
  private writeGroup (readings: readonly CollectedReading[]): number {
    if (this.counter >= MAX_COUNTER) throw new GatemeshError('GM_ERR_JOURNAL', 'The journal epoch is exhausted; restart the collector.')
    const ctr = this.counter++
    const sealed = sealGroup(this.key as KeyObject, this.epoch, ctr, readings)
    const id = this.nextGroup++
    const insert = this.insert as StatementSync
    insert.run(id, this.epoch, ctr, readings.length, sealed)
    return id
  }

  /** One transaction: the waiting readings in, as one group row; the released groups out. */
  private commit (): void {
    const db = this.db
    const batch = this.queue.splice(0, this.init.maxRows)
    if (this.queue.length > 0) this.schedule(true)
    if (db === undefined || this.insert === undefined || this.remove === undefined) {
      for (const w of batch) w.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
      return
    }
    const released = this.released
    this.released = []
    if (batch.length === 0 && released.length === 0) return
    let group = 0
    try {
      db.exec('BEGIN')
      for (const id of released) this.remove.run(id)
      if (batch.length > 0) group = this.writeGroup(batch.map(w => w.reading))
      db.exec('COMMIT')
    } catch (err) {
      try { if (db.isTransaction) db.exec('ROLLBACK') } catch { /* already rolled back */ }
      // the released groups are deleted by a later transaction (or delivered again after a restart)
      this.released.push(...released)
      const error = new GatemeshError('GM_ERR_JOURNAL', undefined, { cause: err })
      for (const w of batch) w.reject(error)
      return
    }
    if (batch.length === 0) return
    this.groups[group] = { left: batch.length, released: new Uint8Array(batch.length) }
    for (let index = 0; index < batch.length; index++) batch[index]?.resolve({ group, index })
  }

  /**
   * Commits what waits, deletes what was released, and closes, at once: nothing can be appended
   * after the call. Resolves once the checkpointer thread has closed its own connection too;
   * until then it can still create or delete the WAL's files, so wait before removing them.
   */
  async close (): Promise<void> {
    this.clearTimer()
    while (this.queue.length > 0) this.commit()
    if (this.released.length > 0) this.commit()
    const checkpointer = this.checkpointer
    this.checkpointer = undefined
    // the thread is unref'd so that it never keeps the process alive, but the wait below must:
    // a process whose last work is this close would otherwise exit with the wait unsettled
    checkpointer?.ref()
    checkpointer?.postMessage('stop')
    const db = this.db
    if (db !== undefined) {
      this.db = undefined
      this.key = undefined
      try {
        db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      } finally {
        db.close()
      }
    }
    await this.checkpointerExited
  }
}
