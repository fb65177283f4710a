/**
 * The raw collectors of bench/ingest.ts, baselines for the PUBACK latency: the least a collector
 * must do on this machine for each reading, without its protocol. An Aedes broker posts each
 * publish's payload, in batches of up to 32 gathered for at most 5 ms (as the collector does,
 * [COL-23]), to one worker thread, which runs the raw node:crypto primitives of a seal on it:
 * AES-256-GCM of the reading under a fresh key, one AES-256-GCM wrap per recipient, two SHA-256
 * per reading and one Ed25519 signature per batch (bench/crypto.ts's batch baseline).
 * - "raw Aedes + raw sealing thread" acknowledges at once;
 * - "raw Aedes + raw SQLite journal + raw sealing thread" first inserts the readings of each
 *   event-loop turn as one row, in one transaction (WAL, synchronous=NORMAL), as the collector's
 *   acknowledgement promise needs ([COL-7], [COL-12]). No checkpoint runs during a phase (the
 *   WAL grows by some MiB; `reset` empties it before the next): with SQLite's own, in the commit
 *   that fills the WAL, its p99 was 11.5-17.4 ms against the collector's 9.9-12.7 (three runs),
 *   whose checkpoints run on a thread of their own.
 * No authentication, no rate limits, no envelope encoding, no encryption at rest.
 */
import * as nodeCrypto from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { DatabaseSync } from 'node:sqlite'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import Fastify from 'fastify'

const BATCH = 32
const WINDOW_MS = 5

/** The main thread's side: `offer` each payload; the thread seals what it is sent. */
function startRawSealer (recipients: number): { offer: (payload: Uint8Array) => void, stop: () => Promise<void> } {
  const worker = new Worker(new URL(import.meta.url), { workerData: { rawSealer: true, recipients } })
  // the thread answers each batch, as the collector's sealing threads do; nothing is kept of it
  worker.on('message', () => {})
  let batch: Uint8Array[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    if (batch.length === 0) return
    let size = 4 * batch.length
    for (const p of batch) size += p.length
    const packed = new ArrayBuffer(size)
    const view = new DataView(packed)
    const bytes = new Uint8Array(packed)
    let at = 0
    for (const p of batch) { view.setUint32(at, p.length); bytes.set(p, at + 4); at += 4 + p.length }
    worker.postMessage({ packed, count: batch.length }, [packed])
    batch = []
  }
  return {
    offer (payload) {
      batch.push(payload)
      if (batch.length >= BATCH) flush()
      else timer ??= setTimeout(flush, WINDOW_MS)
    },
    async stop () { flush(); await worker.terminate() }
  }
}

interface AedesLike { handle: (s: Socket) => void, close: (cb: () => void) => void }
type Done = (err: null) => void

/** A server on 127.0.0.1 (port 0) and how to close it. */
export interface RawServer { port: number, close: () => Promise<void> }

/**
 * A raw SQLite journal (WAL, synchronous=NORMAL, [COL-7] [COL-12]): `append` queues a payload,
 * and the payloads of each event-loop turn are inserted as one row in one transaction, after
 * which each one's `done` runs. No checkpoint runs while it is open (`wal_autocheckpoint = 0`);
 * `reset` empties the WAL (a checkpoint, then truncation).
 */
export function openRawJournal (file: string): { append: (payload: Uint8Array, done: () => void) => void, reset: () => void, close: () => void } {
  const journal = new DatabaseSync(file)
  journal.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE IF NOT EXISTS groups (id INTEGER PRIMARY KEY, count INTEGER, data BLOB)')
  const insert = journal.prepare('INSERT INTO groups (count, data) VALUES (?, ?)')
  let waiting: Array<{ payload: Uint8Array, done: () => void }> = []
  const commit = (): void => {
    const batch = waiting
    waiting = []
    journal.exec('BEGIN')
    insert.run(batch.length, Buffer.concat(batch.map(w => w.payload)))
    journal.exec('COMMIT')
    for (const w of batch) w.done()
  }
  return {
    append (payload, done) {
      waiting.push({ payload, done })
      if (waiting.length === 1) setImmediate(commit)
    },
    reset () { journal.exec('PRAGMA wal_checkpoint(TRUNCATE)') },
    close () { journal.close() }
  }
}

/**
 * Raw Aedes on 127.0.0.1 (port 0): accepts any client (no authentication) and hands each
 * publish's payload to `onPublish`, whose `done` lets Aedes send the PUBACK; without it, at once.
 */
export async function startRawBroker (onPublish?: (payload: Uint8Array, done: () => void) => void): Promise<RawServer> {
  const name = 'aedes'
  const { Aedes } = await import(name) as { Aedes: { createBroker: (o: Record<string, unknown>) => Promise<AedesLike> } }
  const broker = await Aedes.createBroker(onPublish === undefined
    ? {}
    : { authorizePublish: (_client: unknown, packet: { payload: Uint8Array }, done: Done) => { onPublish(new Uint8Array(packet.payload), () => { done(null) }) } })
  const server: Server = createServer({ noDelay: true }, s => broker.handle(s))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    async close () {
      await new Promise<void>(resolve => broker.close(resolve))
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}

/**
 * Raw Fastify on 127.0.0.1 (port 0): every POST, whatever its path and its Authorization,
 * has its JSON body parsed (as the collector's framework does) and is answered 202; with
 * `onReading`, once its `done` runs, given the body's bytes.
 */
export async function startRawHttp (onReading?: (body: Uint8Array, done: () => void) => void): Promise<RawServer> {
  const fastify = Fastify({ logger: false })
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body: Buffer, done) => {
    try {
      JSON.parse(body.toString('utf8'))
      done(null, body)
    } catch (err) {
      done(err as Error, undefined)
    }
  })
  fastify.post('/*', async (req, reply) => {
    if (onReading !== undefined) await new Promise<void>(resolve => { onReading(req.body as Buffer, resolve) })
    return await reply.code(202).send({ accepted: 1 })
  })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  return { port: (fastify.server.address() as { port: number }).port, close: async () => { await fastify.close() } }
}

/** A raw collector on 127.0.0.1 (port 0); `journal` is the SQLite file, or none. */
export async function startRawCollector (options: { recipients: number, journal?: string }): Promise<{ port: number, reset: () => void, close: () => Promise<void> }> {
  const sealer = startRawSealer(options.recipients)
  const journal = options.journal === undefined ? undefined : openRawJournal(options.journal)
  const broker = await startRawBroker((payload, done) => {
    if (journal === undefined) { sealer.offer(payload); done(); return }
    journal.append(payload, () => { sealer.offer(payload); done() })
  })
  return {
    port: broker.port,
    /** Empties the journal's WAL: each phase starts from the same file. */
    reset () { journal?.reset() },
    async close () {
      await broker.close()
      await sealer.stop()
      journal?.close()
    }
  }
}

function serve (recipients: number): void {
  const { privateKey } = nodeCrypto.generateKeyPairSync('ed25519')
  const wrapKeys = Array.from({ length: recipients }, () => nodeCrypto.createSecretKey(nodeCrypto.randomBytes(32)))
  const head = new Uint8Array(67)
  parentPort?.on('message', ({ packed, count }: { packed: ArrayBuffer, count: number }) => {
    const view = new DataView(packed)
    let at = 0
    for (let i = 0; i < count; i++) {
      const length = view.getUint32(at)
      const reading = new Uint8Array(packed, at + 4, length)
      at += 4 + length
      const random = nodeCrypto.randomBytes(44)
      const c = nodeCrypto.createCipheriv('aes-256-gcm', nodeCrypto.createSecretKey(random.subarray(0, 32)), random.subarray(32, 44))
      const ct = c.update(reading); c.final(); c.getAuthTag()
      for (const key of wrapKeys) {
        const w = nodeCrypto.createCipheriv('aes-256-gcm', key, random.subarray(32, 44))
        w.update(random.subarray(0, 32)); w.final(); w.getAuthTag()
      }
      nodeCrypto.hash('sha256', ct, 'buffer')
      nodeCrypto.hash('sha256', random, 'buffer')
    }
    nodeCrypto.sign(null, head, privateKey)
    parentPort?.postMessage(count)
  })
}

if (!isMainThread && (workerData as { rawSealer?: boolean } | null)?.rawSealer === true) serve((workerData as { recipients: number }).recipients)
