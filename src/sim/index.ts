/**
 * Sensor simulators: MQTT and HTTP sensors that report plausible readings on periods drawn as the
 * paper's evaluation did, and measure each reading's response time (publish to PUBACK, request
 * to response). Used by `gatemesh sim` and `npm run bench -- paper`.
 */
export { Simulation, createSimulation } from './simulation.ts'
export type { SimulationInit, SimulationReport, SensorReport } from './simulation.ts'
export { HttpSensor, MqttSensor, causeOf } from './sensors.ts'
export type { SensorCredentials, SimulatedSensor } from './sensors.ts'
export { ProtocolRecorder, percentile, summarise } from './stats.ts'
export type { Protocol, ProtocolSummary, TimeSummary } from './stats.ts'
export { ReadingSource, seededRandom } from './readings.ts'
export type { Reading } from './readings.ts'
export { assignSensors, readSensorsFile, registerSensors, sensorIds, writeSensorsFile } from './sensors-file.ts'
export type { SensorEntry } from './sensors-file.ts'
export { formatDuration, formatProgress, formatTable } from './format.ts'
export type { ProgressSnapshot } from './format.ts'
