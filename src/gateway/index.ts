/**
 * The gateway's composition root: identity (key, enrollment, renewal), the overlay node and the
 * local admin surface. Wiring happens here and nowhere else.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GatemeshError } from '../core/index.ts'
import { createOverlayNode } from '../overlay/index.ts'
import { fetchRevocationList } from '../pki/index.ts'
import { createLogger } from '../platform/logger.ts'
import { startAdmin } from './admin.ts'
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
  stop: () => Promise<void>
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

  const admin = config.adminPort === undefined ? undefined : await startAdmin(overlay, config.adminPort)
  return {
    config,
    overlay,
    admin,
    stop: async () => {
      clearTimeout(renewTimer)
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
