/**
 * The paper scenario's same-run floors: the least a collector must do for each reading of the
 * same simulated sensors, measured on the same machine in the same run as gatemesh. One child
 * process of the benchmark (so that its servers do not share the benchmark's event loop with
 * the 143 simulators) runs four raw servers of bench/raw-collector.ts on 127.0.0.1:
 * - raw Aedes, PUBACK at once, and raw Fastify, 202 at once (any credentials accepted);
 * - the same two behind one raw SQLite journal: the readings of each event-loop turn inserted as
 *   one row in one transaction (WAL, synchronous=NORMAL) before the acknowledgement, as the
 *   collector's acknowledgement promise needs ([COL-7]).
 * No authentication, no sensor record look-up, no rate limit, no envelope, no sealing, no
 * delivery to persistence or stream, no DHT.
 */
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openRawJournal, startRawBroker, startRawHttp } from './raw-collector.ts'

export interface FloorPorts { mqtt: number, http: number }
export interface FloorServers { raw: FloorPorts, journal: FloorPorts }

export interface Floors {
  /** The child process's pid (for its CPU time). */
  pid: number
  servers: FloorServers
  /** Closes the servers and waits for the process to end. */
  stop: () => Promise<void>
}

/** Starts the floors' process; its journal is a file in `dir`. */
export async function startFloors (dir: string): Promise<Floors> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
  const servers = await new Promise<FloorServers>((resolve, reject) => {
    child.once('message', message => { resolve(message as FloorServers) })
    child.once('error', reject)
    void exited.then(() => { reject(new Error(`the floors' process ended (${String(child.exitCode ?? child.signalCode)}) before listening`)) })
  })
  return {
    pid: child.pid as number,
    servers,
    async stop () {
      if (child.connected) child.disconnect()
      await exited
    }
  }
}

/** The child's side: listens, sends its ports, and closes everything when the benchmark disconnects. */
async function serve (dir: string): Promise<void> {
  const journal = openRawJournal(join(dir, 'floor-journal.db'))
  const [rawMqtt, rawHttp, journalMqtt, journalHttp] = await Promise.all([startRawBroker(), startRawHttp(), startRawBroker(journal.append), startRawHttp(journal.append)])
  process.once('disconnect', () => {
    void (async () => {
      for (const server of [rawMqtt, rawHttp, journalMqtt, journalHttp]) await server.close()
      journal.close()
      process.exit(0)
    })()
  })
  const servers: FloorServers = { raw: { mqtt: rawMqtt.port, http: rawHttp.port }, journal: { mqtt: journalMqtt.port, http: journalHttp.port } }
  process.send?.(servers)
}

if (import.meta.main && process.argv[2] === '--serve') await serve(process.argv[3] as string)
