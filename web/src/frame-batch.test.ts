import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { batchPerFrame } from './frame-batch.ts'
import type { FrameClock } from './frame-batch.ts'

/** A clock whose frames the test fires. */
function fakeClock (): FrameClock & { frame: () => void, pending: () => number } {
  let next = 1
  const callbacks = new Map<number, () => void>()
  return {
    request: callback => { callbacks.set(next, callback); return next++ },
    cancel: handle => { callbacks.delete(handle) },
    frame: () => {
      const due = [...callbacks.values()]
      callbacks.clear()
      for (const callback of due) callback()
    },
    pending: () => callbacks.size
  }
}

describe('batchPerFrame (the live view draws at most once per frame)', () => {
  it('runs once at the next frame however many requests came meanwhile', () => {
    const clock = fakeClock()
    let runs = 0
    const batch = batchPerFrame(() => { runs++ }, clock)
    for (let i = 0; i < 100; i++) batch.request()
    assert.equal(runs, 0, 'nothing runs before the frame')
    assert.equal(clock.pending(), 1, 'one frame asked for')
    clock.frame()
    assert.equal(runs, 1)
    clock.frame()
    assert.equal(runs, 1, 'no request, no run')
    batch.request()
    batch.request()
    clock.frame()
    assert.equal(runs, 2)
  })

  it('runs nothing once stopped', () => {
    const clock = fakeClock()
    let runs = 0
    const batch = batchPerFrame(() => { runs++ }, clock)
    batch.request()
    batch.stop()
    batch.request()
    clock.frame()
    assert.equal(runs, 0)
    assert.equal(clock.pending(), 0)
  })
})
