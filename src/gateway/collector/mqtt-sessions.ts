/**
 * MQTT session state the collector keeps beside Aedes: which sensor holds each client id
 * ([COL-16]), and the QoS 2 packets of a session received but not yet released ([COL-17]).
 */

/** The part of an Aedes 1.x client these records read. */
export interface SessionClient {
  id: string
  /** Set by Aedes once the client's connection is closing or closed. */
  closed: boolean
  /** The session is clean (CONNECT's Clean Session flag): it ends with the connection. */
  clean: boolean
}

/**
 * [COL-16] The sensor whose session holds each client id. Aedes ends the session of whoever held
 * an id when another CONNECT names it ([MQTT-3.1.4-2]); a takeover is allowed to the same sensor
 * only. A clean session frees its id when its connection ends; a persistent one (Clean Session 0)
 * keeps it for its sensor, since the broker keeps its state under that id.
 */
export class ClientIdHolders {
  private readonly holders = new Map<string, { sensorId: string, client: SessionClient }>()

  /** True (and the id recorded as the sensor's) unless a live or persistent session of another sensor holds it. */
  claim (client: SessionClient, sensorId: string): boolean {
    const holder = this.holders.get(client.id)
    if (holder !== undefined && holder.sensorId !== sensorId && (!holder.client.closed || !holder.client.clean)) return false
    this.holders.set(client.id, { sensorId, client })
    return true
  }

  /** The client's connection ended. */
  release (client: SessionClient): void {
    const holder = this.holders.get(client.id)
    if (holder?.client === client && client.clean) this.holders.delete(client.id)
  }
}

/**
 * [COL-17] MQTT 3.1.1 §4.3.3 (method B): a QoS 2 PUBLISH is delivered once, however often the
 * client sends it again (with DUP or without) before its PUBREL. Aedes looks for a copy in its
 * store only after `authorizePublish`, where the collector journals the reading, so the
 * collector keeps, per connection, the packet ids whose reading it is journaling or has
 * journaled until Aedes has stored the packet (its `published` hook); from then on Aedes' store
 * answers (`stored`), until the PUBREL removes the packet from it.
 */
export class Qos2Receipts {
  private readonly receiving = new Map<number, Promise<void>>()
  private readonly stored: (messageId: number) => Promise<boolean>

  constructor (stored: (messageId: number) => Promise<boolean>) {
    this.stored = stored
  }

  /**
   * Resolves once the reading of this packet id is journaled, by `journal` or before: `journal`
   * runs only for a packet id this session has not received yet (nor holds, unreleased).
   */
  async receive (messageId: number, journal: () => Promise<unknown>): Promise<void> {
    const earlier = this.receiving.get(messageId)
    if (earlier !== undefined) { await earlier; return }
    const receipt = this.stored(messageId).then(async stored => { if (!stored) await journal() })
    this.receiving.set(messageId, receipt)
    // a failure closes the connection, and this record with it
    await receipt
  }

  /** Aedes has stored the packet: its store answers for this id until the PUBREL. */
  storedByBroker (messageId: number): void {
    this.receiving.delete(messageId)
  }
}
