// The load generator of benchmarks/collab.py: N real Yjs clients (yjs 13 + y-websocket's
// WebsocketProvider over `ws`) in this one process, typing into one room at a fixed rate per
// client, step after step. Run by benchmarks/collab.py (pinned to other cores than the server).
//
//   node benchmarks/collab_node/load.mjs --url ws://127.0.0.1:PORT --room NAME --clients N \
//        --steps 10:10,20:3,40:3 [--drain 5] [--seed 1] [--warmup 2] [--trace FILE]
//
// A step is RATE:SECONDS: every client inserts one character at a random place RATE times a
// second for SECONDS. An edit is identified by its sender's client id and clock; a receiver
// has it once its document's state for that sender passed the clock. Its latency is the time
// from the edit (in the sender's document, before the provider sends it) until the last of
// the other N-1 clients has it. All clients live in one process, so one clock times both ends.
// After a step the generator waits (at most --drain seconds) until every document holds
// every edit, then reports the step as one JSON line on stdout:
//   {"event": "step", "rate", "seconds", "sent", "target", "p50", "p99", "max", "firstQuarterP50",
//    "lastQuarterP50", "undelivered", "drainMs", "loopLagMs", "cpuMs"}
// Progress lines ("event": "ready" / "start" / "end") let the caller sample the server's CPU at
// the edges of each step. The last line is {"event": "done", "converged", "textLength"}.
import { performance, PerformanceObserver } from 'node:perf_hooks'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

// The packages installed for the collaboration tests (ESM ignores NODE_PATH): one copy of
// yjs for this script and the provider, or Yjs refuses documents built by "another" copy.
const here = path.dirname(fileURLToPath(import.meta.url))
const modules = path.resolve(here, '../../tests/collab/node/node_modules')
const Y = await import(path.join(modules, 'yjs/dist/yjs.mjs'))
const { WebsocketProvider } = await import(path.join(modules, 'y-websocket/src/y-websocket.js'))
const WebSocket = (await import(path.join(modules, 'ws/wrapper.mjs'))).default

function option (name, fallback) {
  const at = process.argv.indexOf('--' + name)
  if (at < 0) {
    if (fallback === undefined) throw new Error(`--${name} is required`)
    return fallback
  }
  return process.argv[at + 1]
}

const url = option('url')
const room = option('room')
const count = Number(option('clients'))
const steps = option('steps').split(',').map(s => {
  const [rate, seconds] = s.split(':').map(Number)
  if (!(rate > 0 && seconds > 0)) throw new Error(`bad step ${s}: RATE:SECONDS`)
  return { rate, seconds }
})
const drainSeconds = Number(option('drain', '5'))
// --trace FILE: every edit of the first step as JSON (sender client id, clock, when it was
// typed, when the first and the last other client had it), on CLOCK_MONOTONIC in ns, the
// clock Python's time.monotonic_ns() reads: the server's own trace joins it (collab.py --split).
const traceFile = option('trace', '')
// performance.now() is mapped onto it by the tightest of several (now, hrtime, now) samples: one
// pause between two reads (a collection at start-up) would shift every figure of the split.
let mono0 = 0n
let perf0 = 0
let gap = Infinity
for (let i = 0; i < 20; i++) {
  const before = performance.now()
  const mono = process.hrtime.bigint()
  const after = performance.now()
  if (after - before < gap) [gap, mono0, perf0] = [after - before, mono, (before + after) / 2]
}
const monoNs = (t) => t === null ? null : Number(mono0) + Math.round((t - perf0) * 1e6)
// The clients' garbage collector: its pauses stop every client at once (they share a process).
const gcPauses = []
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcPauses.push({ t: e.startTime, ms: e.duration, kind: e.detail?.kind }) })
  .observe({ entryTypes: ['gc'] })
let seed = Number(option('seed', '1'))
const random = () => { // mulberry32: the same edits for every server
  seed |= 0; seed = seed + 0x6D2B79F5 | 0
  let t = Math.imul(seed ^ seed >>> 15, 1 | seed)
  t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
  return ((t ^ t >>> 14) >>> 0) / 4294967296
}
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

// clients ----------------------------------------------------------------------------------
// The first client opens the room alone; the others join once it is synced (plain
// pycrdt-websocket leaves clients hanging when many open a room at the same moment, and the
// benchmark measures typing, not that).
const clients = []
async function allSynced (upTo) {
  const started = performance.now()
  while (!clients.slice(0, upTo).every(c => c.synced)) {
    if (performance.now() - started > 30000) {
      say({ event: 'error', message: `only ${clients.filter(c => c.synced).length} of ${upTo} clients synced in 30 s` })
      process.exit(1)
    }
    await sleep(10)
  }
}
for (let i = 0; i < count; i++) {
  if (i === 1) await allSynced(1)
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
  provider.awareness.setLocalStateField('user', { name: `bench-${i}`, color: '#30bced' })
  const client = { i, doc, provider, text: doc.getText('content'), edits: [], ptr: null, synced: false }
  provider.on('sync', (synced) => { if (synced) client.synced = true })
  clients.push(client)
}
await allSynced(count)

// arrival tracking: edits[s] is sender s's edits in order; ptr[s] the first this receiver lacks.
// Only the senders whose state a transaction moved are looked at (Yjs computes the before and
// after state vectors of every transaction anyway), so tracking costs each receiver little
// more per update than the senders it carries.
const byClientId = new Map(clients.map(c => [c.doc.clientID, c]))
for (const receiver of clients) {
  receiver.ptr = new Array(count).fill(0)
  receiver.doc.on('afterTransaction', (transaction) => {
    if (transaction.origin !== receiver.provider) return // its own edit
    const now = performance.now()
    transaction.afterState.forEach((state, clientId) => {
      if (transaction.beforeState.get(clientId) === state) return
      const sender = byClientId.get(clientId)
      if (sender === undefined || sender === receiver) return
      const edits = sender.edits
      let p = receiver.ptr[sender.i]
      while (p < edits.length && edits[p].clock < state) {
        const edit = edits[p]
        if (edit.remaining === count - 1) edit.first = now
        edit.remaining--
        if (edit.remaining === 0) edit.latency = now - edit.t
        p++
      }
      receiver.ptr[sender.i] = p
    })
  })
}
say({ event: 'ready', clients: count })

function percentile (sorted, q) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

function type (client) {
  const text = client.text
  const at = Math.floor(random() * (text.length + 1))
  const clock = Y.getState(client.doc.store, client.doc.clientID)
  const t = performance.now()
  client.edits.push({ clock, t, remaining: count - 1, latency: null, first: null })
  text.insert(at, String.fromCharCode(97 + Math.floor(random() * 26)))
}

let traced = false
async function runStep ({ rate, seconds }, warmup = false) {
  const firstEdit = clients.map(c => c.edits.length)
  const gcFrom = gcPauses.length
  const cpu0 = process.cpuUsage()
  if (!warmup) say({ event: 'start', rate, seconds })
  const t0 = performance.now()
  const period = 1000 / rate
  // Every client on its own phase; each scheduler tick (1 ms) types every edit that is due.
  // Open loop: edits that fell due while the event loop was busy (taking in a burst from a
  // server that stalled) are all typed, late, never skipped, so a server that cannot keep up
  // sees the offered load and its backlog grows, instead of the clients slowing down for it.
  // Each edit is timed when it is typed; `loopLagMs` says how late the generator ran.
  const due = clients.map(() => t0 + random() * period)
  const end = t0 + seconds * 1000
  let lag = 0
  let sent = 0
  while (performance.now() < end) {
    const now = performance.now()
    for (const c of clients) {
      while (due[c.i] <= now && due[c.i] < end) {
        lag = Math.max(lag, now - due[c.i])
        type(c)
        sent++
        due[c.i] += period
      }
    }
    await sleep(1)
  }
  if (!warmup) say({ event: 'end', rate })
  // drain: every edit of the step at every client
  const drainStart = performance.now()
  const stepEdits = () => clients.flatMap(c => c.edits.slice(firstEdit[c.i]))
  while (stepEdits().some(e => e.remaining > 0) && performance.now() - drainStart < drainSeconds * 1000) {
    await sleep(5)
  }
  const drainMs = performance.now() - drainStart
  const edits = stepEdits().sort((a, b) => a.t - b.t)
  const delivered = edits.filter(e => e.remaining === 0)
  const latencies = delivered.map(e => e.latency).sort((a, b) => a - b)
  const quarter = Math.max(1, Math.floor(edits.length / 4))
  const p50of = (part) => percentile(part.map(e => (e.latency ?? Infinity)).sort((a, b) => a - b), 0.5)
  const cpu = process.cpuUsage(cpu0)
  const result = {
    event: 'step',
    rate,
    seconds,
    sent,
    target: rate * seconds * count,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.length ? latencies[latencies.length - 1] : null,
    firstQuarterP50: p50of(edits.slice(0, quarter)),
    lastQuarterP50: p50of(edits.slice(-quarter)),
    undelivered: edits.length - delivered.length,
    drainMs,
    loopLagMs: lag,
    cpuMs: (cpu.user + cpu.system) / 1000,
    gcPauses: gcPauses.length - gcFrom,
    gcMs: gcPauses.slice(gcFrom).reduce((sum, e) => sum + e.ms, 0),
    gcMaxMs: gcPauses.slice(gcFrom).reduce((max, e) => Math.max(max, e.ms), 0)
  }
  if (warmup) {
    say({ ...result, event: 'warmup' })
    return result
  }
  say(result)
  if (traceFile && !traced) {
    traced = true
    const rows = clients.flatMap(c => c.edits.slice(firstEdit[c.i]).map(e => ({
      client: c.doc.clientID, clock: e.clock, typed: monoNs(e.t), first: monoNs(e.first),
      last: e.latency === null ? null : monoNs(e.t + e.latency)
    })))
    const gc = gcPauses.slice(gcFrom).map(e => ({ start: monoNs(e.t), ms: e.ms, kind: e.kind }))
    writeFileSync(traceFile, JSON.stringify({ edits: rows, gc }))
  }
  return result
}

// --warmup SECONDS: type at the first step's rate that long first, unmeasured: the clients'
// code is compiled and their heaps grown before the figures start (the first second of a cold
// process is several times slower, whatever the server).
const warmupSeconds = Number(option('warmup', '0'))
if (warmupSeconds > 0) await runStep({ rate: steps[0].rate, seconds: warmupSeconds }, true)
for (const step of steps) {
  const result = await runStep(step)
  if (result.undelivered > 0) break // the backlog did not drain: higher rates would not either
}
// convergence: every client's text the same (after a last short drain)
const wait = performance.now()
const texts = () => clients.map(c => c.text.toString())
while (new Set(texts()).size > 1 && performance.now() - wait < drainSeconds * 1000) await sleep(20)
const final = texts()
say({ event: 'done', converged: new Set(final).size === 1, textLength: final[0].length })
for (const c of clients) c.provider.destroy()
setTimeout(() => process.exit(0), 200)
