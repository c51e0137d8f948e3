// parent.js: the Node.js baseline's main side for scripts/bench: forks
// children with child_process.fork in 'json' serialization (the peer users
// would pick instead of mainhost) and does the same work as the mainhost
// bench app (scripts/bench.d/mh/main.lua). Parameters come from the same
// BENCH_* environment variables; results are "BENCH {json}" lines.
'use strict';
const { fork } = require('child_process');
const path = require('path');

const env = process.env;
const mode = env.BENCH_MODE;
const n = Number(env.BENCH_RENDERERS || 1);
const childPath = path.join(__dirname, 'child.js');
const opts = { serialization: 'json', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] };

if (mode === 'startup') {
  // Fork to the first message handled here, as the issue defines it; the
  // driver also times from exec of this process with the FIRST stamp.
  const t0 = process.hrtime.bigint();
  const c = fork(childPath, [], opts);
  c.once('message', () => {
    const t1 = process.hrtime.bigint();
    console.log('FIRST ' + t1.toString());
    console.log('BENCH ' + JSON.stringify({ ms: Number(t1 - t0) / 1e6 }));
    c.disconnect();
  });
} else if (mode === 'idle') {
  const kids = [];
  let ready = 0;
  for (let i = 0; i < n; i++) {
    const c = fork(childPath, [], opts);
    c.on('message', (m) => {
      if (m.ch === 'ready' && ++ready === n) console.log('READY ' + process.pid);
    });
    kids.push(c);
  }
  process.on('SIGTERM', () => { for (const c of kids) c.disconnect(); });
} else {
  // invoke | sync | stream | conc: the children drive; we answer and count.
  const kids = [];
  let ready = 0, done = 0, count = 0, bytes = 0;
  for (let i = 0; i < n; i++) {
    const c = fork(childPath, [], opts);
    kids.push(c);
    c.on('message', (m) => {
      switch (m.k) {
        case 'invoke':
          if (m.ch === 'add') {
            c.send({ k: 'result', id: m.id, args: [m.args[0] + m.args[1]] });
          } else if (m.ch === 'count') {
            c.send({ k: 'result', id: m.id, args: [count, bytes] });
            count = 0;
            bytes = 0;
          }
          break;
        case 'send':
          if (m.ch === 'data') {
            count++;
            bytes += m.args[0].length;
          } else if (m.ch === 'ready') {
            if (++ready === n) for (const k of kids) k.send({ k: 'msg', ch: 'go', args: [] });
          } else if (m.ch === 'done') {
            console.log('BENCH ' + m.args[0]);
            if (++done === n) for (const k of kids) k.disconnect();
          }
          break;
      }
    });
  }
}
