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
