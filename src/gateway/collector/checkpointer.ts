/**
 * [COL-12] The journal's WAL checkpointer, run in a worker thread (`startCheckpointer`): its own
 * connection copies committed WAL frames back into the database file with PASSIVE checkpoints
 * every `intervalMs`, so the copying and its fsyncs never stall the collector's event loop (a
 * checkpoint of 1000 pages takes 3-6 ms). PASSIVE never waits for the writer and never makes it
 * wait. After each round it posts the WAL's length in frames; the writer rewinds the WAL only
 * when it starts a transaction with every frame copied back, which a busy writer never sees, so
 * the journal then checkpoints the few frames committed since, itself (see Journal).
 */
import { DatabaseSync } from 'node:sqlite'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

export interface CheckpointerInit {
  path: string
  intervalMs: number
}

/** Past this many WAL frames (4 MB) the writer copies back, itself, what the thread's round missed. */
export const WAL_REWIND_FRAMES = 1000

/** The writer's side of a checkpointer thread (the journal's, the persistence outbox's). */
export interface CheckpointerOwner {
  /** Whether `db` is still the owner's open connection. */
  isOpen: (db: DatabaseSync) => boolean
  /** The thread failed or ended: true when it was the owner's current one (which it forgets). */
  lost: (worker: Worker) => boolean
}

/**
 * Moves `db`'s WAL checkpoints to a thread of their own; should the thread fail, SQLite's own
 * checkpoints (every 1000 pages) take over again. The WAL is rewound only once a transaction
 * starts with every frame copied back: past WAL_REWIND_FRAMES, the writer copies back here the
 * few frames that the thread's round missed.
 */
export function checkpointInThread (db: DatabaseSync, init: CheckpointerInit, owner: CheckpointerOwner): Worker {
  db.exec('PRAGMA wal_autocheckpoint = 0')
  const worker = startCheckpointer(init)
  const fallBack = (): void => {
    if (!owner.lost(worker)) return
    if (owner.isOpen(db)) db.exec('PRAGMA wal_autocheckpoint = 1000')
  }
  worker.on('message', (frames: number) => {
    if (!owner.isOpen(db) || frames < WAL_REWIND_FRAMES) return
    try { db.exec('PRAGMA wal_checkpoint(PASSIVE)') } catch { /* the next round tries again */ }
  })
  worker.on('error', fallBack)
  worker.on('exit', fallBack)
  return worker
}

/** Starts the checkpointer thread; it never keeps the process alive. */
export function startCheckpointer (init: CheckpointerInit): Worker {
  const worker = new Worker(new URL(import.meta.url), { workerData: { ...init, checkpointer: true } })
  worker.unref()
  return worker
}

function run (init: CheckpointerInit): void {
  const db = new DatabaseSync(init.path)
  const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
  const timer = setInterval(() => {
    try {
      const { log } = checkpoint.get() as { log: number }
      parentPort?.postMessage(log)
    } catch { /* the next round tries again; the journal's close checkpoints anyway */ }
  }, init.intervalMs)
  parentPort?.once('message', () => {
    clearInterval(timer)
    db.close()
    parentPort?.close()
  })
}

if (!isMainThread && (workerData as { checkpointer?: boolean } | null)?.checkpointer === true) run(workerData as CheckpointerInit)
