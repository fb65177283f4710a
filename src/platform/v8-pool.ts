/**
 * The size of V8's platform thread pool (Node's `--v8-pool-size`): the threads that help the
 * garbage collector and compile in the background, 4 by default whatever the machine. A gateway
 * already keeps its cores busy with the event loop and the sealing threads; on a 2-core machine
 * the 4 helpers only compete with them for a core. With one, the MQTT PUBACK p99 at 5 000
 * readings/s was 6.4 ms against 7.2, and 7.1 against 9.3 in a later comparison (medians of 3 and
 * 4 interleaved 15 s runs), and the gateway used ~6 % less CPU (docs/PERFORMANCE.md). This is a
 * process flag: it has to be given when Node starts, so the launchers that start gateways (the
 * demo network, the benchmarks) pass it.
 */
import { availableParallelism } from 'node:os'

/** One helper per core beyond the first, 1 to 4 (Node's default is 4). */
export function recommendedV8PoolSize (cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, cores - 1))
}

/**
 * The pool size these Node arguments or NODE_OPTIONS choose, if any: the last one given, and the
 * command line's over NODE_OPTIONS, as Node itself reads them.
 */
export function chosenV8PoolSize (execArgv: readonly string[], nodeOptions = process.env.NODE_OPTIONS ?? ''): number | undefined {
  const args = [...nodeOptions.split(/\s+/), ...execArgv]
  let chosen: number | undefined
  for (const [i, arg] of args.entries()) {
    if (arg === '--v8-pool-size') chosen = Number(args[i + 1])
    else if (arg.startsWith('--v8-pool-size=')) chosen = Number(arg.slice('--v8-pool-size='.length))
  }
  return chosen
}

/** Whether these Node arguments (or NODE_OPTIONS) already choose a pool size. */
export function choosesV8PoolSize (execArgv: readonly string[], nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return chosenV8PoolSize(execArgv, nodeOptions) !== undefined
}

/** The Node arguments that give a process started now the recommended pool, unless `execArgv` chooses one. */
export function v8PoolArgs (execArgv: readonly string[] = []): string[] {
  return choosesV8PoolSize(execArgv) ? [] : [`--v8-pool-size=${recommendedV8PoolSize()}`]
}
