/**
 * Registering simulated sensors, and the file of their credentials: JSON
 * `{"sensors":[{"id":"...","credential":"gms_...","protocol":"mqtt"}, ...]}` (mode 0600: the
 * credentials are secrets), written when the simulator registers sensors and read back by
 * `gatemesh sim --sensors FILE`.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { GatemeshError, isSensorId } from '../core/index.ts'
import type { Session } from '../client/index.ts'
import type { SensorCredentials } from './sensors.ts'
import type { Protocol } from './stats.ts'

export interface SensorEntry extends SensorCredentials { protocol?: Protocol }

/** Sensor ids for a run: `<prefix>-mqtt-001`, `<prefix>-http-001`, ... */
export function sensorIds (prefix: string, protocol: Protocol, count: number): string[] {
  const width = Math.max(3, String(count).length)
  return Array.from({ length: count }, (_, i) => `${prefix}-${protocol}-${String(i + 1).padStart(width, '0')}`)
}

/**
 * Binds each id to the session's user ([SEN-4]), `concurrency` at a time; resolves with the
 * credentials in the order of `ids`. `onBound` is told after each one.
 */
export async function registerSensors (session: Session, ids: string[], options: { concurrency?: number, onBound?: (done: number) => void } = {}): Promise<SensorCredentials[]> {
  const out: SensorCredentials[] = new Array(ids.length)
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const at = next++
      const id = ids[at] as string
      const { credential } = await session.addSensor(id)
      out[at] = { id, credential }
      options.onBound?.(++done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(ids.length, options.concurrency ?? 4) }, worker))
  return out
}

export async function writeSensorsFile (path: string, sensors: SensorEntry[]): Promise<void> {
  await writeFile(path, JSON.stringify({ sensors }, null, 2) + '\n', { mode: 0o600 })
}

function bad (path: string, detail: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', `--sensors ${path}: ${detail}`, cause === undefined ? undefined : { cause })
}

export async function readSensorsFile (path: string): Promise<SensorEntry[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw bad(path, 'cannot read it.', err)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw bad(path, 'not JSON.', err)
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { sensors?: unknown } | null)?.sensors
  if (!Array.isArray(list) || list.length === 0) throw bad(path, 'expected {"sensors":[{"id","credential"}, ...]} with at least one sensor.')
  return list.map((entry: unknown, i) => {
    const e = entry as { id?: unknown, credential?: unknown, protocol?: unknown } | null
    if (e === null || typeof e !== 'object' || !isSensorId(e.id) || typeof e.credential !== 'string' || e.credential === '') {
      throw bad(path, `entry ${i + 1} needs a sensor id and a credential.`)
    }
    if (e.protocol !== undefined && e.protocol !== 'mqtt' && e.protocol !== 'http') throw bad(path, `entry ${i + 1}: protocol is mqtt or http.`)
    return { id: e.id, credential: e.credential, ...(e.protocol === undefined ? {} : { protocol: e.protocol }) }
  })
}

/**
 * The sensors of a file for a run: with counts, the first `mqtt` entries marked mqtt (or not
 * marked) and the first `http` entries marked http (or not marked, and not taken); without, each
 * entry as it is marked (every entry must be).
 */
export function assignSensors (path: string, entries: SensorEntry[], counts: { mqtt?: number, http?: number }): Record<Protocol, SensorCredentials[]> {
  const strip = ({ id, credential }: SensorEntry): SensorCredentials => ({ id, credential })
  if (counts.mqtt === undefined && counts.http === undefined) {
    if (entries.some(e => e.protocol === undefined)) throw bad(path, 'some entries have no protocol: give --mqtt N and --http M.')
    return { mqtt: entries.filter(e => e.protocol === 'mqtt').map(strip), http: entries.filter(e => e.protocol === 'http').map(strip) }
  }
  const taken = new Set<SensorEntry>()
  const pick = (protocol: Protocol, count: number): SensorCredentials[] => {
    const chosen = entries.filter(e => e.protocol === protocol || e.protocol === undefined).filter(e => !taken.has(e)).slice(0, count)
    if (chosen.length < count) throw bad(path, `${count} ${protocol} sensors asked for, the file has ${chosen.length} for it.`)
    for (const e of chosen) taken.add(e)
    return chosen.map(strip)
  }
  return { mqtt: pick('mqtt', counts.mqtt ?? 0), http: pick('http', counts.http ?? 0) }
}
