#!/usr/bin/env node
// gatemesh runs its TypeScript sources directly, which needs Node 24. Through npm (`npx gatemesh`,
// `npm run ...`) the project's pinned Node 24 is first on PATH; elsewhere this says what to do.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`gatemesh needs Node 24 or newer (this is ${process.version}); run it as 'npx gatemesh' inside the project.\n`)
  process.exit(1)
}
const { run } = await import('../src/cli/main.ts')
process.exitCode = await run(process.argv.slice(2))
