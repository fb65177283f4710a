/**
 * Who may send: a sensor id, its verified record from the sensor directory, and its credential
 * checked against the record's verifier. [COL-8] [COL-10] [COL-11]
 */
import { GatemeshError, checkSensorCredential, equalBytes, isGatemeshError, isSensorId } from '../../core/index.ts'
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import type { SensorDirectory } from './types.ts'

export class SensorAuthenticator {
  private readonly suite: CryptoSuite
  private readonly sensors: SensorDirectory

  constructor (components: { suite: CryptoSuite, sensors: SensorDirectory }) {
    this.suite = components.suite
    this.sensors = components.sensors
  }

  /**
   * [COL-8] The sensor's verified record when the credential matches its verifier.
   * `provenVerifier`: the caller has checked (in constant time) that `credential` is one it saw
   * match this verifier before, on the same connection; against the same verifier it needs no
   * hash again (a new verifier, a replaced credential, is checked afresh).
   */
  async authenticate (sensorId: string, credential: unknown, provenVerifier?: Uint8Array): Promise<SensorInfo> {
    if (!isSensorId(sensorId)) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
    const info = this.held(sensorId) ?? await this.sensor(sensorId)
    if (provenVerifier !== undefined && equalBytes(provenVerifier, info.verifier)) return info
    if (!await checkSensorCredential(this.suite, info.verifier, credential)) throw new GatemeshError('GM_ERR_SENSOR_CREDENTIAL')
    return info
  }

  /** The current record of a sensor already authenticated ([COL-11]: picks up access-list changes). */
  async sensor (sensorId: string): Promise<SensorInfo> {
    let info: SensorInfo | undefined
    try {
      info = await this.sensors.get(sensorId)
    } catch (err) {
      throw isGatemeshError(err) ? err : new GatemeshError('GM_ERR_SENSOR_DIRECTORY', undefined, { cause: err })
    }
    if (info === undefined) throw new GatemeshError('GM_ERR_SENSOR_UNKNOWN')
    return info
  }

  /**
   * [COL-10] The record of a sensor the directory holds, at once: a fresh one, or one past its
   * TTL (younger than maxStaleMs) while it is refreshed in the background. Undefined otherwise;
   * then use sensor(). A reading accepted on a record that is not fresh() is sealed only once the
   * refresh settles ([COL-11]).
   */
  held (sensorId: string): SensorInfo | undefined {
    return this.sensors.held?.(sensorId) ?? this.sensors.cached?.(sensorId)
  }

  /**
   * [COL-11] The record to seal a reading accepted on `info` for, now: the directory's fresh
   * record (or `info`, from a directory that never serves a stale one); undefined when the
   * directory holds none fresh, and sealing must wait for the refresh (sensor()).
   */
  fresh (info: SensorInfo): SensorInfo | undefined {
    if (this.sensors.held === undefined) return info
    const fresh = this.sensors.cached?.(info.sensorId)
    return fresh === undefined || fresh.seq < info.seq ? undefined : fresh
  }
}
