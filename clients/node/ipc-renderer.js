// ipc-renderer.js: Electron's `ipcRenderer` for Node.js renderers of mainhost.
//
// CommonJS, no dependencies, Node 20 or later. Use it from a renderer that the
// host starts from a config entry such as
//   { "name": "worker", "command": ["node", "worker.js"] }
// with
//   const { ipcRenderer } = require('./path/to/clients/node/ipc-renderer.js');
//
// It is a thin layer over Node's own IPC channel: the host starts the renderer
// with NODE_CHANNEL_FD=3 and NODE_CHANNEL_SERIALIZATION_MODE=json, so Node
// opens the channel itself and `process.send` / `process.on('message')` speak
// the wire protocol directly (docs/protocol.md). Nothing else is needed; this
// module only gives the Electron names.
//
// The API, and where it differs from Electron:
//
// - ipcRenderer.send(channel, ...args): fire and forget; ipcMain.on listeners
//   get (event, ...args). Throws a TypeError when channel is not a string.
//
// - ipcRenderer.invoke(channel, ...args) -> Promise: resolves with the value
//   the main process's ipcMain.handle handler returned. A Lua handler may
//   return several values; like Electron, which passes one, the promise
//   resolves with the FIRST of them (undefined when the handler returned
//   nothing, null when it returned nil). On failure it rejects with
//   `new Error("Error invoking remote method 'CHANNEL': " + TEXT)`, exactly
//   as Electron does, where TEXT is the host's error (for example
//   "Error: boom" or "Error: No handler registered for 'CHANNEL'"); as in
//   Electron, an empty TEXT (a Lua error object whose __tostring gives "")
//   resolves with undefined instead. invoke
//   never throws synchronously: a bad channel or an argument that cannot be
//   sent is a rejection too. If the channel to the host closes while an
//   invoke waits, it rejects with TEXT "reply was never sent (the channel to
//   the main process closed)".
//
// - ipcRenderer.sendSync(channel, ...args): NOT AVAILABLE. Node's IPC channel
//   cannot block the thread until the reply arrives (process.send is
//   asynchronous and messages are only read when the event loop runs), so an
//   honest sendSync is impossible here. It throws an Error that says so;
//   use `await ipcRenderer.invoke(channel, ...args)` with ipcMain.handle in
//   the main process instead. (Lua renderers do have a blocking sendSync.)
//
// - on / once / addListener / prependListener / prependOnceListener / off /
//   removeListener / removeAllListeners / listenerCount / listeners /
//   eventNames: ipcRenderer is a Node EventEmitter, as in Electron. Listeners
//   get (event, ...args) for each `webContents.send` / `event.reply` message,
//   with event = { sender: ipcRenderer, frameId, ports: [] }. A listener
//   that throws, or returns a promise that rejects, does not end the
//   renderer (Electron reports it and the page goes on): the error is
//   written to stderr as "mainhost: listener for 'CHANNEL': ..." and the
//   other listeners still run, as in mainhost's Lua renderers. A message on a
//   channel with no listener is dropped, including the channel 'error'
//   (which would otherwise make an EventEmitter throw). A script that
//   replaces ipcRenderer.emit (to log or filter messages) gets every message
//   through it, as in Electron; what it throws is reported the same way. EventEmitter's own
//   event names ('newListener', 'removeListener') are also channel names
//   here, as in Electron: avoid them as channels.
//
// - Frames: this ipcRenderer is the main frame (frame 1). Messages the host
//   addresses to other frames are dropped.
//
// Values travel as JSON (docs/protocol.md section 6):
// - JSON null in the arguments arrives as null (a Lua nil or mainhost.null);
//   undefined as a whole argument is sent as null (nil in Lua).
// - Numbers are doubles in JavaScript: 1.0 is sent as 1 (an integer in Lua),
//   and Lua integers beyond 2^53 lose precision on the way in.
// - Strings: the host sends every byte of a Lua string that is not valid
//   UTF-8 as a lone low surrogate, U+DC80..U+DCFF (byte value + 0xDC00). Such
//   a string arrives here holding lone surrogates (e.g. "\udcff"), and
//   sending it back as is gives the main process the original bytes.
//   To get the bytes in Node: map each code unit 0xDC80..0xDCFF to its byte
//   and UTF-8-encode the rest.
// - Objects are plain JSON: toJSON is honoured (a Date becomes a string, a
//   Buffer {type: 'Buffer', data: [...]}), undefined members are left out.
// - What JSON cannot carry is refused in the sender with an Error naming the
//   argument and the path inside it, never silently changed: functions,
//   symbols, BigInt, NaN, Infinity, -Infinity, cycles, and the objects
//   Electron's structured clone carries but JSON empties (Map, Set,
//   ArrayBuffer, typed arrays other than Buffer), for example
//   "argument 2 [0].f: function cannot be sent". Arguments are numbered as
//   written, the channel being argument 1. So is a value nested deeper than
//   the host accepts (MAINHOST_MAX_DEPTH - 2 levels, 198 by default):
//   "argument 2 [0][0]...: nested too deeply to send".
//
// Lifetime: requiring this module says hello to the host (the main script's
// webContents gets did-finish-load) and listens on the channel, so the
// process stays alive until the host closes the channel (when it quits), as a
// Lua renderer does. To leave earlier, call process.disconnect() or
// process.exit(), but know that Node does NOT write what send() has queued
// before disconnecting or exiting: those messages are lost. Leave once they
// are written: after an awaited invoke (its reply proves the host read
// everything sent before it), or from the callback of a last plain
// `process.send(message, () => process.disconnect())`.
'use strict';

const { EventEmitter } = require('events');

const PROTOCOL_VERSION = 1;
const NOT_CONNECTED = 'IPC method called after context was released';
const CHANNEL_CLOSED = 'reply was never sent (the channel to the main process closed)';
const SEND_SYNC_MESSAGE =
  "ipcRenderer.sendSync is not available in Node.js renderers: Node's IPC channel " +
  '(process.send) cannot block until the reply arrives. Use ' +
  '`await ipcRenderer.invoke(channel, ...args)` with ipcMain.handle in the main process instead.';

// The deepest nesting the host accepts in an argument: its limit for a
// whole message, less the message object and its args array.
const MAX_ARG_DEPTH = (parseInt(process.env.MAINHOST_MAX_DEPTH, 10) || 200) - 2;

// Why v cannot be sent as JSON without change, or null when it can. depth:
// the containers v is in.
function refusal(v, path, seen, depth) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return null;
    case 'number':
      if (Number.isNaN(v)) return [path, 'NaN cannot be sent'];
      if (v === Infinity) return [path, 'inf cannot be sent'];
      if (v === -Infinity) return [path, '-inf cannot be sent'];
      return null;
    case 'function':
    case 'symbol':
    case 'bigint':
      return [path, typeof v + ' cannot be sent'];
    default:
      break;
  }
  if (v === null) return null;
  if (typeof v.toJSON === 'function') {
    const j = v.toJSON();
    if (j !== v) return refusal(j, path, seen, depth);
  }
  if (v instanceof Map || v instanceof Set || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return [path, (v.constructor && v.constructor.name || 'object') + ' cannot be sent'];
  }
  if (seen.has(v)) return [path, 'object contains itself (a cycle) and cannot be sent'];
  if (depth >= MAX_ARG_DEPTH) return [path, 'nested too deeply to send'];
  seen.add(v);
  try {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const r = refusal(v[i], path + '[' + i + ']', seen, depth + 1);
        if (r) return r;
      }
    } else {
      for (const k of Object.keys(v)) {
        const x = v[k];
        // JSON.stringify leaves these members out, as structured clone does
        // for undefined; a function or symbol member is a loss, so refuse.
        if (x === undefined) continue;
        const key = /^[A-Za-z_$][\w$]*$/.test(k) ? '.' + k : '[' + JSON.stringify(k) + ']';
        const r = refusal(x, path + key, seen, depth + 1);
        if (r) return r;
      }
    }
  } finally {
    seen.delete(v);
  }
  return null;
}

function checkArgs(args) {
  for (let i = 0; i < args.length; i++) {
    const r = refusal(args[i], '', new Set(), 0);
    if (r) {
      const where = r[0] ? ' ' + r[0] : '';
      throw new TypeError('argument ' + (i + 2) + where + ': ' + r[1]);
    }
  }
}

function checkChannel(channel, method) {
  if (typeof channel !== 'string') {
    throw new TypeError(
      "bad argument #1 to '" + method + "' (channel must be a string, got " +
        (channel === null ? 'null' : typeof channel) + ')');
  }
}

function connected() {
  return typeof process.send === 'function' && process.connected;
}

class IpcRenderer extends EventEmitter {
  send(channel, ...args) {
    checkChannel(channel, 'send');
    checkArgs(args);
    if (!connected()) throw new Error(NOT_CONNECTED);
    process.send({ k: 'send', ch: channel, args });
  }

  invoke(channel, ...args) {
    try {
      checkChannel(channel, 'invoke');
      checkArgs(args);
      if (!connected()) throw new Error(NOT_CONNECTED);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      pending.set(id, { channel, resolve, reject });
      process.send({ k: 'invoke', ch: channel, id, args });
    });
  }

  sendSync() {
    throw new Error(SEND_SYNC_MESSAGE);
  }
}

const ipcRenderer = new IpcRenderer();
const pending = new Map(); // request id -> { channel, resolve, reject }
let nextId = 0;

function settle(m) {
  const p = pending.get(m.id);
  if (!p) return;
  pending.delete(m.id);
  if (typeof m.error === 'string') {
    // Electron: an empty error text is falsy, the invoke resolves.
    if (m.error) p.reject(new Error(`Error invoking remote method '${p.channel}': ${m.error}`));
    else p.resolve(undefined);
  } else {
    p.resolve(Array.isArray(m.args) ? m.args[0] : undefined);
  }
}

function reportListenerError(channel, e) {
  let text;
  try {
    text = e && e.stack ? e.stack : String(e);
  } catch (_) {
    text = '(an error that cannot be shown as text)';
  }
  process.stderr.write(`mainhost: listener for '${channel}': ${text}\n`);
}

function onMessage(m) {
  if (m === null || typeof m !== 'object') return;
  if (m.k === 'msg') {
    const frameId = m.frame === undefined ? 1 : m.frame;
    if (frameId !== 1 || typeof m.ch !== 'string') return;
    const args = Array.isArray(m.args) ? m.args : [];
    const event = { sender: ipcRenderer, frameId, ports: [] };
    // A script that replaced ipcRenderer.emit (to log or filter messages)
    // gets every message through it, as in Electron.
    if (ipcRenderer.emit !== EventEmitter.prototype.emit) {
      try {
        ipcRenderer.emit(m.ch, event, ...args);
      } catch (e) {
        reportListenerError(m.ch, e);
      }
      return;
    }
    // Otherwise each listener on its own: one that throws or rejects is
    // reported and the others still run (rawListeners keeps once's
    // wrappers, which remove themselves and return the listener's result).
    for (const fn of ipcRenderer.rawListeners(m.ch)) {
      try {
        const r = fn.call(ipcRenderer, event, ...args);
        if (r && typeof r.then === 'function') r.then(undefined, (e) => reportListenerError(m.ch, e));
      } catch (e) {
        reportListenerError(m.ch, e);
      }
    }
  } else if (m.k === 'result') {
    settle(m);
  }
  // m.k === 'hello': the host's hello; nothing to do. Unknown kinds and
  // fields are skipped, as the protocol asks.
}

function onDisconnect() {
  const waiting = [...pending.values()];
  pending.clear();
  for (const p of waiting) {
    p.reject(new Error(`Error invoking remote method '${p.channel}': ${CHANNEL_CLOSED}`));
  }
}

if (connected()) {
  process.on('message', onMessage);
  process.on('disconnect', onDisconnect);
  process.send({ k: 'hello', v: PROTOCOL_VERSION, pid: process.pid });
}

module.exports = { ipcRenderer };
