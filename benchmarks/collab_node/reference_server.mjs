// The reference y-websocket server, @y/websocket-server 0.1.1's own src/server.js run unchanged
// (HOST and PORT from the environment), for benchmarks/collab.py.
//
// Why this wrapper: server.js's utils.js imports `y-leveldb` statically, an optional dependency
// that scripts/install-test-deps.sh leaves out (`npm ci --omit=optional`: it pulls a native
// LevelDB build), so the server cannot even load as installed. It is only ever used when
// YPERSISTENCE is set, which this benchmark never sets (no server persists here). The hook below
// answers that one import with a module whose constructor refuses. And server.js does
// `import WebSocket from 'ws'; new WebSocket.Server(...)`, written for ws 6 (its optional
// dependency, also left out), whose default export is CommonJS' module.exports; the installed
// ws 8's ESM wrapper has no `.Server` on its default: server.js gets ws 8's CommonJS entry,
// which still has it (the same API). Nothing else changes.
import { register } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'

if (process.env.YPERSISTENCE) {
  throw new Error('YPERSISTENCE is set: install y-leveldb (npm ci without --omit=optional) to persist')
}
const here = path.dirname(fileURLToPath(import.meta.url))
const modules = path.resolve(here, '../../tests/collab/node/node_modules')
const wsCommonJs = path.join(modules, 'ws/index.js')
const absent = 'data:text/javascript,' + encodeURIComponent(
  'export class LeveldbPersistence { constructor () { throw new Error("y-leveldb is not installed") } }'
)
const hooks = `
export async function resolve (specifier, context, next) {
  if (specifier === 'y-leveldb') return { url: ${JSON.stringify(absent)}, shortCircuit: true }
  if (specifier === 'ws' && context.parentURL && context.parentURL.includes('/@y/websocket-server/')) {
    return { url: ${JSON.stringify(pathToFileURL(wsCommonJs).href)}, shortCircuit: true }
  }
  return next(specifier, context)
}`
register('data:text/javascript,' + encodeURIComponent(hooks), import.meta.url)

const server = path.join(modules, '@y/websocket-server/src/server.js')
await import(pathToFileURL(server).href)
