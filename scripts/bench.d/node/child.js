// child.js: the Node.js baseline's renderer side: plain process.send and
// process.on('message') with no library, the messages shaped like
// mainhost's wire ({k, ch, id, args}). Round trips are awaited promises,
// the way a Node user would write invoke.
'use strict';
const env = process.env;
const mode = env.BENCH_MODE;
const durNs = BigInt(Math.round(Number(env.BENCH_DUR_MS || 1000) * 1e6));
const warmNs = BigInt(Math.round(Number(env.BENCH_WARM_MS || 200) * 1e6));

// The split variant: this child on its own CPU (the parent is pinned
// elsewhere by the driver); -a covers Node's helper threads too.
if (env.BENCH_CHILD_CPU) {
  require('child_process').execFileSync('taskset', ['-a', '-p', '-c', env.BENCH_CHILD_CPU, String(process.pid)],
    { stdio: 'ignore' });
}

const pending = new Map();
let nextId = 0;
function invoke(ch, ...args) {
  const id = ++nextId;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    process.send({ k: 'invoke', ch, id, args });
  });
}
function send(ch, ...args) {
  process.send({ k: 'send', ch, args });
}

function pct(sorted, p) {
  if (sorted.length === 0) return 0;
  let k = Math.ceil(p * sorted.length);
  if (k < 1) k = 1;
  return sorted[Math.min(k, sorted.length) - 1];
}

async function roundTrips() {
  const hr = process.hrtime.bigint;
  const start = hr();
  const mstart = start + warmNs, end = mstart + durNs;
  const lat = [];
  let t = start;
  while (t < end) {
    const t0 = hr();
    const r = await invoke('add', 2, 3);
    if (r[0] !== 5) throw new Error('bad reply');
    t = hr();
    if (t0 >= mstart) lat.push(Number(t - t0) / 1000);
  }
  lat.sort((a, b) => a - b);
  return { n: lat.length, secs: Number(t - mstart) / 1e9, p50_us: pct(lat, 0.5), p99_us: pct(lat, 0.99) };
}

async function stream() {
  const size = Number(env.BENCH_SIZE), count = Number(env.BENCH_COUNT);
  const payload = 'x'.repeat(size);
  const hr = process.hrtime.bigint;
  // A warm-up pass of a tenth (the JIT settles), then the timed pass.
  for (let i = 0; i < Math.max(1, Math.floor(count / 10)); i++) send('data', payload);
  await invoke('count');
  const t0 = hr();
  for (let i = 0; i < count; i++) send('data', payload);
  const [got, bytes] = await invoke('count');
  const secs = Number(hr() - t0) / 1e9;
  if (got !== count || bytes !== count * size) throw new Error(`main counted ${got} of ${count}`);
  return { n: count, size, secs, msg_s: count / secs, mb_s: count * size / secs / 1e6 };
}

process.on('message', (m) => {
  if (m.k === 'result') {
    const r = pending.get(m.id);
    pending.delete(m.id);
    r(m.args);
  } else if (m.k === 'msg' && m.ch === 'go') {
    (mode === 'stream' ? stream() : roundTrips()).then((res) => send('done', JSON.stringify(res)));
  }
});

send('ready');
