// A worker of the jobs example: a Node.js renderer using the Electron-like
// ipcRenderer of clients/node. It joins the pool, then asks main for jobs
// with invoke until there are none left, and sends each result back.
'use strict';
const path = require('path');
// The client sits in the repository's clients/node/, three levels up from
// this example; resolving from __dirname works whatever the current directory.
const { ipcRenderer } = require(path.join(__dirname, '..', '..', '..', 'clients', 'node', 'ipc-renderer.js'));

const name = process.env.MAINHOST_RENDERER_NAME;
// The job: square n, taking a few milliseconds as real work would.
const work = (n) => new Promise((resolve) => setTimeout(() => resolve(n * n), 1 + (n % 4)));

(async () => {
  const jobs = await ipcRenderer.invoke('join');
  console.log(`${name}: joined a pool serving ${jobs} jobs`);
  let done = 0;
  for (;;) {
    const job = await ipcRenderer.invoke('next-job');
    if (job === null) break; // main returned nil: no jobs left
    ipcRenderer.send('result', job.id, await work(job.n));
    done += 1;
  }
  ipcRenderer.send('bye', done);
})();
