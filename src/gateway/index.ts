/**
 * The gateway's composition root: identity (key, enrollment, renewal), the overlay node, the
 * services its configuration enables (collector with the latest publisher, Data Access) and the
 * local admin surface. Wiring happens here and nowhere else.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GatemeshError, isGatemeshError } from '../core/index.ts'
import { NAMESPACES, createOverlayNode, recordKey } from '../overlay/index.ts'
import { fetchRevocationList } from '../pki/index.ts'
import { createLogger } from '../platform/logger.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { createAccessService } from './access/index.ts'
import { startAdmin } from './admin.ts'
import { createCachedSensorDirectory, createCollector } from './collector/index.ts'
import { createLatestPublisher } from './latest/index.ts'
import type { AccessService } from './access/index.ts'
import type { CachedSensorDirectory, Collector } from './collector/index.ts'
import type { LatestPublisher } from './latest/index.ts'
import type { CryptoSuite, SigningKey } from '../core/index.ts'
import { enrollIdentity, loadIdentity, renewIdentity } from './identity.ts'
import { createCertificateTrust, createRecordVerifier } from './trust.ts'
import type { AdminServer } from './admin.ts'
import type { GatewayConfig } from './config.ts'
import type { StoredIdentity } from './identity.ts'
import type { OverlayNode, CertificateTrust } from '../overlay/index.ts'

export { parseGatewayConfig, USAGE, DEFAULTS } from './config.ts'
export type { GatewayConfig } from './config.ts'
export { GATEWAY_ERRORS } from './errors.ts'
export { createCertificateTrust, createRecordVerifier } from './trust.ts'
export { startAdmin } from './admin.ts'
export type { AdminServer } from './admin.ts'

export interface Gateway {
  config: GatewayConfig
  overlay: OverlayNode
  admin?: AdminServer
  /** The collector's listeners, when the collector service runs. */
  collector?: { http: string, mqtt: string }
  /** The Data Access service's base URL, when it runs. */
  access?: string
  stop: () => Promise<void>
}

interface Services {
  collector?: Collector
  latest?: LatestPublisher
  directory?: CachedSensorDirectory
  access?: AccessService
}

function serviceUrl (scheme: string, host: string, port: number | undefined): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port ?? 0}`
}

/** The overlay's get for a service: the value, or undefined when no record is held. */
async function getOrUndefined (overlay: OverlayNode, key: string): Promise<Uint8Array | undefined> {
  try {
    return (await overlay.get(key)).value
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND')) return undefined
    throw err
  }
}

/** Starts the collector (with the sensor directory and latest publisher) and Data Access as configured. */
async function startServices (config: GatewayConfig, overlay: OverlayNode, suite: CryptoSuite, signer: SigningKey, seed: Uint8Array, caCertificate: Uint8Array, services: Services): Promise<void> {
  if (config.services.includes('collector')) {
    services.directory = createCachedSensorDirectory({ suite, fetch: async id => await getOrUndefined(overlay, recordKey(NAMESPACES.sensor, id)) })
    services.latest = createLatestPublisher({
      suite, signer, certificate: overlay.currentCertificate(), put: async (key, value) => await overlay.put(key, value), logger: createLogger('gatemesh:latest')
    })
    services.latest.start()
    services.collector = createCollector({ suite, signingSeed: seed, sensors: services.directory, sinks: [services.latest], logger: createLogger('gatemesh:collector') }, {
      dataDir: config.data,
      http: { host: config.host, port: config.httpPort },
      mqtt: { host: config.host, port: config.mqttPort },
      sealWorkers: config.sealWorkers
    })
    await services.collector.start()
  }
  if (config.services.includes('access')) {
    const directory = services.directory
    services.access = createAccessService({
      suite,
      dht: { get: async key => (await overlay.get(key)).value, put: async (key, value) => { await overlay.put(key, value) } },
      logger: createLogger('gatemesh:access'),
      signer,
      certificate: () => overlay.currentCertificate(),
      caCertificate
    }, { host: config.host, port: config.accessPort, onSensorStored: id => { directory?.invalidate(id) } })
    await services.access.start()
  }
}

async function stopServices (services: Services): Promise<void> {
  // the collector first (it drains into the latest publisher), then the publisher's puts
  await services.collector?.stop().catch((err: unknown) => { log.warn({ err }, 'collector stop failed') })
  await services.latest?.stop().catch((err: unknown) => { log.warn({ err }, 'latest publisher stop failed') })
  await services.access?.stop().catch((err: unknown) => { log.warn({ err }, 'access stop failed') })
}

const log = createLogger('gatemesh:gateway')
const MAX_TIMER = 2 ** 31 - 1

/** The CA URL used at enrollment, so that later starts can renew without --ca. */
async function rememberCa (dataDir: string, ca: string | undefined): Promise<string | undefined> {
  const path = join(dataDir, 'gateway.json')
  if (ca !== undefined) {
    await writeFile(path, JSON.stringify({ ca }) + '\n', { mode: 0o644 })
    return ca
  }
  try {
    const saved = JSON.parse(await readFile(path, 'utf8')) as { ca?: unknown }
    return typeof saved.ca === 'string' ? saved.ca : undefined
  } catch {
    return undefined
  }
}

async function obtainCertificate (config: GatewayConfig, caUrl: string | undefined, identity: StoredIdentity): Promise<{ identity: StoredIdentity, trust: CertificateTrust, notAfter: Date }> {
  let current = identity
  if (current.certificate === undefined || current.caCertificate === undefined) {
    if (caUrl === undefined || config.token === undefined) throw new GatemeshError('GM_ERR_GATEWAY_TOKEN_REQUIRED')
    current = await enrollIdentity(config.data, current, caUrl, config.token)
    log.info({ peer: current.peerId }, 'enrolled')
  }
  const trust = createCertificateTrust(current.caCertificate as Uint8Array)
  try {
    const cert = await trust.verifyCertificate(current.certificate as Uint8Array, { peerId: current.peerId })
    return { identity: current, trust, notAfter: cert.notAfter }
  } catch (err) {
    if (caUrl === undefined) throw new GatemeshError('GM_ERR_GATEWAY_CERT_UNUSABLE', undefined, { cause: err })
    log.warn({ code: (err as GatemeshError).code }, 'stored certificate unusable, renewing')
  }
  try {
    current = await renewIdentity(config.data, current, caUrl)
  } catch (err) {
    if (config.token === undefined) throw new GatemeshError('GM_ERR_GATEWAY_CERT_UNUSABLE', undefined, { cause: err })
    current = await enrollIdentity(config.data, current, caUrl, config.token)
  }
  const cert = await trust.verifyCertificate(current.certificate as Uint8Array, { peerId: current.peerId })
  return { identity: current, trust, notAfter: cert.notAfter }
}

export async function startGateway (config: GatewayConfig): Promise<Gateway> {
  const stored = await loadIdentity(config.data)
  const caUrl = await rememberCa(config.data, config.ca)
  const { identity, trust, notAfter } = await obtainCertificate(config, caUrl, stored)

  const overlay = await createOverlayNode({
    privateKey: identity.privateKey,
    trust,
    records: createRecordVerifier(),
    fetchRevocationList: caUrl === undefined ? undefined : async () => await fetchRevocationList(caUrl)
  }, {
    dataDir: config.data,
    certificate: identity.certificate as Uint8Array,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    crlInterval: config.crlInterval,
    republishInterval: config.republishInterval,
    exchangeTimeout: config.exchangeTimeout
  })
  await overlay.start()
  // roles come from the certificate: a service the CA did not grant runs, but peers will not route to it
  const granted = (await trust.verifyCertificate(identity.certificate as Uint8Array, { peerId: identity.peerId })).roles
  const ungranted = config.services.filter(s => !granted.includes(s))
  if (ungranted.length > 0) log.warn({ services: ungranted, granted }, 'services not granted by the certificate')

  const services: Services = {}
  // renew before expiry, then keep renewing
  let renewTimer: ReturnType<typeof setTimeout> | undefined
  let current = identity
  const scheduleRenewal = (expiry: Date): void => {
    if (caUrl === undefined) return
    const delay = Math.max(1000, expiry.getTime() - config.renewBefore - Date.now())
    renewTimer = setTimeout(() => {
      if (Date.now() < expiry.getTime() - config.renewBefore) { scheduleRenewal(expiry); return }
      void renewIdentity(config.data, current, caUrl).then(async renewed => {
        current = renewed
        await overlay.setCertificate(renewed.certificate as Uint8Array)
        services.latest?.setCertificate(renewed.certificate as Uint8Array)
        const cert = await trust.verifyCertificate(renewed.certificate as Uint8Array, { peerId: renewed.peerId })
        log.info({ notAfter: cert.notAfter.toISOString() }, 'certificate renewed')
        scheduleRenewal(cert.notAfter)
      }).catch((err: unknown) => {
        log.warn({ code: (err as GatemeshError).code }, 'renewal failed, retrying in a minute')
        renewTimer = setTimeout(() => { scheduleRenewal(expiry) }, 60_000)
      })
    }, Math.min(delay, MAX_TIMER))
    renewTimer.unref?.()
  }
  scheduleRenewal(notAfter)

  let admin: AdminServer | undefined
  try {
    const suite = createNodeCryptoSuite()
    // the raw libp2p Ed25519 private key is seed(32) || public key(32)
    const seed = identity.privateKey.raw.subarray(0, 32)
    const signer = await suite.importSigningKey(seed)
    await startServices(config, overlay, suite, signer, seed, identity.caCertificate as Uint8Array, services)
    admin = config.adminPort === undefined ? undefined : await startAdmin(overlay, config.adminPort)
  } catch (err) {
    clearTimeout(renewTimer)
    await stopServices(services)
    await overlay.stop()
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', `A service cannot listen on ${config.host} (${code}): check --host and the service ports.`, { cause: err })
    }
    throw err
  }
  return {
    config,
    overlay,
    admin,
    collector: services.collector === undefined
      ? undefined
      : { http: serviceUrl('http', config.host, services.collector.httpPort), mqtt: serviceUrl('mqtt', config.host, services.collector.mqttPort) },
    access: services.access === undefined ? undefined : serviceUrl('http', config.host, Number(new URL(services.access.url).port)),
    stop: async () => {
      clearTimeout(renewTimer)
      await stopServices(services)
      await admin?.close()
      await overlay.stop()
    }
  }
}

/** Resolves when the overlay has at least one verified peer, or after `timeoutMs`. */
export async function waitForPeers (overlay: OverlayNode, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const n = overlay.routingTable().length
    if (n > 0) return n
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return overlay.routingTable().length
}
