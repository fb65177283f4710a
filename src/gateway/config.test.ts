import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../core/index.ts'
import { DEFAULTS, advertisedHost, parseGatewayConfig } from './config.ts'

describe('gateway configuration', () => {
  it('has defaults, and flags beat environment beat the config file', () => {
    assert.deepEqual(parseGatewayConfig([], {}).listen, DEFAULTS.listen)
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    const file = join(dir, 'c.json')
    writeFileSync(file, JSON.stringify({ ca: 'http://file', bootstrap: ['/ip4/1.2.3.4/tcp/1'], 'crl-interval': 5, adminPort: 7 }))
    const fromFile = parseGatewayConfig(['--config', file], {})
    assert.equal(fromFile.ca, 'http://file')
    assert.equal(fromFile.crlInterval, 5)
    assert.equal(fromFile.adminPort, 7)
    const fromEnv = parseGatewayConfig([], { GATEMESH_CONFIG: file, GATEMESH_CA: 'http://env', GATEMESH_BOOTSTRAP: '/ip4/1.1.1.1/tcp/1,/ip4/2.2.2.2/tcp/2' })
    assert.equal(fromEnv.ca, 'http://env')
    assert.deepEqual(fromEnv.bootstrap, ['/ip4/1.1.1.1/tcp/1', '/ip4/2.2.2.2/tcp/2'])
    const fromFlags = parseGatewayConfig(['--config', file, '--ca', 'http://flag', '--bootstrap', '/ip4/9.9.9.9/tcp/9', '--bootstrap', '/ip4/8.8.8.8/tcp/8', '--services', 'collector,stream'], { GATEMESH_CA: 'http://env' })
    assert.equal(fromFlags.ca, 'http://flag')
    assert.deepEqual(fromFlags.bootstrap, ['/ip4/9.9.9.9/tcp/9', '/ip4/8.8.8.8/tcp/8'])
    assert.deepEqual(fromFlags.services, ['collector', 'stream'])
  })

  it('takes the service ports and their bind address', () => {
    const defaults = parseGatewayConfig([], {})
    assert.equal(defaults.host, '127.0.0.1')
    assert.deepEqual([defaults.httpPort, defaults.mqttPort, defaults.accessPort], [0, 0, 0])
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    const file = join(dir, 'ports.json')
    writeFileSync(file, JSON.stringify({ httpPort: 8080, 'mqtt-port': 1883 }))
    const c = parseGatewayConfig(['--config', file, '--host', '0.0.0.0', '--access-port', '8081'], { GATEMESH_MQTT_PORT: '1884' })
    assert.deepEqual([c.host, c.httpPort, c.mqttPort, c.accessPort], ['0.0.0.0', 8080, 1884, 8081])
  })

  it('takes the public host that advertised URLs carry; without it a wildcard --host advertises 127.0.0.1', () => {
    const defaults = parseGatewayConfig([], {})
    assert.equal(defaults.publicHost, undefined)
    assert.equal(advertisedHost(defaults), '127.0.0.1')
    assert.equal(advertisedHost(parseGatewayConfig(['--host', '10.0.0.5'], {})), '10.0.0.5')
    assert.equal(advertisedHost(parseGatewayConfig(['--host', '0.0.0.0'], {})), '127.0.0.1')
    assert.equal(advertisedHost(parseGatewayConfig(['--host', '::'], {})), '127.0.0.1')
    const flag = parseGatewayConfig(['--host', '0.0.0.0', '--public-host', 'gw1.example.net'], {})
    assert.equal(advertisedHost(flag), 'gw1.example.net')
    assert.equal(advertisedHost(parseGatewayConfig([], { GATEMESH_PUBLIC_HOST: '203.0.113.7' })), '203.0.113.7')
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ publicHost: '2001:db8::7' }))
    assert.equal(parseGatewayConfig(['--config', join(dir, 'c.json')], {}).publicHost, '2001:db8::7')
    for (const bad of ['', '0.0.0.0', '::', 'http://gw1.example.net', 'gw1.example.net:8080', 'two words', '-gw.example.net', 'gw_1.example.net', 'fe80::1%x', 'fe80::1%25eth0', 'fe80::1%eth0']) {
      assert.throws(() => parseGatewayConfig(['--public-host', bad], {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), bad)
    }
    // every host it takes makes a valid URL that names that host
    for (const good of ['gw1.example.net', 'gw1.example.net.', '203.0.113.7', '2001:db8::7', '::ffff:192.0.2.1', 'fe80::1']) {
      const host = advertisedHost(parseGatewayConfig(['--public-host', good], {}))
      assert.equal(new URL(`http://${host.includes(':') ? `[${host}]` : host}:8080/`).port, '8080', good)
    }
    // a --host with a zone id binds, but only --public-host can be advertised for it
    assert.throws(() => parseGatewayConfig(['--host', 'fe80::1%lo'], {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'))
    assert.equal(advertisedHost(parseGatewayConfig(['--host', 'fe80::1%lo', '--public-host', 'gw1.example.net'], {})), 'gw1.example.net')
  })

  it('takes the admin bind address, default 127.0.0.1 [ADM-1]', () => {
    assert.equal(parseGatewayConfig([], {}).adminHost, '127.0.0.1')
    assert.equal(parseGatewayConfig(['--admin-host', '0.0.0.0'], {}).adminHost, '0.0.0.0')
    assert.equal(parseGatewayConfig([], { GATEMESH_ADMIN_HOST: '10.1.2.3' }).adminHost, '10.1.2.3')
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ adminHost: '::' }))
    assert.equal(parseGatewayConfig(['--config', join(dir, 'c.json')], {}).adminHost, '::')
    for (const bad of ['', 'not a host', 'http://127.0.0.1', '127.0.0.1:9464']) {
      assert.throws(() => parseGatewayConfig(['--admin-host', bad], {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), bad)
    }
  })

  it('takes the number of sealing threads, default left to the collector', () => {
    assert.equal(parseGatewayConfig([], {}).sealWorkers, undefined)
    assert.equal(parseGatewayConfig(['--seal-workers', '0'], {}).sealWorkers, 0)
    assert.equal(parseGatewayConfig([], { GATEMESH_SEAL_WORKERS: '3' }).sealWorkers, 3)
  })

  it('takes the persistence settings: engine, InfluxDB, R, W and the bounds [PER-3] [PER-5] [PER-20]', () => {
    const defaults = parseGatewayConfig([], {})
    assert.equal(defaults.persistenceEngine, 'sqlite')
    assert.equal(defaults.replicas, 3)
    assert.equal(defaults.writeQuorum, 2)
    assert.equal(defaults.outboxMaxBytes, 1024 ** 3)
    assert.equal(defaults.persistenceMaxBytes, undefined)
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ influxDatabase: 'hist', 'influx-password': 'from-file' }))
    const c = parseGatewayConfig(['--persistence-engine', 'influxdb', '--influx-url', 'http://127.0.0.1:8086', '--replicas', '5', '--write-quorum', '3', '--config', join(dir, 'c.json')],
      { GATEMESH_INFLUX_USERNAME: 'u', GATEMESH_OUTBOX_MAX_BYTES: '2097152', GATEMESH_PERSISTENCE_MAX_BYTES: '4194304' })
    assert.deepEqual([c.persistenceEngine, c.influxUrl, c.influxDatabase, c.influxUsername, c.influxPassword, c.replicas, c.writeQuorum, c.outboxMaxBytes, c.persistenceMaxBytes],
      ['influxdb', 'http://127.0.0.1:8086', 'hist', 'u', 'from-file', 5, 3, 2097152, 4194304])
    // W defaults to at most R
    assert.equal(parseGatewayConfig(['--replicas', '1'], {}).writeQuorum, 1)
  })

  it('takes the repair settings: intervals of repair rounds and retention sweeps, 0 = no storage limit [PER-30] [PER-41] [PER-42]', () => {
    const defaults = parseGatewayConfig([], {})
    assert.equal(defaults.repairInterval, 60_000)
    assert.equal(defaults.retentionSweepInterval, 3_600_000)
    const c = parseGatewayConfig(['--repair-interval', '2000', '--persistence-max-bytes', '0'], { GATEMESH_RETENTION_SWEEP_INTERVAL: '500' })
    assert.deepEqual([c.repairInterval, c.retentionSweepInterval, c.persistenceMaxBytes], [2000, 500, undefined])
    for (const argv of [['--repair-interval', '10'], ['--retention-sweep-interval', 'hourly'], ['--repair-interval', String(8 * 24 * 3_600_000)], ['--persistence-max-bytes', '1000']]) {
      assert.throws(() => parseGatewayConfig(argv, {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
  })

  it('takes the stream settings: MQTT and WebSocket ports, the persistent session bound [STR-5] [STR-16]', () => {
    const defaults = parseGatewayConfig([], {})
    assert.deepEqual([defaults.streamPort, defaults.streamWsPort, defaults.streamSessionMax], [0, 0, 1000])
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ streamSessionMax: 50, 'stream-ws-port': 9001 }))
    const c = parseGatewayConfig(['--stream-port', '1884', '--config', join(dir, 'c.json')], { GATEMESH_STREAM_WS_PORT: '9002' })
    assert.deepEqual([c.streamPort, c.streamWsPort, c.streamSessionMax], [1884, 9002, 50])
    assert.equal(parseGatewayConfig([], { GATEMESH_STREAM_SESSION_MAX: '7' }).streamSessionMax, 7)
    // [STR-48]
    assert.deepEqual([defaults.streamSessionExpiry, defaults.streamSessionsPerUser], [86_400_000, 16])
    const sessions = parseGatewayConfig(['--stream-session-expiry', '60000'], { GATEMESH_STREAM_SESSIONS_PER_USER: '4' })
    assert.deepEqual([sessions.streamSessionExpiry, sessions.streamSessionsPerUser], [60_000, 4])
    for (const argv of [['--stream-session-expiry', '999'], ['--stream-session-expiry', String(31 * 86_400_000)], ['--stream-sessions-per-user', '0'], ['--stream-sessions-per-user', '1001'], ['--stream-session-expiry', '1d']]) {
      assert.throws(() => parseGatewayConfig(argv, {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
    for (const argv of [['--stream-port', '65536'], ['--stream-ws-port', 'ws'], ['--stream-session-max', '0'], ['--stream-session-max', '1000001']]) {
      assert.throws(() => parseGatewayConfig(argv, {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
  })

  it('takes the latest publisher interval, 50 ms to 1 h [COL-20]', () => {
    assert.equal(parseGatewayConfig([], {}).latestInterval, 1000)
    assert.equal(parseGatewayConfig(['--latest-interval', '250'], {}).latestInterval, 250)
    assert.equal(parseGatewayConfig([], { GATEMESH_LATEST_INTERVAL: '5000' }).latestInterval, 5000)
    for (const argv of [['--latest-interval', '49'], ['--latest-interval', '3600001'], ['--latest-interval', '1s']]) {
      assert.throws(() => parseGatewayConfig(argv, {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
  })

  it('takes the gateway\'s latest put budget, 1 to 10 000 a second [COL-20]', () => {
    assert.equal(parseGatewayConfig([], {}).latestRate, 10)
    assert.equal(parseGatewayConfig(['--latest-rate', '40'], {}).latestRate, 40)
    assert.equal(parseGatewayConfig([], { GATEMESH_LATEST_RATE: '2' }).latestRate, 2)
    for (const argv of [['--latest-rate', '0'], ['--latest-rate', '10001'], ['--latest-rate', '5/s']]) {
      assert.throws(() => parseGatewayConfig(argv, {}), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
  })

  it('refuses bad configuration with GM_ERR_GATEWAY_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'bad.json'), '{not json')
    writeFileSync(join(dir, 'unknown.json'), '{"colour":"blue"}')
    writeFileSync(join(dir, 'array.json'), '[1]')
    const cases: Array<[string[], NodeJS.ProcessEnv]> = [
      [['--services', 'miner'], {}], [['--admin-port', '70000'], {}], [['--crl-interval', '1.5'], {}], [['--ca', 'mailto:x'], {}],
      [['--nope'], {}], [['positional'], {}], [['--config', join(dir, 'bad.json')], {}], [['--config', join(dir, 'unknown.json')], {}],
      [['--config', join(dir, 'array.json')], {}], [['--config', join(dir, 'absent.json')], {}], [[], { GATEMESH_REPUBLISH_INTERVAL: 'soon' }],
      [['--http-port', '65536'], {}], [['--mqtt-port', '-1'], {}], [[], { GATEMESH_ACCESS_PORT: 'eighty' }], [['--host', 'not a host'], {}], [['--host', ''], {}],
      [['--seal-workers', '65'], {}], [[], { GATEMESH_SEAL_WORKERS: 'many' }],
      [['--persistence-engine', 'mysql'], {}], [['--persistence-engine', 'influxdb'], {}], [['--influx-url', 'ftp://x'], {}],
      [['--replicas', '0'], {}], [['--replicas', '17'], {}], [['--replicas', '2', '--write-quorum', '3'], {}], [[], { GATEMESH_WRITE_QUORUM: 'two' }],
      [['--outbox-max-bytes', '1000'], {}], [['--persistence-max-bytes', '-5'], {}]
    ]
    for (const [argv, env] of cases) {
      assert.throws(() => parseGatewayConfig(argv, env), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG'), argv.join(' '))
    }
  })

  it('checks --bootstrap, --listen and --announce are multiaddrs, from flags, environment and file, before anything starts', () => {
    const good = parseGatewayConfig(['--bootstrap', '/ip4/203.0.113.10/tcp/4001', '--bootstrap', '/dns4/gw1.example.net/tcp/4001/p2p/12D3KooWNx7vgxx7bm4qS1yMsSfpXvDJWNJ5Ls88wWvvU1U6n4py', '--announce', '/ip4/203.0.113.11/tcp/4001'], {})
    assert.deepEqual(good.bootstrap, ['/ip4/203.0.113.10/tcp/4001', '/dns4/gw1.example.net/tcp/4001/p2p/12D3KooWNx7vgxx7bm4qS1yMsSfpXvDJWNJ5Ls88wWvvU1U6n4py'])
    const dir = mkdtempSync(join(tmpdir(), 'gm-config-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ bootstrap: ['/ip4/203.0.113.10/tcp/4001', 'gw1.example.net:4001'] }))
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['--bootstrap', '127.0.0.1:4001'], {}, '127.0.0.1:4001'],
      [['--bootstrap', '/ip4/999.0.0.1/tcp/4001'], {}, '/ip4/999.0.0.1/tcp/4001'],
      [[], { GATEMESH_BOOTSTRAP: '/ip4/203.0.113.10/tcp/4001,tcp://203.0.113.11:4001' }, 'tcp://203.0.113.11:4001'],
      [['--config', join(dir, 'c.json')], {}, 'gw1.example.net:4001'],
      [['--listen', '0.0.0.0:4001'], {}, '0.0.0.0:4001'],
      [['--announce', '/ip4/203.0.113.10/tcp/70000'], {}, '/ip4/203.0.113.10/tcp/70000']
    ]
    for (const [argv, env, named] of cases) {
      assert.throws(() => parseGatewayConfig(argv, env), err => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG') && err.message.includes(`'${named}' is not a multiaddr`), named)
    }
  })
})
