/**
 * V8's allocation-site pretenuring, turned off for the whole process: a collector does so when
 * it starts (collector.ts). V8 moves an allocation site's objects straight to the old generation
 * once most of them survive a scavenge. At the start of a load it did so, in about half the runs,
 * for some site on the readings' path (not identified; not the seal pool's queue entries, which
 * were tried as class instances). Each such object, dead but in the old generation until the next
 * full GC, kept the young closures, contexts and promises it pointed to alive through every
 * scavenge. At 5 000 PUBACKs/s the event loop's isolate then promoted 250-400 KB per scavenge
 * (5 KB otherwise) and ran mark-compacts of 12-20 ms, which land in the PUBACK tail. With the flag
 * off, 15 runs of 15 promoted 4-5 KB per scavenge and ran no mark-compact (--trace-gc-nvp with
 * bench/ingest.ts --puback-at 5000). Still paying on 2026-12-06: with pretenuring back on after
 * the collector's start, 5 interleaved pairs of --puback-at 5000 had a PUBACK p99 of 9.4-16.3 ms
 * and 1-5 full GCs (the longest 12-17 ms) a 5 s phase, against 5.0-7.9 ms and none
 * (docs/PERFORMANCE.md). V8 reads the flag at each scavenge, so setting it at run time works.
 */
import { setFlagsFromString } from 'node:v8'

export function turnOffPretenuring (): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}
