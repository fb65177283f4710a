/**
 * PLACEHOLDER. Live readings come over MQTT/WebSocket from a stream peer, which this build does
 * not have yet (the stream service is planned): nothing here connects, and nothing is faked.
 */
export function LivePanel () {
  return (
    <section aria-labelledby="live-title" class="placeholder" id="live-panel">
      <h3 id="live-title">Live</h3>
      <p>live readings: needs a stream peer</p>
      <p class="muted">This network runs no stream service yet; refresh the latest reading or the history instead.</p>
    </section>
  )
}
