/**
 * What the user commands keep between runs, and how they get the password. The home directory
 * (mode 0700) holds one file, `session.json` (mode 0600): the gateway URL, the pseudonym, the
 * *sealed* account bundle and the pinned CA certificate of the network. Private keys never touch
 * the disk; each command that needs them opens the bundle with the password. [ACS-16] [ACS-17] [ACS-20]
 */
import { access, chmod, constants, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { GatemeshError, fromBase64, isPseudonym, toBase64 } from '../core/index.ts'

export interface SavedSession {
  gateway: string
  pseudonym: string
  bundle: Uint8Array
  /** [ACS-20] The network's CA certificate (DER), pinned at sign-up or log-in; absent in files written before pinning. */
  ca?: Uint8Array
}

const STATE_FILE = 'session.json'

export function homeDirectory (option: string | undefined): string {
  if (option !== undefined && option !== '') return option
  const env = process.env.GATEMESH_HOME
  return env !== undefined && env !== '' ? env : join(homedir(), '.gatemesh')
}

/** A file system failure as a usage error naming the path: --home (or $GATEMESH_HOME) is where it can be fixed. */
function homeError (what: string, path: string, err: unknown): GatemeshError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  return new GatemeshError('GM_ERR_CLI_USAGE', `Cannot ${what} ${path} (${code}): --home DIR (or $GATEMESH_HOME) must name a directory you may read and write.`, { cause: err })
}

/**
 * Makes the home directory (mode 0700) and checks it can be written: `signup` and `login` call it
 * before they ask a gateway anything, so an account is never made that cannot be saved.
 */
export async function prepareHome (home: string): Promise<void> {
  try {
    await mkdir(home, { recursive: true, mode: 0o700 })
    await access(home, constants.W_OK | constants.X_OK)
  } catch (err) {
    throw homeError('use', home, err)
  }
}

export async function saveSession (home: string, session: SavedSession): Promise<string> {
  await prepareHome(home)
  const path = join(home, STATE_FILE)
  const temp = `${path}.${process.pid}.tmp`
  const text = JSON.stringify({
    v: 1, gateway: session.gateway, pseudonym: session.pseudonym, bundle: toBase64(session.bundle), ...(session.ca === undefined ? {} : { ca: toBase64(session.ca) })
  }, null, 2)
  try {
    await writeFile(temp, `${text}\n`, { mode: 0o600 })
    await chmod(temp, 0o600)
    await rename(temp, path)
  } catch (err) {
    throw homeError('write', path, err)
  }
  return path
}

export async function loadSession (home: string): Promise<SavedSession> {
  const path = join(home, STATE_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    // [ACS-16] not a usage error: the command line is right, the session is missing
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GatemeshError('GM_ERR_CLI_NOT_LOGGED_IN', `No session in ${path}: run 'gatemesh signup --gateway URL' or 'gatemesh login --gateway URL --pseudonym P' first.`)
    }
    throw homeError('read', path, err)
  }
  try {
    const saved = JSON.parse(text) as { v?: unknown, gateway?: unknown, pseudonym?: unknown, bundle?: unknown, ca?: unknown }
    if (saved.v !== 1 || typeof saved.gateway !== 'string' || !isPseudonym(saved.pseudonym) || typeof saved.bundle !== 'string') throw new Error('fields')
    if (saved.ca !== undefined && typeof saved.ca !== 'string') throw new Error('ca')
    const session: SavedSession = { gateway: saved.gateway, pseudonym: saved.pseudonym, bundle: fromBase64(saved.bundle) }
    if (typeof saved.ca === 'string') session.ca = fromBase64(saved.ca)
    return session
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', `${path} is damaged; log in again.`, { cause: err })
  }
}

/**
 * [ACS-20] A CA certificate to pin, from `--ca-cert F` or `GATEMESH_CA_CERT` (a file: PEM, as
 * `gatemesh ca init` writes ca.crt, or DER); undefined when neither is given.
 */
export async function readCaCertificate (option: string | undefined): Promise<Uint8Array | undefined> {
  const env = process.env.GATEMESH_CA_CERT
  const file = option ?? (env !== undefined && env !== '' ? env : undefined)
  if (file === undefined) return undefined
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CLI_USAGE', `Cannot read the CA certificate ${file}.`, { cause: err })
  }
  const pem = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(bytes.toString('latin1'))
  if (pem === null) return new Uint8Array(bytes)
  try {
    return fromBase64((pem[1] as string).replace(/\s+/g, ''))
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_CERT_INVALID', `${file} is not a PEM certificate.`, { cause: err })
  }
}

/** Reads a password without echo from the terminal. */
async function prompt (question: string): Promise<string> {
  const stdin = process.stdin
  // Echo off before the question appears, so nothing typed after it is ever shown.
  stdin.setRawMode(true)
  process.stderr.write(question)
  stdin.resume()
  stdin.setEncoding('utf8')
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = ''
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData)
            process.stderr.write('\n')
            resolve(typed)
            return
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            process.stderr.write('\n')
            reject(new GatemeshError('GM_ERR_CLI_USAGE', 'Interrupted.'))
            return
          }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1)
          else typed += ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}

/**
 * The password, from (in order) `--password-file F` (its first line), `GATEMESH_PASSWORD`, or a
 * no-echo prompt on a terminal (asked twice when `confirm`).
 */
export async function readPassword (options: { file?: string, confirm?: boolean }): Promise<string> {
  if (options.file !== undefined) {
    let text: string
    try {
      text = await readFile(options.file, 'utf8')
    } catch (err) {
      throw new GatemeshError('GM_ERR_CLI_USAGE', `Cannot read --password-file ${options.file}.`, { cause: err })
    }
    return text.split(/\r?\n/)[0] ?? ''
  }
  const env = process.env.GATEMESH_PASSWORD
  if (env !== undefined && env !== '') return env
  if (process.stdin.isTTY !== true) {
    throw new GatemeshError('GM_ERR_CLI_USAGE', 'No password: give --password-file F, set GATEMESH_PASSWORD, or run on a terminal.')
  }
  const password = await prompt('password: ')
  if (options.confirm === true && await prompt('again: ') !== password) throw new GatemeshError('GM_ERR_CLI_USAGE', 'The passwords differ.')
  return password
}
