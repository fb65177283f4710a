/**
 * Work asked for any number of times between two frames runs once, at the next animation frame:
 * a live view draws (uPlot `setData`, the table) at most once per frame however fast readings come.
 */
export interface FrameBatch {
  /** Asks for a run at the next frame (one run, however many asks). */
  request: () => void
  /** Drops a pending run; later requests are ignored. */
  stop: () => void
}

export interface FrameClock {
  request: (callback: () => void) => number
  cancel: (handle: number) => void
}

const animationFrames: FrameClock = {
  request: callback => requestAnimationFrame(() => { callback() }),
  cancel: handle => { cancelAnimationFrame(handle) }
}

export function batchPerFrame (run: () => void, clock: FrameClock = animationFrames): FrameBatch {
  let pending: number | undefined
  let stopped = false
  return {
    request: () => {
      if (stopped || pending !== undefined) return
      pending = clock.request(() => {
        pending = undefined
        if (!stopped) run()
      })
    },
    stop: () => {
      stopped = true
      if (pending !== undefined) clock.cancel(pending)
      pending = undefined
    }
  }
}
