import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isGatemeshError, utf8 } from '../../core/index.ts'
import { MAX_READING_DEPTH, batchSpans, checkReading, nestsDeeperThan, readingsOfBody } from './reading-text.ts'

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
const refused = (code: `GM_ERR_${string}`) => (err: unknown) => isGatemeshError(err, code)

describe('reading text [COL-18]', () => {
  it('counts nesting outside strings only', () => {
    const deep = '['.repeat(70) + ']'.repeat(70)
    assert.equal(nestsDeeperThan(utf8(deep), 69), true)
    assert.equal(nestsDeeperThan(utf8(deep), 70), false)
    const inString = JSON.stringify({ s: '[[[[[[[[[[\\"[[[[[[[[[[' })
    assert.equal(nestsDeeperThan(utf8(inString), 1), false)
    assert.equal(nestsDeeperThan(utf8('{"a\\\\":[[1]]}'), 2), true)
  })

  it('refuses what is not one reading', () => {
    for (const bad of ['', '{"a":1', '1 2', '\ufeff{}', '{"__proto__":{"x":1}}', '{"a":[{"\\u005f_proto__":1}]}', '{"constructor":{"prototype":{}}}']) {
      assert.throws(() => { checkReading(utf8(bad)) }, refused('GM_ERR_READING_MALFORMED'), JSON.stringify(bad))
    }
    assert.throws(() => { checkReading(Uint8Array.from([0x22, 0xff, 0x22])) }, refused('GM_ERR_READING_MALFORMED'))
    assert.throws(() => { checkReading(utf8('['.repeat(MAX_READING_DEPTH + 1) + ']'.repeat(MAX_READING_DEPTH + 1))) }, refused('GM_ERR_READING_MALFORMED'))
    assert.throws(() => { checkReading(utf8(JSON.stringify('x'.repeat(70_000)))) }, refused('GM_ERR_READING_TOO_LARGE'))
    for (const good of ['0', ' "é" ', '{"constructor":1,"proto":{}}', '[' + '{"a":'.repeat(10) + '1' + '}'.repeat(10) + ']']) checkReading(utf8(good))
  })

  it('finds the elements of a batch, and only of a batch', () => {
    const spans = (body: string): string[] | undefined => batchSpans(utf8(body))?.map(([s, e]) => text(utf8(body).subarray(s, e)))
    assert.deepEqual(spans('{"readings":[1,"a,]",{"b":[2]}, null ,-0.5e3]}'), ['1', '"a,]"', '{"b":[2]}', 'null', '-0.5e3'])
    assert.deepEqual(spans('\n{ "readings" :\t[ ] }\r\n'), [])
    assert.deepEqual(spans('{"read\\u0069ngs":[true]}'), ['true'])
    assert.deepEqual(spans('{"readings":["\\"]",[["]"]]]}'), ['"\\"]"', '[["]"]]'])
    for (const single of ['[1]', '{}', '{"readings":1}', '{"readings":[1],"x":2}', '{"x":2,"readings":[1]}', '{"readings":[1],"readings":[2]}', '{"Readings":[1]}', '"readings"']) {
      assert.equal(spans(single), undefined, single)
    }
  })

  it('takes an HTTP body as one reading or a batch, bounding each reading', () => {
    assert.deepEqual(readingsOfBody(utf8(' [1] '), 1024).map(text), [' [1] '])
    assert.deepEqual(readingsOfBody(utf8('{"readings":[ [1] , 2]}'), 1024).map(text), ['[1]', '2'])
    const deep = '['.repeat(MAX_READING_DEPTH) + ']'.repeat(MAX_READING_DEPTH)
    assert.deepEqual(readingsOfBody(utf8(`{"readings":[${deep}]}`), 1024).map(text), [deep])
    assert.throws(() => readingsOfBody(utf8(`{"readings":[[${deep}]]}`), 1024), refused('GM_ERR_READING_MALFORMED'))
    assert.throws(() => readingsOfBody(utf8(`{"readings":[1,${JSON.stringify('x'.repeat(70_000))}]}`), 1 << 20), refused('GM_ERR_READING_TOO_LARGE'))
    assert.throws(() => readingsOfBody(utf8('{"readings":[{"__proto__":1}]}'), 1024), refused('GM_ERR_READING_MALFORMED'))
  })
})
