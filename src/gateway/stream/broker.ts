/**
 * The stream peer's MQTT broker for applications (issue 16, docs/PROTOCOL.md [STR-5] ..
 * [STR-19]): Aedes 1.x over TCP and WebSocket. Applications log in as users with a stream token,
 * subscribe to the readings of the sensors they may read, and talk to each other inside their own
 * namespace. The relay injects readings with `deliver`; a reading reaches a subscriber only when
 * its envelope carries a wrap for the subscriber ([STR-14]). The broker never opens an envelope.
 */
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from 'aedes'
import { GatemeshError, isGatemeshError, mayRead } from '../../core/index.ts'
import type { SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import { AccountCache, CONNACK, ConnectRate, LoginRefused, checkLogin, type AccountCacheInit, type ConnectRateInit, type LoginComponents } from './auth.ts'
import { ForwardRule, type RecipientsOf } from './forward.ts'
import { ClientIdOwners, SessionStore } from './sessions.ts'
import { classifyFilter, mayPublish, readingTopic } from './topics.ts'
import { openListeners, type Listeners } from './listeners.ts'

export interface StreamBrokerComponents extends LoginComponents {
  logger: Logger
  /**
   * The sensor's verified record (a cached directory over the DHT, 5 s TTL); undefined when there
   * is none. `fresh`: fetched from the overlay again, not from the cache ([STR-10]).
   */
  lookupSensor: (sensorId: string, options?: { fresh?: boolean }) => Promise<Pick<SensorInfo, 'owner' | 'readers'> | undefined>
  /** The sensor id and the wraps' `to` of a stream payload (core's stream-payload.ts); throws when it does not decode. */
  recipientsOf: RecipientsOf
}

export interface StreamBrokerInit {
  /** Bind address of both listeners. */
  host: string
  /** The host name or address put in `endpoints` (what the gateway advertises); default: `host`, or 127.0.0.1 for a wildcard. */
  publicHost?: string
  /** [STR-5] MQTT over TCP; 0 picks a free port. */
  port: number
  /** [STR-5] MQTT over WebSocket (path /mqtt); 0 picks a free port. */
  wsPort: number
  /** [STR-16] QoS 1 messages kept per persistent session. */
  sessionMax: number
  /** [STR-48] An offline persistent session ends this long after its client went away (ms). */
  sessionExpiryMs?: number
  /** [STR-48] Persistent sessions a user may hold; past it the user's longest-offline one ends. */
  sessionsPerUser?: number
  /** [STR-9] Connections held at once over both listeners. */
  maxConnections?: number
  /** [STR-9] Largest MQTT packet accepted, in bytes. */
  maxPacketBytes?: number
  /** [STR-13] Subscriptions per client. */
  maxSubscriptions?: number
  /** [STR-12] Retained messages per user in its namespace. */
  maxRetainedPerUser?: number
  /** [STR-15] Injected readings in flight at once (and Aedes' concurrency). */
  maxInFlight?: number
  /** [STR-17] A subscriber whose socket does not drain within this is disconnected. */
  drainTimeoutMs?: number
  connectRate?: ConnectRateInit
  accounts?: AccountCacheInit
}

export interface StreamReading {
  sensorId: string
  /** The stream payload (core's stream-payload.ts): CBOR { v, env, cert }. */
  payload: Uint8Array
}

/** [STR-18] */
export interface StreamBrokerStatus {
  clients: number
  subscriptions: number
  /** Readings handed to `deliver`, and those that Aedes took. */
  injected: number
  /** Readings (and namespace messages) forwarded to a client. */
  delivered: number
  /** Injected readings Aedes is still publishing ([STR-15]'s bound). */
  inFlight: number
  dropped: { overload: number, session: number, malformed: number, stopped: number }
  /** [STR-48] Persistent sessions held (online or not), those offline, and those ended by reason. */
  sessions: { persistent: number, offline: number, ended: { expired: number, limit: number } }
  /** Refused log-ins by code. */
  refused: Record<string, number>
  /** Other refusals (subscribe, publish, limits) by code. */
  denied: Record<string, number>
}

export interface StreamBroker {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** [STR-15] Hands readings to the subscribers; best effort, bounded, never waits. */
  deliver: (readings: StreamReading[]) => void
  status: () => StreamBrokerStatus
  endpoints: () => { mqtt: string, ws: string }
}

interface Session {
  pseudonym: string
  /** The filters granted on this connection. */
  filters: Set<string>
}

const MAX_CLIENT_ID = 128

function refusal (error: GatemeshError, returnCode: number): Error & { returnCode: number } {
  const err = new Error(error.code) as Error & { returnCode: number }
  err.returnCode = returnCode
  return err
}

function urlHost (host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1'
  return host.includes(':') ? `[${host}]` : host
}

/** [STR-10] Refetches of a sensor's record a user's refused SUBSCRIBEs may make at once, and one more per REFETCH_EVERY_MS. */
const REFETCH_BURST = 10
const REFETCH_EVERY_MS = 1000
/** Users whose refetch budget is kept (past it, the one unused longest is forgotten). */
const MAX_REFETCH_USERS = 10_000

export function createStreamBroker (components: StreamBrokerComponents, init: StreamBrokerInit): StreamBroker {
  const { logger } = components
  const maxSubscriptions = init.maxSubscriptions ?? 1000
  const maxRetained = init.maxRetainedPerUser ?? 100
  const maxInFlight = init.maxInFlight ?? 1000
  const accounts = new AccountCache(components.lookupAccount, init.accounts)
  const rate = new ConnectRate(init.connectRate)
  const rule = new ForwardRule(components.recipientsOf)
  const owners = new ClientIdOwners()
  const sessions = new WeakMap<Client, Session>()
  /** [STR-10] Each user's refetches left (the oldest-used users first, for the bound). */
  const refetchBudget = new Map<string, { tokens: number, at: number }>()
  const live = new Set<Session>()
  /** [STR-8] The will topic each CONNECT named, read in preConnect, checked once the user is known. */
  const willTopics = new WeakMap<Client, string>()
  /** [STR-12] Each user's retained topics in its namespace. */
  const retained = new Map<string, Set<string>>()
  const counters = { injected: 0, delivered: 0, dropped: { overload: 0, session: 0, malformed: 0, stopped: 0 } }
  const refused: Record<string, number> = {}
  const denied: Record<string, number> = {}
  // [STR-48] persistent sessions by client id: their user, their client while connected, since when offline
  const sessionExpiryMs = init.sessionExpiryMs ?? 24 * 3_600_000
  const sessionsPerUser = init.sessionsPerUser ?? 16
  const persistent = new Map<string, { pseudonym: string, client?: Client, offlineSince?: number }>()
  const sessionsOf = new Map<string, Set<string>>()
  const ended = { expired: 0, limit: 0 }
  let expiryTimer: ReturnType<typeof setInterval> | undefined
  let inFlight = 0
  let broker: Aedes | undefined
  let listeners: Listeners | undefined
  let stopped = false

  const count = (table: Record<string, number>, code: string): void => { table[code] = (table[code] ?? 0) + 1 }
  const deny = (code: GatemeshError['code'], fields: Record<string, unknown>, message: string): GatemeshError => {
    count(denied, code)
    logger.info({ code, ...fields }, message)
    return new GatemeshError(code)
  }

  const store = new SessionStore({
    maxPerClient: init.sessionMax,
    // [STR-14] a message is queued only for a session whose user it may reach
    admit: (clientId, packet) => {
      const owner = owners.owner(clientId)
      return owner !== undefined && rule.mayForward(owner, packet.topic, packet.payload)
    },
    // Aedes stores every filter of a SUBSCRIBE, the refused ones too: only granted ones are kept
    keep: (client, subs) => {
      const session = sessions.get(client as unknown as Client)
      return session === undefined ? [] : subs.filter(s => session.filters.has(s.topic))
    },
    dropped: () => { counters.dropped.session++ }
  })

  const forgetSession = (clientId: string): void => {
    const held = persistent.get(clientId)
    if (held === undefined) return
    persistent.delete(clientId)
    const ids = sessionsOf.get(held.pseudonym)
    ids?.delete(clientId)
    if (ids?.size === 0) sessionsOf.delete(held.pseudonym)
  }
  /** [STR-48] Ends an offline persistent session: the store forgets it, its client id is free. */
  const endSession = async (clientId: string, reason: keyof typeof ended): Promise<void> => {
    const held = persistent.get(clientId)
    if (held?.offlineSince === undefined) return
    forgetSession(clientId)
    owners.forget(clientId)
    await store.endSession(clientId)
    ended[reason]++
    logger.info({ user: held.pseudonym, reason }, 'persistent stream session ended')
  }
  const expireSessions = (): void => {
    const now = Date.now()
    for (const [id, held] of persistent) {
      if (held.offlineSince !== undefined && now - held.offlineSince >= sessionExpiryMs) {
        endSession(id, 'expired').catch((err: unknown) => { logger.error({ code: 'GM_ERR_STREAM_INTERNAL', reason: (err as Error).message }, 'ending a session failed') })
      }
    }
  }
  /**
   * [STR-48] [STR-8] A CONNECT's session. A new persistent one past the user's bound first ends
   * the user's longest-offline session (refused when all are connected); then, in one synchronous
   * step, the client id is claimed and the session recorded. Other CONNECTs run while a session
   * ends, so the bound and the id are looked at again after each wait, and nothing is recorded
   * before the claim: a CONNECT that loses the id overwrites nothing of the one that won it. A
   * clean session replaces whatever persistent session of the user held the id (Aedes cleans it).
   */
  const admitSession = async (client: Client, pseudonym: string): Promise<void> => {
    const clientIdTaken = (): LoginRefused => new LoginRefused(new GatemeshError('GM_ERR_STREAM_CLIENT_ID'), CONNACK.IDENTIFIER_REJECTED)
    while (!client.clean && !persistent.has(client.id) && (sessionsOf.get(pseudonym)?.size ?? 0) >= sessionsPerUser) {
      if (!owners.mayClaim(client, pseudonym)) throw clientIdTaken()
      let oldest: { id: string, since: number } | undefined
      for (const id of sessionsOf.get(pseudonym) ?? []) {
        const since = persistent.get(id)?.offlineSince
        if (since !== undefined && (oldest === undefined || since < oldest.since)) oldest = { id, since }
      }
      if (oldest === undefined) throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_SESSIONS_FULL'), CONNACK.SERVER_UNAVAILABLE)
      await endSession(oldest.id, 'limit')
    }
    // from here to the end nothing is awaited
    if (!owners.claim(client, pseudonym)) throw clientIdTaken()
    if (client.clean) { forgetSession(client.id); return }
    let mine = sessionsOf.get(pseudonym)
    if (mine === undefined) { mine = new Set(); sessionsOf.set(pseudonym, mine) }
    mine.add(client.id)
    persistent.set(client.id, { pseudonym, client })
  }

  // [STR-9] a flood of CONNECTs from one address; the will topic noted for [STR-8]
  const preConnect = (client: Client, packet: { will?: { topic: string } }, done: (err: Error | null, ok: boolean) => void): void => {
    const address = listeners?.addressOf(client.conn) ?? 'unknown'
    if (!rate.take(address)) {
      count(refused, 'GM_ERR_STREAM_RATE_LIMITED')
      logger.info({ code: 'GM_ERR_STREAM_RATE_LIMITED', address }, 'stream connect refused')
      done(new GatemeshError('GM_ERR_STREAM_RATE_LIMITED'), false)
      return
    }
    if (packet.will !== undefined) willTopics.set(client, packet.will.topic)
    done(null, true)
  }

  // [STR-6] [STR-7] [STR-8]
  const authenticate = (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void => {
    checkLogin(accounts, components.verifyToken, username, password).then(async pseudonym => {
      const will = willTopics.get(client)
      if (will !== undefined && !mayPublish(pseudonym, will)) {
        throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_WILL_FORBIDDEN'), CONNACK.NOT_AUTHORIZED)
      }
      if (client.id.length > MAX_CLIENT_ID || !owners.mayClaim(client, pseudonym)) {
        throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_CLIENT_ID'), CONNACK.IDENTIFIER_REJECTED)
      }
      // claims the id and records the session together
      await admitSession(client, pseudonym)
      const session: Session = { pseudonym, filters: new Set() }
      sessions.set(client, session)
      live.add(session)
      done(null, true)
    }).catch((err: unknown) => {
      const refusedLogin = err instanceof LoginRefused ? err : new LoginRefused(new GatemeshError('GM_ERR_STREAM_INTERNAL', undefined, { cause: err }), CONNACK.SERVER_UNAVAILABLE)
      const cause = refusedLogin.error.cause
      count(refused, refusedLogin.error.code)
      logger.info({ code: refusedLogin.error.code, reason: isGatemeshError(cause) ? cause.code : undefined, returnCode: refusedLogin.returnCode }, 'stream connect refused')
      // a refused CONNECT has no session: Aedes would otherwise clean, as it closes, the QoS 2
      // store of whichever session holds the client id it named
      ;(client as { clean: boolean }).clean = false
      done(refusal(refusedLogin.error, refusedLogin.returnCode), false)
    })
  }

  /**
   * [STR-10] Whether a user's refused SUBSCRIBE may fetch a sensor's record afresh now: each user
   * has REFETCH_BURST of them, given back one a second, so a flood of SUBSCRIBEs is not a DHT
   * look-up each.
   */
  const refetchDue = (pseudonym: string): boolean => {
    const now = Date.now()
    const held = refetchBudget.get(pseudonym)
    const tokens = held === undefined ? REFETCH_BURST : Math.min(REFETCH_BURST, held.tokens + (now - held.at) / REFETCH_EVERY_MS)
    refetchBudget.delete(pseudonym)
    if (refetchBudget.size >= MAX_REFETCH_USERS) refetchBudget.delete(refetchBudget.keys().next().value as string)
    refetchBudget.set(pseudonym, { tokens: tokens >= 1 ? tokens - 1 : tokens, at: now })
    return tokens >= 1
  }

  // [STR-10] .. [STR-13] a refused filter gets SUBACK 0x80
  const authorizeSubscribe = (client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void => {
    const session = sessions.get(client)
    if (session === undefined) { done(null, null); return }
    const grant = (): void => { session.filters.add(sub.topic); done(null, sub) }
    const refuse = (code: GatemeshError['code']): void => {
      deny(code, { user: session.pseudonym }, 'stream subscribe refused')
      done(null, null)
    }
    if (!session.filters.has(sub.topic) && session.filters.size >= maxSubscriptions) { refuse('GM_ERR_STREAM_TOO_MANY_SUBSCRIPTIONS'); return }
    const kind = classifyFilter(session.pseudonym, sub.topic)
    switch (kind.kind) {
      case 'all-sensors':
      case 'own':
        grant()
        return
      case 'sensor':
        // [STR-10] a cached record that does not list the user is fetched again once before the
        // refusal: a share made through another gateway within the cache's life is seen at once
        // (within the user's budget: a SUBSCRIBE flood is not a DHT look-up each)
        components.lookupSensor(kind.sensorId).then(async info => {
          const listed = (found: typeof info): boolean => found !== undefined && mayRead(found, session.pseudonym)
          if (listed(info) || (refetchDue(session.pseudonym) && listed(await components.lookupSensor(kind.sensorId, { fresh: true })))) grant()
          else refuse('GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN')
        }).catch(() => { refuse('GM_ERR_STREAM_DIRECTORY') })
        return
      default:
        refuse('GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN')
    }
  }

  // [STR-12] an application publishes only inside its own namespace; anything else disconnects it
  const authorizePublish = (client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void => {
    const session = client === null ? undefined : sessions.get(client)
    if (session === undefined || !mayPublish(session.pseudonym, packet.topic)) {
      done(deny('GM_ERR_STREAM_PUBLISH_FORBIDDEN', { user: session?.pseudonym }, 'stream publish refused, disconnecting'))
      return
    }
    if (packet.retain) {
      let topics = retained.get(session.pseudonym)
      const empty = packet.payload.length === 0
      if (empty) {
        topics?.delete(packet.topic)
        if (topics?.size === 0) retained.delete(session.pseudonym)
      } else {
        if (topics === undefined) { topics = new Set(); retained.set(session.pseudonym, topics) }
        if (!topics.has(packet.topic) && topics.size >= maxRetained) {
          done(deny('GM_ERR_STREAM_RETAINED_LIMIT', { user: session.pseudonym }, 'stream retained message refused, disconnecting'))
          return
        }
        topics.add(packet.topic)
      }
    }
    done(null)
  }

  // [STR-14] synchronous, once per delivery: the payload's recipients are read once
  const authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = sessions.get(client)
    if (session === undefined || !rule.mayForward(session.pseudonym, packet.topic, packet.payload)) return null
    counters.delivered++
    return packet
  }

  return {
    async start () {
      stopped = false
      broker = await Aedes.createBroker({
        persistence: store,
        concurrency: maxInFlight,
        // [STR-17] a frozen subscriber cannot stall the others
        drainTimeout: init.drainTimeoutMs ?? 15_000,
        connectTimeout: 10_000,
        heartbeatInterval: 3_600_000,
        maxClientsIdLength: MAX_CLIENT_ID,
        preConnect: preConnect as never,
        authenticate: authenticate as never,
        authorizeSubscribe,
        authorizePublish,
        authorizeForward
      })
      const aedes = broker
      aedes.on('clientDisconnect', client => {
        owners.release(client as never)
        // [STR-48] a persistent session goes offline (unless a takeover already holds it)
        const held = persistent.get(client.id)
        if (held !== undefined && held.client === client) { held.client = undefined; held.offlineSince = Date.now() }
        const session = sessions.get(client)
        if (session !== undefined) live.delete(session)
      })
      aedes.on('unsubscribe', (topics, client) => {
        const session = sessions.get(client)
        if (session !== undefined) for (const topic of topics) session.filters.delete(topic)
      })
      // Aedes emits 'error' when its store fails a queueing or a will sweep: logged, never a crash
      ;(aedes as unknown as NodeJS.EventEmitter).on('error', (err: Error) => {
        logger.error({ code: 'GM_ERR_STREAM_INTERNAL', reason: err.message }, 'stream broker error')
      })
      aedes.on('clientError', (client, err) => {
        logger.debug({ code: isGatemeshError(err) ? err.code : 'mqtt', user: sessions.get(client)?.pseudonym, reason: isGatemeshError(err) ? undefined : err.message }, 'stream client error')
      })
      aedes.on('connectionError', (_client, err) => {
        // [STR-5] an MQTT 5 CONNECT is answered CONNACK 1 by Aedes itself
        if ((err as { errorCode?: number }).errorCode === CONNACK.UNACCEPTABLE_PROTOCOL) {
          count(refused, 'GM_ERR_STREAM_PROTOCOL_VERSION')
          logger.info({ code: 'GM_ERR_STREAM_PROTOCOL_VERSION', returnCode: CONNACK.UNACCEPTABLE_PROTOCOL }, 'stream connect refused')
          return
        }
        logger.debug({ code: isGatemeshError(err) ? err.code : 'mqtt', reason: isGatemeshError(err) ? undefined : err.message }, 'stream connection error')
      })
      // [STR-48] offline persistent sessions are looked at every minute (sooner for a short expiry)
      expiryTimer = setInterval(expireSessions, Math.max(100, Math.min(60_000, Math.floor(sessionExpiryMs / 4))))
      expiryTimer.unref()
      listeners = await openListeners(aedes, {
        host: init.host,
        port: init.port,
        wsPort: init.wsPort,
        maxConnections: init.maxConnections ?? 10_000,
        maxPacketBytes: init.maxPacketBytes ?? 256 * 1024,
        tooLarge: () => { deny('GM_ERR_STREAM_TOO_LARGE', {}, 'stream packet too large, disconnecting') }
      })
    },

    async stop () {
      stopped = true
      clearInterval(expiryTimer)
      expiryTimer = undefined
      const aedes = broker
      broker = undefined
      if (aedes !== undefined) await new Promise<void>(resolve => { aedes.close(() => resolve()) })
      // what never became a client (a connection without a CONNECT yet) goes too
      await listeners?.close()
      listeners = undefined
      live.clear()
    },

    // [STR-15]
    deliver (readings) {
      for (const reading of readings) {
        counters.injected++
        if (broker === undefined || stopped) { counters.dropped.stopped++; continue }
        if (inFlight >= maxInFlight) { counters.dropped.overload++; continue }
        const payload = Buffer.from(reading.payload.buffer, reading.payload.byteOffset, reading.payload.byteLength)
        // read once here; every delivery of this payload object finds it in the cache
        if (rule.recipients(payload).sensorId !== reading.sensorId) { counters.dropped.malformed++; continue }
        inFlight++
        broker.publish({ cmd: 'publish', topic: readingTopic(reading.sensorId), payload, qos: 1, retain: true, dup: false }, err => {
          inFlight--
          if (err !== undefined && err !== null) logger.debug({ code: 'GM_ERR_STREAM_INTERNAL', reason: err.message }, 'stream delivery failed')
        })
      }
    },

    status () {
      let subscriptions = 0
      for (const session of live) subscriptions += session.filters.size
      return {
        clients: broker?.connectedClients ?? 0,
        subscriptions,
        injected: counters.injected,
        delivered: counters.delivered,
        inFlight,
        dropped: { ...counters.dropped },
        sessions: { persistent: persistent.size, offline: [...persistent.values()].filter(h => h.offlineSince !== undefined).length, ended: { ...ended } },
        refused: { ...refused },
        denied: { ...denied }
      }
    },

    endpoints () {
      if (listeners === undefined) throw new GatemeshError('GM_ERR_STREAM_INTERNAL', 'The stream broker is not started.')
      const host = urlHost(init.publicHost ?? init.host)
      return { mqtt: `mqtt://${host}:${listeners.port}`, ws: `ws://${host}:${listeners.wsPort}/mqtt` }
    }
  }
}
