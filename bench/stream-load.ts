/**
 * Child processes of the "stream" scenario (bench/stream.ts), so that load and floors run on
 * their own event loops, as a sensor and a broker would:
 *
 *   node bench/stream-load.ts --sensors PLAN   sensors publishing MQTT 3.1.1 QoS 1 to a collector
 *       (raw sockets, packets built once), open loop at `rate` readings/s spread over the
 *       connections; prints one JSON line: every publish sent and acknowledged, the PUBACK
 *       latency (from the scheduled send, after the warm-up), and the wall-clock window.
 *   node bench/stream-load.ts --aedes          a bare Aedes broker (no authentication) on
 *       127.0.0.1 port 0, Nagle off; prints `{"port":N}` and runs until SIGTERM: the memory floor.
 */
import { connect, createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface SensorPlan {
  port: number
  sensors: Array<{ id: string, credential: string }>
  rate: number
  warmupSeconds: number
  seconds: number
}

export interface SensorResult {
  sent: number
  acked: number
  /** Publishes still unacknowledged when the run ended (the socket closed on them). */
  unacked: number
  /** Publishes not sent because their connection had 4 096 unacknowledged already. */
  skipped: number
  pubackP50: number
  pubackP99: number
  /** How late the generator itself sent, p99 (ms): the machine's own stalls. */
  sendLateP99: number
  /** Epoch ms: the first send, and the measured window (after the warm-up). */
  firstSendAt: number
  measureFrom: number
  measureTo: number
}

const READING = Buffer.from(JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31 }))
const MAX_UNACKED = 4096

function str (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}
function packet (type: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 0x80; len.push(d) } while (n > 0)
  return Buffer.concat([Buffer.from([type, ...len]), body])
}

export function quantile (values: number[] | Float64Array, q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/** The largest value (NaN for none); Math.max(...values) overflows the stack past ~100 000 values. */
export function largest (values: number[]): number {
  if (values.length === 0) return Number.NaN
  let max = -Infinity
  for (const v of values) if (v > max) max = v
  return max
}

interface Conn { send: (scheduled: number) => boolean, unacked: () => number, close: () => void }

async function openSensor (port: number, sensor: { id: string, credential: string }, onAck: (scheduled: number) => void): Promise<Conn> {
  const socket: Socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.on('error', () => {})
  const pending = new Float64Array(65536)
  const inUse = new Uint8Array(65536)
  let unacked = 0
  let nextId = 1
  let buf: Buffer = Buffer.alloc(0)
  const topic = str(`sensors/${sensor.id}/readings`)
  const template = packet(0x32, Buffer.concat([topic, Buffer.from([0, 0]), READING]))
  const idAt = template.length - READING.length - 2
  await new Promise<void>((resolve, reject) => {
    socket.write(packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str(`bench-sensor-${sensor.id}`), str(sensor.id), str(sensor.credential)])))
    socket.once('close', () => { reject(new Error(`sensor ${sensor.id}: closed before CONNACK`)) })
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      let at = 0
      while (buf.length - at >= 2) {
        const type = buf[at] as number
        const len = buf[at + 1] as number // CONNACK and PUBACK: 2-byte bodies
        if (buf.length - at < 2 + len) break
        if (type === 0x20) { if (buf[at + 3] === 0) resolve(); else reject(new Error(`sensor ${sensor.id}: CONNACK ${buf[at + 3]}`)) }
        if (type === 0x40) {
          const id = ((buf[at + 2] as number) << 8) | (buf[at + 3] as number)
          if (inUse[id] === 1) { inUse[id] = 0; unacked--; onAck(pending[id] as number) }
        }
        at += 2 + len
      }
      buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
    })
  })
  return {
    send (scheduled) {
      if (unacked >= MAX_UNACKED) return false
      const id = nextId
      nextId = nextId === 65535 ? 1 : nextId + 1
      pending[id] = scheduled
      inUse[id] = 1
      unacked++
      const p = Buffer.allocUnsafe(template.length)
      template.copy(p)
      p[idAt] = id >> 8
      p[idAt + 1] = id & 0xff
      socket.write(p)
      return true
    },
    unacked: () => unacked,
    close: () => { socket.destroy() }
  }
}

async function runSensors (plan: SensorPlan): Promise<SensorResult> {
  let sent = 0
  let acked = 0
  let skipped = 0
  let measuring = false
  const puback: number[] = []
  const late: number[] = []
  const conns: Conn[] = []
  for (const sensor of plan.sensors) conns.push(await openSensor(plan.port, sensor, scheduled => { acked++; if (measuring) puback.push(performance.now() - scheduled) }))
  // open loop; latency counts from the scheduled time (no coordinated omission)
  const t0 = performance.now()
  const firstSendAt = Date.now()
  let issued = 0
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) * plan.rate / 1000)
    for (; issued < due; issued++) {
      const scheduled = t0 + issued * 1000 / plan.rate
      if (measuring) late.push(performance.now() - scheduled)
      if ((conns[issued % conns.length] as Conn).send(scheduled)) sent++
      else skipped++
    }
  }, 1)
  await new Promise(resolve => setTimeout(resolve, plan.warmupSeconds * 1000))
  measuring = true
  const measureFrom = Date.now()
  await new Promise(resolve => setTimeout(resolve, plan.seconds * 1000))
  measuring = false
  const measureTo = Date.now()
  clearInterval(timer)
  // the last PUBACKs: up to 5 s
  const deadline = performance.now() + 5000
  while (conns.some(c => c.unacked() > 0) && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const unacked = conns.reduce((n, c) => n + c.unacked(), 0)
  for (const c of conns) c.close()
  return { sent, acked, unacked, skipped, pubackP50: quantile(puback, 0.5), pubackP99: quantile(puback, 0.99), sendLateP99: quantile(late, 0.99), firstSendAt, measureFrom, measureTo }
}

async function runAedes (): Promise<void> {
  const { Aedes } = await import('aedes')
  const aedes = await Aedes.createBroker({})
  const server = createServer({ noDelay: true }, socket => { aedes.handle(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n')
  process.once('SIGTERM', () => { server.close(); aedes.close(() => process.exit(0)) })
}

const sensorsAt = process.argv.indexOf('--sensors')
if (sensorsAt >= 0) process.stdout.write(JSON.stringify(await runSensors(JSON.parse(process.argv[sensorsAt + 1] as string) as SensorPlan)) + '\n')
else if (process.argv.includes('--aedes')) await runAedes()
