/**
 * A logged-in user: the identity (private keys in memory only) and the signed requests it makes.
 * Sensor records are made and signed here; readings are opened here. [ACS-7] .. [ACS-10]
 */
import type { Envelope, Identity, OpenedReading, Reader, SensorInfo } from '../core/index.ts'
import {
  EnvelopeOpener, GatemeshError, createSensorCredential, createSensorRecord, createStreamToken, fromBase64, fromUtf8,
  isGatemeshError, isSensorId, toBase64, toHex, verifyEnvelope, verifySensorRecord
} from '../core/index.ts'
import type { Client } from './client.ts'
import { HistoryReader, type HistoryOptions } from './history.ts'
import { inThreadPages, type PageProcessor } from './history-pages.ts'
import { verifyHistoryPage } from './history-verify.ts'
import { stringField } from './http.ts'
import { subscribeStream, type StreamConnect, type StreamReading, type SubscribeOptions, type Subscription } from './stream.ts'

export interface SensorSummary { id: string, seq: number, readers: string[] }
export interface SharedSensorSummary { id: string, seq: number, owner: string }

export interface LatestReading {
  plaintext: Uint8Array
  /** The reading as UTF-8 text, when it is valid UTF-8. */
  text?: string
  /** The reading parsed as JSON, when it is JSON. */
  json?: unknown
  /** Milliseconds since the epoch, from the envelope (authenticated). */
  ts: number
  seq: number
  /** Hex Ed25519 public key of the gateway that collected and sealed the reading. */
  gateway: string
  /** That gateway's peer id; its certificate was verified against the pinned CA [ENV-10]. */
  gatewayPeerId: string
  /** That gateway's DER certificate: chained to the pinned CA, valid at `ts`, with the collector role. */
  gatewayCert: Uint8Array
}

function requireSensorId (id: string): void {
  if (!isSensorId(id)) throw new GatemeshError('GM_ERR_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
  // URLs treat these as dot segments, so no HTTP route can name them.
  if (id === '.' || id === '..') throw new GatemeshError('GM_ERR_MALFORMED', `The sensor id '${id}' cannot be used in a URL.`)
}

function base64Field (answer: Record<string, unknown>, name: string): Uint8Array {
  try {
    return fromBase64(stringField(answer, name))
  } catch (err) {
    if (isGatemeshError(err)) throw err
    throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `Field '${name}' is not base64.`, { cause: err })
  }
}

export class Session {
  readonly identity: Identity
  /** The sealed bundle (what a CLI may keep on disk). */
  readonly bundle: Uint8Array
  private readonly client: Client
  private readonly opener: EnvelopeOpener
  /** [PER-53] Made by the first history read of more than one page (ClientInit.historyPages), kept for the next. */
  private pages?: PageProcessor

  constructor (init: { client: Client, identity: Identity, bundle: Uint8Array }) {
    this.client = init.client
    this.identity = init.identity
    this.bundle = init.bundle
    this.opener = new EnvelopeOpener({ suite: init.client.suite, reader: { pseudonym: init.identity.pseudonym, agreementKey: init.identity.agreementKey } })
  }

  get pseudonym (): string {
    return this.identity.pseudonym
  }

  private async signed (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    return await this.client.transport.request(method, path, { body, signer: this.identity })
  }

  /** [ACS-8] The sensor's current record, verified here. */
  async sensor (id: string): Promise<SensorInfo> {
    requireSensorId(id)
    const answer = await this.signed('GET', `/v1/sensors/${id}`)
    let info: SensorInfo
    try {
      info = await verifySensorRecord(this.client.suite, base64Field(answer, 'record'))
    } catch (err) {
      throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The sensor record does not verify.', { cause: err })
    }
    if (info.sensorId !== id) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The record is for another sensor.')
    return info
  }

  private async store (id: string, record: Uint8Array): Promise<number> {
    const answer = await this.signed('PUT', `/v1/sensors/${id}`, { record: toBase64(record) })
    return typeof answer.seq === 'number' ? answer.seq : 0
  }

  /**
   * [SEN-4] [ACS-7] Binds a new sensor; the credential exists only in the result: show it once.
   * [SEN-2] `retention`: seconds its readings are kept (0 forever); absent, the default (30 days).
   */
  async addSensor (id: string, options: { retention?: number } = {}): Promise<{ credential: string, seq: number }> {
    requireSensorId(id)
    const { credential, verifier } = await createSensorCredential(this.client.suite)
    const record = await createSensorRecord(this.client.suite, this.identity, { sensorId: id, verifier, seq: 1, retention: options.retention })
    try {
      return { credential, seq: await this.store(id, record) }
    } catch (err) {
      // a first record (seq 1) is stale only when one of ours is held: another owner's is GM_ERR_SENSOR_OWNED
      if (isGatemeshError(err, 'GM_ERR_STALE_RECORD')) throw new GatemeshError('GM_ERR_CLIENT_SENSOR_EXISTS', undefined, { cause: err })
      throw err
    }
  }

  /**
   * The current record, which must be ours, and a new one with seq + 1: the readers `change`
   * gives and the retention given, the other fields as they were ([SEN-2]).
   */
  private async rewrite (id: string, change: (readers: Reader[]) => Reader[], retention?: number): Promise<{ seq: number, readers: string[], retentionSeconds: number }> {
    const current = await this.sensor(id)
    if (current.owner.pseudonym !== this.pseudonym) throw new GatemeshError('GM_ERR_NOT_OWNER')
    const readers = change(current.readers)
    // a record without `retention` is rewritten without it (the same default)
    const kept = current.record.body.retention === undefined ? undefined : current.retentionSeconds
    const record = await createSensorRecord(this.client.suite, this.identity, { sensorId: id, verifier: current.verifier, readers, seq: current.seq + 1, retention: retention ?? kept })
    return { seq: await this.store(id, record), readers: readers.map(r => r.pseudonym).sort(), retentionSeconds: retention ?? current.retentionSeconds }
  }

  /** [SEN-2] Sets how long the sensor's readings are kept (seconds, 0 forever): a new record. */
  async setRetention (id: string, retention: number): Promise<{ seq: number, retentionSeconds: number }> {
    requireSensorId(id)
    const { seq, retentionSeconds } = await this.rewrite(id, readers => readers, retention)
    return { seq, retentionSeconds }
  }

  /** [SEN-2] Grants `pseudonym` access; its public keys come from its verified account. */
  async share (id: string, pseudonym: string): Promise<{ seq: number, readers: string[] }> {
    requireSensorId(id)
    if (pseudonym === this.pseudonym) throw new GatemeshError('GM_ERR_CLIENT_SELF')
    const { account } = await this.client.account(pseudonym, { publicOnly: true })
    const reader: Reader = { pseudonym: account.pseudonym, sigPub: account.sigPub, encPub: account.encPub }
    const { seq, readers } = await this.rewrite(id, readers => [...readers.filter(r => r.pseudonym !== pseudonym), reader])
    return { seq, readers }
  }

  /** [SEN-2] [ENV-5] Removes `pseudonym`: readings sealed after this are not wrapped for it. */
  async revoke (id: string, pseudonym: string): Promise<{ seq: number, readers: string[] }> {
    requireSensorId(id)
    if (pseudonym === this.pseudonym) throw new GatemeshError('GM_ERR_CLIENT_SELF')
    const { seq, readers } = await this.rewrite(id, readers => {
      if (!readers.some(r => r.pseudonym === pseudonym)) throw new GatemeshError('GM_ERR_CLIENT_NOT_SHARED')
      return readers.filter(r => r.pseudonym !== pseudonym)
    })
    return { seq, readers }
  }

  /** [ACS-10] The sensors this user owns and those shared with it. */
  async listSensors (): Promise<{ owned: SensorSummary[], shared: SharedSensorSummary[] }> {
    const answer = await this.signed('GET', '/v1/sensors')
    if (!Array.isArray(answer.owned) || !Array.isArray(answer.shared)) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'Expected { owned, shared }.')
    return { owned: answer.owned as SensorSummary[], shared: answer.shared as SharedSensorSummary[] }
  }

  /**
   * [ACS-9] [ENV-7] The latest reading, fetched as ciphertext and opened here, once [ENV-10] holds:
   * it is of the sensor asked for, and sealed by a collector the pinned CA certified at its time.
   */
  async readLatest (id: string): Promise<LatestReading> {
    requireSensorId(id)
    const answer = await this.signed('GET', `/v1/sensors/${id}/latest`)
    const envelope = await verifyEnvelope(this.client.suite, base64Field(answer, 'envelope'))
    if (envelope.sensor !== id) throw new GatemeshError('GM_ERR_CLIENT_READING_MISMATCH', `The gateway served a reading of '${envelope.sensor}' for '${id}'.`)
    return await this.openCertified(envelope, base64Field(answer, 'gatewayCert'))
  }

  /**
   * [ENV-10] [ENV-7] A verified envelope ([ENV-6]) of the sensor asked for, opened once its
   * collector's certificate holds under the pinned CA: what readLatest and subscribe return.
   */
  private async openCertified (envelope: Envelope, gatewayCert: Uint8Array): Promise<LatestReading> {
    const collector = await this.client.verifyCollector(envelope.gw, gatewayCert, envelope.ts)
    const opened = await this.opener.openVerified(envelope)
    const reading: LatestReading = {
      plaintext: opened.plaintext,
      ts: opened.header.ts,
      seq: opened.header.seq,
      gateway: toHex(opened.gateway),
      gatewayPeerId: collector.peerId,
      gatewayCert
    }
    try {
      reading.text = fromUtf8(opened.plaintext)
      try {
        reading.json = JSON.parse(reading.text)
      } catch {
        // not JSON: text only
      }
    } catch {
      // not UTF-8: bytes only
    }
    return reading
  }

  /**
   * [STR-2] A stream token: the MQTT password of this user at a stream peer (user name: the
   * pseudonym), for `ttlSeconds` (default 3600, at most 86 400). A bearer credential: keep it secret.
   */
  async streamToken (options: { ttlSeconds?: number } = {}): Promise<string> {
    return await createStreamToken(this.client.suite, this.identity, options)
  }

  /**
   * [STR-40] .. [STR-45] Live readings of `sensorIds` (or of every sensor this user may read) from
   * the stream peers at `options.urls`: each verified ([ENV-6], [ENV-10]) and opened here, then
   * given to `onReading`; failures go to `options.onError` with their code. Reconnects to the
   * next URL (round robin, with back-off) with a fresh token when a connection ends.
   */
  subscribe (sensorIds: readonly string[] | 'all', onReading: (reading: StreamReading) => void, options: SubscribeOptions & { connect?: StreamConnect }): Subscription {
    return subscribeStream({
      reader: { suite: this.client.suite, pseudonym: this.pseudonym, openCertified: async (envelope, cert) => await this.openCertified(envelope, cert) },
      token: async ttlSeconds => await this.streamToken({ ttlSeconds }),
      connect: options.connect
    }, sensorIds, onReading, options)
  }

  /**
   * [PER-53] The sensor's readings in a range, in order, as an async iterable across pages: each
   * page verified ([PER-12], [ENV-10]) before its readings are opened; a page that fails is asked
   * again from another replica ([PER-54]). `reader.stats` counts pages, retries, misbehaving
   * replicas and readings this user cannot open.
   */
  history (id: string, options: HistoryOptions = {}): HistoryReader {
    requireSensorId(id)
    const open = async (envelope: Envelope): Promise<OpenedReading> => await this.opener.openVerified(envelope)
    const make = this.client.historyPages
    // made when a read of more than one page first asks for it (a worker thread takes ~0.2 s to start)
    const pages = make === undefined ? undefined : (): PageProcessor => (this.pages ??= make({ pseudonym: this.identity.pseudonym, agreementSecret: this.identity.secrets.agreementSecret }, inThreadPages({ suite: this.client.suite, verifyPage: verifyHistoryPage, open })))
    return new HistoryReader({
      suite: this.client.suite,
      // [PER-56] the page as CBOR: no base64 on either side
      fetchPage: async (query, maxBytes) => await this.client.transport.request('GET', `/v1/sensors/${id}/history`, { signer: this.identity, query, maxBytes, cbor: true }),
      verifyPage: verifyHistoryPage,
      verifyCollector: async (gw, certificate, ts) => await this.client.verifyCollector(gw, certificate, ts),
      open,
      ...(pages === undefined ? {} : { pages })
    }, id, options)
  }
}
