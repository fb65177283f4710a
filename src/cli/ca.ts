/**
 * `gatemesh ca <init|token|serve|revoke|list>`: the certificate authority's command line. Usage
 * errors exit with 2, other failures with 1; every error message ends with its code.
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { GatemeshError, isGatemeshError } from '../core/errors.ts'
import { createLogger } from '../platform/logger.ts'
import { CertificateAuthority, createCaServer, formatDuration, initCa, parseDuration } from '../ca/index.ts'
import { ROLES, isRole } from '../pki/index.ts'
import type { Role } from '../pki/index.ts'

const USAGE = `usage: gatemesh ca <command> [options]

commands:
  init   --dir D [--name NAME] [--validity 30d] [--crl-validity 24h]
         create the CA: an Ed25519 key (mode 0600) and a self-signed root certificate
  token  --dir D --roles collector,access,persistence,stream [--ttl 24h]
         print a one-time enrollment token granting those roles
  serve  --dir D [--host 127.0.0.1] [--port 0] [--validity 30d]
         run the enrollment service; prints 'listening on http://HOST:PORT'
  revoke --dir D PEER_ID
         revoke every certificate of a peer and publish a new CRL
  list   --dir D [--json]
         list issued certificates and enrollment tokens

--dir defaults to $GATEMESH_CA_DIR. Durations: 90s, 30m, 24h, 30d.
`

const OPTIONS: ParseArgsConfig['options'] = {
  dir: { type: 'string' },
  name: { type: 'string' },
  validity: { type: 'string' },
  'crl-validity': { type: 'string' },
  roles: { type: 'string' },
  ttl: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
}

const ALLOWED: Record<string, string[]> = {
  init: ['dir', 'name', 'validity', 'crl-validity'],
  token: ['dir', 'roles', 'ttl'],
  serve: ['dir', 'host', 'port', 'validity'],
  revoke: ['dir'],
  list: ['dir', 'json']
}

type Values = Record<string, string | boolean | undefined>

function usageError (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', detail)
}

function duration (values: Values, name: string): number | undefined {
  const text = values[name]
  if (text === undefined) return undefined
  const ms = typeof text === 'string' ? parseDuration(text) : undefined
  if (ms === undefined) throw usageError(`--${name} must be a duration like 90s, 30m, 24h or 30d.`)
  return ms
}

function directory (values: Values): string {
  const dir = values.dir ?? process.env.GATEMESH_CA_DIR
  if (typeof dir !== 'string' || dir === '') throw usageError('--dir is required (or set GATEMESH_CA_DIR).')
  return dir
}

function parseRoles (text: unknown): Role[] {
  if (typeof text !== 'string' || text === '') throw usageError(`--roles is required: a comma-separated list of ${ROLES.join(', ')}.`)
  const roles = text.split(',').map(role => role.trim())
  for (const role of roles) {
    if (!isRole(role)) throw usageError(`Unknown role '${role}'; roles are ${ROLES.join(', ')}.`)
  }
  return roles as Role[]
}

async function init (values: Values): Promise<number> {
  const dir = directory(values)
  const { certificate } = await initCa({
    dir,
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    certificateValidityMs: duration(values, 'validity'),
    crlValidityMs: duration(values, 'crl-validity')
  })
  process.stdout.write(`CA created in ${dir} (certificate: ${certificate.length} bytes, ${dir}/ca.crt)\n`)
  return 0
}

async function token (values: Values): Promise<number> {
  const roles = parseRoles(values.roles)
  const ttl = duration(values, 'ttl') ?? 24 * 3_600_000
  const authority = await CertificateAuthority.open({ dir: directory(values) })
  try {
    const created = authority.createToken(roles, ttl)
    process.stdout.write(`${created.token}\n`)
    process.stderr.write(`token for roles ${created.roles.join(',')}, valid ${formatDuration(ttl)} until ${created.expiresAt.toISOString()}, usable once\n`)
  } finally {
    authority.close()
  }
  return 0
}

async function serve (values: Values): Promise<number> {
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1'
  const port = values.port === undefined ? 0 : Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError('--port must be an integer from 0 to 65535.')
  const logger = createLogger('ca')
  const authority = await CertificateAuthority.open({ dir: directory(values), certificateValidityMs: duration(values, 'validity'), logger })
  const app = await createCaServer({ authority, logger })
  const stopped = new Promise<void>(resolve => {
    const stop = (): void => { resolve() }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  try {
    await app.listen({ host, port })
    const address = app.server.address()
    const bound = typeof address === 'object' && address !== null ? address.port : port
    const shownHost = host.includes(':') ? `[${host}]` : host
    process.stdout.write(`listening on http://${shownHost}:${bound}\n`)
    await stopped
  } finally {
    await app.close()
    authority.close()
  }
  return 0
}

async function revoke (values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw usageError('revoke takes exactly one PEER_ID.')
  const authority = await CertificateAuthority.open({ dir: directory(values) })
  try {
    const result = await authority.revoke(positionals[0] ?? '')
    const state = result.alreadyRevoked ? 'was already revoked' : 'revoked'
    process.stdout.write(`${result.peerId} ${state}: ${result.serials.length} certificate(s); CRL number ${result.crlNumber}\n`)
  } finally {
    authority.close()
  }
  return 0
}

async function list (values: Values): Promise<number> {
  const authority = await CertificateAuthority.open({ dir: directory(values) })
  try {
    const now = Date.now()
    const certificates = authority.listCertificates().map(cert => ({
      peerId: cert.peerId,
      serial: cert.serial,
      roles: cert.roles,
      notAfter: cert.notAfter.toISOString(),
      status: cert.revokedAt !== undefined ? 'revoked' : cert.notAfter.getTime() < now ? 'expired' : 'valid'
    }))
    const tokens = authority.listTokens().map(entry => ({
      id: entry.hash.slice(0, 12),
      roles: entry.roles,
      expiresAt: entry.expiresAt.toISOString(),
      status: entry.usedAt !== undefined ? `used by ${entry.usedBy ?? '?'}` : entry.expiresAt.getTime() <= now ? 'expired' : 'unused'
    }))
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify({ certificates, tokens }, null, 2)}\n`)
      return 0
    }
    process.stdout.write(`certificates (${certificates.length}):\n`)
    for (const cert of certificates) process.stdout.write(`  ${cert.peerId}  ${cert.serial}  ${cert.roles.join(',')}  until ${cert.notAfter}  ${cert.status}\n`)
    process.stdout.write(`tokens (${tokens.length}):\n`)
    for (const entry of tokens) process.stdout.write(`  ${entry.id}  ${entry.roles.join(',')}  until ${entry.expiresAt}  ${entry.status}\n`)
  } finally {
    authority.close()
  }
  return 0
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  try {
    const allowed = ALLOWED[command]
    if (allowed === undefined) throw usageError(`Unknown command '${command}'.`)
    let parsed
    try {
      parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true })
    } catch (err) {
      throw usageError(err instanceof Error ? err.message : String(err))
    }
    const values = parsed.values as Values
    if (values.help === true) {
      process.stdout.write(USAGE)
      return 0
    }
    const extra = Object.keys(values).filter(name => values[name] !== undefined && !allowed.includes(name))
    if (extra.length > 0) throw usageError(`'ca ${command}' does not take --${extra.join(', --')}.`)
    if (command !== 'revoke' && parsed.positionals.length > 0) throw usageError(`Unexpected argument '${parsed.positionals[0]}'.`)
    switch (command) {
      case 'init': return await init(values)
      case 'token': return await token(values)
      case 'serve': return await serve(values)
      case 'revoke': return await revoke(values, parsed.positionals)
      default: return await list(values)
    }
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    process.stderr.write(`gatemesh ca: ${err.message} (${err.code})\n`)
    if (err.code === 'GM_ERR_CLI_USAGE') {
      process.stderr.write(`\n${USAGE}`)
      return 2
    }
    return 1
  }
}
