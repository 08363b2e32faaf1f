// A real Yjs client (yjs + y-websocket's WebsocketProvider) driven by JSON lines on stdin,
// answering with JSON lines on stdout. For tests/collab: what a browser editor does.
//
//   node client.mjs <server url, e.g. ws://127.0.0.1:8471/collab/<session>> <room> [token] [lifetime]
//
// Commands: {"op": "insert", "index", "text"} | {"op": "append", "text"} | {"op": "delete", "index", "length"} |
// {"op": "text"} | {"op": "type", "text", "every"} (one character per edit at the end) |
// {"op": "awareness", "state"} | {"op": "states"} | {"op": "disconnect"} | {"op": "connect"} |
// {"op": "fresh"} (discard the document, as an app does on close 4409, and reconnect) | {"op": "exit"} |
// {"op": "cursor", "index", "name", "color"} (awareness as y-codemirror sets it: user and a cursor of Yjs
// relative positions at that UTF-16 index) | {"op": "cursors"} (every other client's cursor head as an index)
// Events: {"event": "status"|"synced"|"denied"|"closed"|"error", ...}; answers: {"answer": op, ...}.
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import readline from 'node:readline'

const [url, room, token, lifetime] = process.argv.slice(2)
const out = (message) => process.stdout.write(JSON.stringify(message) + '\n')

let doc
let provider

const start = () => {
  doc = new Y.Doc()
  const params = {}
  if (token) params.token = token
  if (lifetime) params.lifetime = lifetime
  provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, params, disableBc: true })
  provider.on('status', (event) => out({ event: 'status', status: event.status }))
  provider.on('sync', (synced) => { if (synced) out({ event: 'synced', text: doc.getText('content').length }) })
  provider.on('connection-close', (event) => {
    if (event) out({ event: 'closed', code: event.code, reason: event.reason })
  })
  provider.on('connection-error', () => out({ event: 'error' }))
  // y-websocket only logs a permission-denied: report it so a test can see the guest was told.
  provider.messageHandlers[2] = (_encoder, decoder) => {
    decoding.readVarUint(decoder)
    out({ event: 'denied', reason: decoding.readVarString(decoder) })
  }
}

start()

const text = () => doc.getText('content')

const typeSlowly = (chars, every) => new Promise((resolve) => {
  let i = 0
  const step = () => {
    if (i >= chars.length) return resolve()
    text().insert(text().length, chars[i++])
    setTimeout(step, every)
  }
  step()
})

const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const command = JSON.parse(line)
  switch (command.op) {
    case 'insert':
      text().insert(command.index, command.text)
      out({ answer: 'insert' })
      break
    case 'append':
      text().insert(text().length, command.text)
      out({ answer: 'append' })
      break
    case 'delete':
      text().delete(command.index, command.length)
      out({ answer: 'delete' })
      break
    case 'type':
      await typeSlowly([...command.text], command.every ?? 5)
      out({ answer: 'type' })
      break
    case 'text':
      out({ answer: 'text', text: text().toString(), synced: provider.synced })
      break
    case 'awareness':
      provider.awareness.setLocalState(command.state)
      out({ answer: 'awareness', client: doc.clientID })
      break
    case 'states':
      out({ answer: 'states', states: Object.fromEntries(provider.awareness.getStates()) , self: doc.clientID })
      break
    case 'cursor': {
      const at = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text(), command.index))
      provider.awareness.setLocalState({ user: { name: command.name, color: command.color }, cursor: { anchor: at, head: at } })
      out({ answer: 'cursor', client: doc.clientID })
      break
    }
    case 'cursors': {
      const cursors = {}
      for (const [client, state] of provider.awareness.getStates()) {
        if (client === doc.clientID || !state.cursor) continue
        const head = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(state.cursor.head), doc)
        cursors[state.user?.id ?? state.user?.name ?? client] = head === null ? null : head.index
      }
      out({ answer: 'cursors', cursors })
      break
    }
    case 'disconnect':
      provider.disconnect()
      out({ answer: 'disconnect' })
      break
    case 'connect':
      provider.connect()
      out({ answer: 'connect' })
      break
    case 'fresh':
      provider.destroy()
      doc.destroy()
      start()
      out({ answer: 'fresh' })
      break
    case 'exit':
      provider.destroy()
      out({ answer: 'exit' })
      process.exit(0)
  }
}
