/**
 * MQTT session state of the stream broker beside Aedes: which user holds each client id
 * ([STR-8]), and the store Aedes keeps sessions in: its memory persistence, with the outgoing
 * queues of persistent sessions bounded and filtered ([STR-14], [STR-16]).
 */
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'

/** The part of an Aedes 1.x client these records read. */
export interface SessionClient {
  id: string
  closed: boolean
  clean: boolean
}

/**
 * [STR-8] The user whose session holds each client id. Aedes ends the session of whoever held an
 * id when another CONNECT names it ([MQTT-3.1.4-2]) and, for a persistent session, hands the new
 * connection the old one's subscriptions and queue: a takeover is allowed to the same user only.
 * A clean session frees its id when its connection ends; a persistent one keeps it for its user.
 */
export class ClientIdOwners {
  private readonly holders = new Map<string, { pseudonym: string, client: SessionClient }>()

  /** True (and the id recorded as the user's) unless a live or persistent session of another user holds it. */
  claim (client: SessionClient, pseudonym: string): boolean {
    if (!this.mayClaim(client, pseudonym)) return false
    this.holders.set(client.id, { pseudonym, client })
    return true
  }

  /** Whether `claim` would succeed (nothing recorded). */
  mayClaim (client: SessionClient, pseudonym: string): boolean {
    const holder = this.holders.get(client.id)
    return holder === undefined || holder.pseudonym === pseudonym || (holder.client.closed && holder.client.clean)
  }

  /** The client's connection ended. */
  release (client: SessionClient): void {
    const holder = this.holders.get(client.id)
    if (holder?.client === client && client.clean) this.holders.delete(client.id)
  }

  /** [STR-48] The persistent session holding the id ended while offline: the id is free again. */
  forget (clientId: string): void {
    if (this.holders.get(clientId)?.client.closed === true) this.holders.delete(clientId)
  }

  /** The user whose session holds the id. */
  owner (clientId: string): string | undefined {
    return this.holders.get(clientId)?.pseudonym
  }
}

/** A message as Aedes queues it (an aedes-packet). */
export interface QueuedPacket {
  topic: string
  payload: Buffer | string
  qos: number
  retain: boolean
  messageId?: number
  brokerId?: string
  brokerCounter?: number
  [key: string]: unknown
}

interface Subscription { topic: string, qos: number, [key: string]: unknown }

/** aedes-persistence 11's in-memory store (its async API). */
interface MemoryPersistence {
  broker: unknown
  setup: (broker: unknown) => Promise<void>
  storeRetained: (packet: QueuedPacket) => Promise<void>
  createRetainedStream: (pattern: string) => Readable
  createRetainedStreamCombi: (patterns: string[]) => Readable
  addSubscriptions: (client: SessionClient, subs: Subscription[]) => Promise<void>
  removeSubscriptions: (client: SessionClient, topics: string[]) => Promise<void>
  subscriptionsByClient: (client: SessionClient) => Promise<Subscription[]>
  countOffline: () => Promise<{ subsCount: number, clientsCount: number }>
  subscriptionsByTopic: (topic: string) => Promise<Array<{ clientId: string, topic: string, qos: number }>>
  cleanSubscriptions: (client: SessionClient) => Promise<void>
  incomingStorePacket: (client: SessionClient, packet: QueuedPacket) => Promise<void>
  incomingGetPacket: (client: SessionClient, packet: { messageId: number }) => Promise<QueuedPacket>
  incomingDelPacket: (client: SessionClient, packet: { messageId: number }) => Promise<void>
  cleanIncoming: (client: SessionClient) => Promise<void>
  putWill: (client: SessionClient, packet: QueuedPacket) => Promise<void>
  getWill: (client: SessionClient) => Promise<QueuedPacket | undefined>
  delWill: (client: { id: string }) => Promise<QueuedPacket | undefined>
  streamWill: (brokers?: Record<string, number>) => Readable
  getClientList: (topic: string) => Readable
  destroy: () => Promise<void>
}

const require = createRequire(import.meta.url)

export interface SessionStoreInit {
  /** [STR-16] Messages kept per session's outgoing queue; past it the oldest is dropped. */
  maxPerClient?: number
  /** [STR-14] Whether a message may be queued for a client id at all (default: yes). */
  admit?: (clientId: string, packet: QueuedPacket) => boolean
  /** Which of a SUBSCRIBE's filters the session keeps (Aedes hands the whole packet's, refused ones too). */
  keep?: (client: SessionClient, subs: Subscription[]) => Subscription[]
  /** Called with each dropped message's count (1). */
  dropped?: () => void
}

/**
 * Aedes' memory persistence with its own outgoing queues. Aedes queues every QoS 1/2 message for
 * every persistent subscription that matches its topic, online or not, and delivers what is queued
 * when the client comes back; the memory store keeps all of it. Here a message is queued only for
 * a client whose user it may reach ([STR-14]: a reading without a wrap for the user never takes a
 * place), and a queue holds at most `maxPerClient` messages, the newest ([STR-16]). Everything
 * else (retained messages, subscriptions, QoS 2 receipts, wills) is the memory store's.
 * It passes aedes-persistence's own compliance suite (sessions.test.ts).
 */
export class SessionStore {
  private readonly memory: MemoryPersistence
  private readonly outgoing = new Map<string, QueuedPacket[]>()
  private readonly maxPerClient: number
  private readonly admit: (clientId: string, packet: QueuedPacket) => boolean
  private readonly keep: (client: SessionClient, subs: Subscription[]) => Subscription[]
  private readonly onDrop: () => void
  private readonly Packet: new (packet: QueuedPacket, broker?: unknown) => QueuedPacket

  constructor (init: SessionStoreInit = {}) {
    const AsyncMemory = require('aedes-persistence/asyncPersistence.js') as new () => MemoryPersistence
    this.memory = new AsyncMemory()
    this.Packet = require('aedes-packet') as new (packet: QueuedPacket, broker?: unknown) => QueuedPacket
    this.maxPerClient = init.maxPerClient ?? Infinity
    this.admit = init.admit ?? (() => true)
    this.keep = init.keep ?? ((_client, subs) => subs)
    this.onDrop = init.dropped ?? (() => {})
  }

  get broker (): unknown { return this.memory.broker }

  /** Messages queued for the client id (offline or awaiting acknowledgement). */
  queued (clientId: string): number {
    return this.outgoing.get(clientId)?.length ?? 0
  }

  async setup (broker: unknown): Promise<void> { await this.memory.setup(broker) }
  async storeRetained (packet: QueuedPacket): Promise<void> { await this.memory.storeRetained(packet) }
  createRetainedStream (pattern: string): Readable { return this.memory.createRetainedStream(pattern) }
  createRetainedStreamCombi (patterns: string[]): Readable { return this.memory.createRetainedStreamCombi(patterns) }
  async addSubscriptions (client: SessionClient, subs: Subscription[]): Promise<void> {
    const kept = this.keep(client, subs)
    if (kept.length > 0) await this.memory.addSubscriptions(client, kept)
  }

  async removeSubscriptions (client: SessionClient, topics: string[]): Promise<void> { await this.memory.removeSubscriptions(client, topics) }
  async subscriptionsByClient (client: SessionClient): Promise<Subscription[]> { return await this.memory.subscriptionsByClient(client) }
  async countOffline (): Promise<{ subsCount: number, clientsCount: number }> { return await this.memory.countOffline() }
  async subscriptionsByTopic (topic: string): Promise<Array<{ clientId: string, topic: string, qos: number }>> { return await this.memory.subscriptionsByTopic(topic) }
  async cleanSubscriptions (client: SessionClient): Promise<void> { await this.memory.cleanSubscriptions(client) }

  // [STR-14] [STR-16] the outgoing queues
  async outgoingEnqueue (sub: { clientId: string }, packet: QueuedPacket): Promise<void> {
    this.enqueue(sub.clientId, packet)
  }

  async outgoingEnqueueCombi (subs: Array<{ clientId: string }>, packet: QueuedPacket): Promise<void> {
    for (const sub of subs) this.enqueue(sub.clientId, packet)
  }

  private enqueue (clientId: string, packet: QueuedPacket): void {
    if (!this.admit(clientId, packet)) return
    let queue = this.outgoing.get(clientId)
    if (queue === undefined) {
      queue = []
      this.outgoing.set(clientId, queue)
    }
    // [STR-16] the newest readings matter most: the oldest goes (history fills the gap)
    while (queue.length >= this.maxPerClient) {
      queue.shift()
      this.onDrop()
    }
    queue.push(new this.Packet(packet))
  }

  async outgoingUpdate (client: SessionClient, packet: QueuedPacket): Promise<void> {
    const queue = this.outgoing.get(client.id) ?? []
    for (let i = 0; i < queue.length; i++) {
      const held = queue[i] as QueuedPacket
      if (held.brokerId === packet.brokerId) {
        if (held.brokerCounter === packet.brokerCounter) {
          held.messageId = packet.messageId
          return
        }
      } else if (held.messageId === packet.messageId) {
        queue[i] = packet
        return
      }
    }
    throw new Error('no such packet')
  }

  async outgoingClearMessageId (client: SessionClient, packet: { messageId?: number }): Promise<QueuedPacket | undefined> {
    const queue = this.outgoing.get(client.id)
    if (queue === undefined) return undefined
    for (let i = 0; i < queue.length; i++) {
      const held = queue[i] as QueuedPacket
      if (held.messageId === packet.messageId) {
        queue.splice(i, 1)
        if (queue.length === 0) this.outgoing.delete(client.id)
        return held
      }
    }
    return undefined
  }

  /**
   * [STR-48] Ends an offline persistent session: its subscriptions and QoS 2 receipts through the
   * memory store's own API, and its outgoing queue.
   */
  async endSession (clientId: string): Promise<void> {
    const client: SessionClient = { id: clientId, closed: true, clean: false }
    await this.memory.cleanSubscriptions(client)
    await this.memory.cleanIncoming(client)
    this.outgoing.delete(clientId)
  }

  outgoingStream (client: SessionClient): Readable {
    return Readable.from([...(this.outgoing.get(client.id) ?? [])])
  }

  async incomingStorePacket (client: SessionClient, packet: QueuedPacket): Promise<void> { await this.memory.incomingStorePacket(client, packet) }
  async incomingGetPacket (client: SessionClient, packet: { messageId: number }): Promise<QueuedPacket> { return await this.memory.incomingGetPacket(client, packet) }
  async incomingDelPacket (client: SessionClient, packet: { messageId: number }): Promise<void> { await this.memory.incomingDelPacket(client, packet) }
  async cleanIncoming (client: SessionClient): Promise<void> { await this.memory.cleanIncoming(client) }
  async putWill (client: SessionClient, packet: QueuedPacket): Promise<void> { await this.memory.putWill(client, packet) }
  async getWill (client: SessionClient): Promise<QueuedPacket | undefined> { return await this.memory.getWill(client) }
  async delWill (client: { id: string }): Promise<QueuedPacket | undefined> { return await this.memory.delWill(client) }
  streamWill (brokers?: Record<string, number>): Readable { return this.memory.streamWill(brokers) }
  getClientList (topic: string): Readable { return this.memory.getClientList(topic) }
  async destroy (): Promise<void> {
    this.outgoing.clear()
    await this.memory.destroy()
  }
}
