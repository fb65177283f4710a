import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMetricsRegistry } from '../platform/metrics.ts'
import { registerStreamMetrics, registerStreamSinkMetrics } from './metrics.ts'

/** The sample lines of one metric family in an exposition. */
function samples (text: string, name: string): string[] {
  return text.split('\n').filter(line => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
}

describe('stream metrics (read from the status counters at scrape time)', () => {
  it('a stream peer exports its broker\'s and relay\'s counters, codes as labels, and follows the status', async () => {
    const register = createMetricsRegistry()
    let status: { relay: unknown, broker: unknown } | null = null
    registerStreamMetrics(register, () => status)
    // before the service started: every family at 0
    let text = await register.metrics()
    assert.deepEqual(samples(text, 'gatemesh_stream_readings_injected_total'), ['gatemesh_stream_readings_injected_total 0'])
    assert.deepEqual(samples(text, 'gatemesh_stream_clients'), ['gatemesh_stream_clients 0'])

    status = {
      broker: {
        clients: 3,
        subscriptions: 5,
        injected: 120,
        delivered: 300,
        inFlight: 2,
        dropped: { overload: 4, session: 1, malformed: 0, stopped: 0 },
        refused: { GM_ERR_STREAM_BAD_TOKEN: 2, GM_ERR_STREAM_RATE_LIMITED: 7, 'not a code': 9 },
        denied: { GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN: 1 }
      },
      relay: { accepted: 10, delivered: 118, rejected: { GM_ERR_STREAM_RELAY_CERT_REJECTED: 3 }, ignored: 1, peers: 2 }
    }
    text = await register.metrics()
    const expected: Record<string, string[]> = {
      gatemesh_stream_clients: ['gatemesh_stream_clients 3'],
      gatemesh_stream_subscriptions: ['gatemesh_stream_subscriptions 5'],
      gatemesh_stream_readings_in_flight: ['gatemesh_stream_readings_in_flight 2'],
      gatemesh_stream_readings_injected_total: ['gatemesh_stream_readings_injected_total 120'],
      gatemesh_stream_deliveries_total: ['gatemesh_stream_deliveries_total 300'],
      gatemesh_stream_readings_dropped_total: [
        'gatemesh_stream_readings_dropped_total{reason="overload"} 4',
        'gatemesh_stream_readings_dropped_total{reason="session"} 1',
        'gatemesh_stream_readings_dropped_total{reason="malformed"} 0',
        'gatemesh_stream_readings_dropped_total{reason="stopped"} 0'
      ],
      // only GM_ERR_ codes become labels
      gatemesh_stream_logins_refused_total: [
        'gatemesh_stream_logins_refused_total{code="GM_ERR_STREAM_BAD_TOKEN"} 2',
        'gatemesh_stream_logins_refused_total{code="GM_ERR_STREAM_RATE_LIMITED"} 7'
      ],
      gatemesh_stream_denied_total: ['gatemesh_stream_denied_total{code="GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN"} 1'],
      gatemesh_stream_relay_messages_accepted_total: ['gatemesh_stream_relay_messages_accepted_total 10'],
      gatemesh_stream_relay_readings_total: ['gatemesh_stream_relay_readings_total 118'],
      gatemesh_stream_relay_messages_rejected_total: ['gatemesh_stream_relay_messages_rejected_total{code="GM_ERR_STREAM_RELAY_CERT_REJECTED"} 3'],
      gatemesh_stream_relay_messages_ignored_total: ['gatemesh_stream_relay_messages_ignored_total 1'],
      gatemesh_stream_relay_peers: ['gatemesh_stream_relay_peers 2']
    }
    for (const [name, lines] of Object.entries(expected)) assert.deepEqual(samples(text, name), lines, name)
    assert.match(text, /# TYPE gatemesh_stream_readings_dropped_total counter/)
    assert.match(text, /# TYPE gatemesh_stream_clients gauge/)

    // the next scrape reads the counters again (set, not added)
    ;(status.broker as { injected: number }).injected = 150
    assert.deepEqual(samples(await register.metrics(), 'gatemesh_stream_readings_injected_total'), ['gatemesh_stream_readings_injected_total 150'])
  })

  it('a collector exports its stream sink\'s published and dropped readings', async () => {
    const register = createMetricsRegistry()
    registerStreamSinkMetrics(register, () => ({ relayed: 40, messages: 8, local: 40, dropped: { noPeers: 5, queueFull: 2, publishFailed: 1 }, queued: 3, inFlight: 1 }))
    const text = await register.metrics()
    assert.deepEqual(samples(text, 'gatemesh_stream_sink_published_readings_total'), [
      'gatemesh_stream_sink_published_readings_total{path="relay"} 40',
      'gatemesh_stream_sink_published_readings_total{path="local"} 40'
    ])
    assert.deepEqual(samples(text, 'gatemesh_stream_sink_messages_total'), ['gatemesh_stream_sink_messages_total 8'])
    assert.deepEqual(samples(text, 'gatemesh_stream_sink_dropped_readings_total'), [
      'gatemesh_stream_sink_dropped_readings_total{reason="noPeers"} 5',
      'gatemesh_stream_sink_dropped_readings_total{reason="queueFull"} 2',
      'gatemesh_stream_sink_dropped_readings_total{reason="publishFailed"} 1'
    ])
    assert.deepEqual(samples(text, 'gatemesh_stream_sink_queued_messages'), ['gatemesh_stream_sink_queued_messages 3'])
  })
})
