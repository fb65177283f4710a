/** Durations on the command line: the core's parser (isomorphic, shared with the user commands). */
export { formatDuration, parseDuration } from '../core/index.ts'
