import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createLogger } from './logger.ts'

/** Fields that carry secrets somewhere in gatemesh: what must never reach a log line. */
const SECRET_FIELDS = [
  'password', 'passphrase', 'token', 'secret', 'credential', 'key', 'privateKey', 'signingKey', 'agreementKey',
  'seed', 'signingSeed', 'agreementSecret', 'bundle', 'plaintext'
]

describe('logger', () => {
  const dirs: string[] = []
  after(async () => { await Promise.all(dirs.map(async dir => { await rm(dir, { recursive: true, force: true }) })) })

  async function logged (write: (logger: ReturnType<typeof createLogger>) => void): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'gm-logger-'))
    dirs.push(dir)
    const file = join(dir, 'log.jsonl')
    const logger = createLogger('test:logger', { level: 'info', destination: file })
    write(logger)
    await new Promise<void>((resolve, reject) => { logger.flush(err => { if (err !== undefined && err !== null) reject(err); else resolve() }) })
    return await readFile(file, 'utf8')
  }

  it('redacts secret-bearing fields at the top level and one level down, keeps the rest', async () => {
    const secret = 'S3CRET-VALUE'
    const fields = Object.fromEntries(SECRET_FIELDS.map(name => [name, `${secret}-${name}`]))
    const text = await logged(logger => {
      logger.info({ ...fields, sensor: 'greenhouse-7' }, 'top level')
      logger.warn({ user: { seed: secret, bundle: secret, name: 'alice' }, headers: { authorization: secret } }, 'nested')
    })
    assert.ok(!text.includes(secret), `a secret reached the log:\n${text}`)
    const [top, nested] = text.trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>)
    assert.equal(top?.sensor, 'greenhouse-7')
    for (const name of SECRET_FIELDS) assert.equal(top?.[name], '[redacted]', name)
    assert.deepEqual(nested?.user, { seed: '[redacted]', bundle: '[redacted]', name: 'alice' })
    assert.deepEqual(nested?.headers, { authorization: '[redacted]' })
  })
})
