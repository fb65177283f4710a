import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { choosesV8PoolSize, chosenV8PoolSize, recommendedV8PoolSize, v8PoolArgs } from './v8-pool.ts'

describe('V8 pool size', () => {
  it('is one helper per core beyond the first, 1 to 4', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 16].map(cores => recommendedV8PoolSize(cores)), [1, 1, 2, 3, 4, 4])
  })

  it('is left alone when the arguments or NODE_OPTIONS choose one', () => {
    assert.equal(choosesV8PoolSize(['--v8-pool-size=2'], ''), true)
    assert.equal(choosesV8PoolSize(['--v8-pool-size', '2'], ''), true)
    assert.equal(choosesV8PoolSize([], '--max-old-space-size=512 --v8-pool-size=3'), true)
    assert.equal(choosesV8PoolSize(['--v8-pool-sizes=2', '--inspect'], '--v8-pool'), false)
    assert.equal(chosenV8PoolSize(['--v8-pool-size=2'], '--v8-pool-size 3'), 2, 'the command line over NODE_OPTIONS')
    assert.equal(chosenV8PoolSize(['--v8-pool-size=2', '--v8-pool-size=3'], ''), 3, 'the last one given')
    assert.equal(chosenV8PoolSize(['--inspect'], ''), undefined)
    assert.deepEqual(v8PoolArgs(['--v8-pool-size=2']), [])
    const saved = process.env.NODE_OPTIONS
    delete process.env.NODE_OPTIONS
    try {
      assert.deepEqual(v8PoolArgs([]), [`--v8-pool-size=${recommendedV8PoolSize()}`])
    } finally {
      if (saved !== undefined) process.env.NODE_OPTIONS = saved
    }
  })
})
