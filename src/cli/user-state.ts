/**
 * What the user commands keep between runs, and how they get the password. The home directory
 * (mode 0700) holds one file, `session.json` (mode 0600): the gateway URL, the pseudonym, the
 * *sealed* account bundle and the pinned CA certificate of the network. Private keys never touch
 * the disk; each command that needs them opens the bundle with the password. [ACS-16] [ACS-17] [ACS-20]
 */
import { rmSync, rmdirSync } from 'node:fs'
import { access, chmod, constants, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
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

/** What `prepareHome` made, so that a `signup` or `login` that fails can take it away again. */
export interface PreparedHome {
  /**
   * [ACS-16] Removes what this command made and nothing else: a session file it was writing,
   * then each directory `prepareHome` created, deepest first, while it is empty. A directory or
   * file that was there before the command (another session, a folder the user made) stays.
   * Synchronous, so that a signal handler can run it whole before the process exits.
   */
  undo: () => void
}

/**
 * The directories a recursive mkdir of `home` created, deepest first: `home` up to `first` (the
 * first one created, as mkdir answers). None when `first` is not `home` or one of its parents.
 */
function createdDirectories (home: string, first: string | undefined): string[] {
  if (first === undefined) return []
  const top = resolve(first)
  const chain: string[] = []
  for (let dir = resolve(home); ; dir = dirname(dir)) {
    chain.push(dir)
    if (dir === top) return chain
    if (dirname(dir) === dir) return []
  }
}

/** This process's half-written session file (renamed into place once whole). */
function tempPath (home: string): string {
  return `${join(home, STATE_FILE)}.${process.pid}.tmp`
}

function removeCreated (home: string, first: string | undefined): void {
  try {
    rmSync(tempPath(home), { force: true })
  } catch {
    // left where it is: undoing must never hide the failure that called for it
  }
  for (const dir of createdDirectories(home, first)) {
    // rmdir, never a recursive rm: a directory that is not empty holds something this command did not make
    try {
      rmdirSync(dir)
    } catch {
      return
    }
  }
}

/**
 * Makes the home directory (mode 0700) and checks it can be written: `signup` and `login` call it
 * before they ask a gateway anything, so an account is never made that cannot be saved. What it
 * made is undone by the answer's `undo` when the command fails.
 */
export async function prepareHome (home: string): Promise<PreparedHome> {
  let first: string | undefined
  try {
    first = await mkdir(home, { recursive: true, mode: 0o700 })
    await access(home, constants.W_OK | constants.X_OK)
  } catch (err) {
    removeCreated(home, first)
    throw homeError('use', home, err)
  }
  return { undo: () => { removeCreated(home, first) } }
}

export async function saveSession (home: string, session: SavedSession): Promise<string> {
  await prepareHome(home)
  const path = join(home, STATE_FILE)
  const temp = tempPath(home)
  const text = JSON.stringify({
    v: 1, gateway: session.gateway, pseudonym: session.pseudonym, bundle: toBase64(session.bundle), ...(session.ca === undefined ? {} : { ca: toBase64(session.ca) })
  }, null, 2)
  try {
    await writeFile(temp, `${text}\n`, { mode: 0o600 })
    await chmod(temp, 0o600)
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true }).catch(() => {})
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
