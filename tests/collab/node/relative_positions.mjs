// Yjs' own answer for relative positions, to check codeforge/collab/relative.py against.
// stdin: {update: base64 v1 update, create: [[utf16 index, assoc]], resolve: [relative position JSON]}
// stdout: {text, created: [relative position JSON], resolved: [utf16 index | null]}
import * as Y from 'yjs'

let input = ''
for await (const chunk of process.stdin) input += chunk
const request = JSON.parse(input)
const doc = new Y.Doc()
Y.applyUpdate(doc, Buffer.from(request.update, 'base64'))
const text = doc.getText('content')
const created = request.create.map(([index, assoc]) =>
  Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, index, assoc)))
const resolved = request.resolve.map((json) => {
  // followUndoneDeletions=false: the answer every client agrees on
  const abs = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), doc, false)
  return abs === null || abs.type !== text ? null : abs.index
})
process.stdout.write(JSON.stringify({ text: text.toString(), created, resolved }))
