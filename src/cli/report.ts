/**
 * How a user command fails [ACS-15]: one line on standard error, `gatemesh <command>: <message>
 * (<code>)`, then, where the error alone does not say what to do, a line that does; the usage
 * text follows a usage error only. Exit status 2 for a usage error, 1 for any other failure.
 * Every user command (signup, login, sensor, read, token, watch) ends its failures here.
 */
import type { GatemeshError } from '../core/index.ts'

/** What to do next, on the line after the error, where the error alone does not say. */
const HINTS: Record<string, string> = {
  GM_ERR_CLIENT_GATEWAY_URL: 'A gateway URL is http://HOST:PORT (or https://), as the gateway prints it when it starts.',
  GM_ERR_CLIENT_UNREACHABLE: 'Is the gateway running? --gateway URL uses another for this command; log in again to save one.',
  GM_ERR_CLIENT_SENSOR_EXISTS: "'gatemesh sensor share|revoke ID PSEUDONYM' change who may read it; its credential was shown once, when it was added.",
  GM_ERR_CLIENT_CA_MISMATCH: 'This gateway belongs to another network than the CA you pinned: use a gateway of your network (--gateway URL), or log in again (with --ca-cert FILE) if your network changed its CA.',
  GM_ERR_CLIENT_READING_UNAUTHENTIC: 'No collector certified by your network sealed this reading: it was not shown. Try another gateway (--gateway URL) and tell the network\'s operator.',
  GM_ERR_HISTORY_TAMPERED: 'Every replica asked served a page that failed verification: nothing past the last reading printed is trusted. Tell the network\'s operator.',
  GM_ERR_HISTORY_INCOMPLETE: 'Every replica asked withheld readings or checkpoints of this range. Tell the network\'s operator, or try again later.',
  GM_ERR_HISTORY_NO_REPLICA: 'No persistence peer holding this sensor answered; try again shortly, or another gateway (--gateway URL).',
  GM_ERR_HISTORY_UNAVAILABLE: 'This gateway does not reach the persistence service: use another gateway (--gateway URL).',
  GM_ERR_CLIENT_READING_MISMATCH: 'The gateway served a reading of another sensor: it was not shown. Try another gateway (--gateway URL) and tell the network\'s operator.',
  GM_ERR_SENSOR_NOT_FOUND: "'gatemesh sensor list' shows the sensors you own and those shared with you; 'gatemesh sensor add ID' binds a new one.",
  GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED: "'gatemesh sensor list' shows the sensors you may read; a sensor's owner lets you read it with 'gatemesh sensor share ID PSEUDONYM'."
}

/** Writes the failure as above; returns the exit status. */
export function reportFailure (command: string, err: GatemeshError, usage: string): number {
  const hint = HINTS[err.code]
  // one line, whatever the message holds (node's argument parser writes some over three)
  const message = err.message.replace(/\s*[\r\n]+\s*/g, ' ')
  process.stderr.write(`gatemesh ${command}: ${message} (${err.code})\n${hint === undefined ? '' : `  ${hint}\n`}`)
  if (err.code !== 'GM_ERR_CLI_USAGE') return 1
  process.stderr.write(`\n${usage}`)
  return 2
}
