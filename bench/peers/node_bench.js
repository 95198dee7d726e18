// The benchmark workloads in Node.js: promises, Promise.all, timers.
//   node node_bench.js NAME N
'use strict';
const now = () => Number(process.hrtime.bigint()) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

async function spawnGather(n) {
  const task = async (i) => i;
  const t0 = now();
  const ps = new Array(n);
  for (let i = 0; i < n; i++) ps[i] = task(i);
  const res = await Promise.all(ps);
  const secs = now() - t0;
  let sum = 0;
  for (const v of res) sum += v;
  return `spawn_gather n=${n} sum=${sum} secs=${secs.toFixed(6)}`;
}

async function sleepers(n) {
  const t0 = now();
  const ps = new Array(n);
  for (let i = 0; i < n; i++) ps[i] = sleep(1000).then(() => 1);
  const res = await Promise.all(ps);
  return `sleepers n=${n} mode=default sum=${res.length} secs=${(now() - t0).toFixed(6)}`;
}

// A one-slot channel on promises.
class Chan {
  constructor() { this.items = []; this.waiters = []; }
  put(v) { const w = this.waiters.shift(); if (w) w(v); else this.items.push(v); }
  get() { return this.items.length ? Promise.resolve(this.items.shift()) : new Promise((r) => this.waiters.push(r)); }
}

async function pingpong(n) {
  const toPong = new Chan(), toPing = new Chan();
  const t0 = now();
  const pong = (async () => { for (let i = 0; i < n; i++) toPing.put(await toPong.get()); })();
  let last = 0;
  for (let i = 0; i < n; i++) { toPong.put(i); last = await toPing.get(); }
  await pong;
  return `pingpong n=${n} last=${last} handoffs=${2 * n} secs=${(now() - t0).toFixed(6)}`;
}

async function yield_(n) {
  const y = async () => { for (let i = 0; i < n; i++) await tick(); };
  const t0 = now();
  await Promise.all([y(), y()]);
  return `yield n=${n} switches=${2 * n} secs=${(now() - t0).toFixed(6)}`;
}

async function waitLoop(n) {
  const t0 = now();
  let sum = 0, count = 0;
  await new Promise((done) => {
    for (let i = 0; i < n; i++) {
      sleep((i / n) * 1000).then(() => { sum += i; if (++count === n) done(); });
    }
  });
  return `wait_loop n=${n} style=then sum=${sum} rounds=${n} secs=${(now() - t0 - 1).toFixed(6)}`;
}

async function timers(n) {
  let fired = 0;
  const t0 = now();
  const hs = new Array(n);
  for (let i = 0; i < n; i++) hs[i] = setTimeout(() => { fired++; }, ((i * 7919) % n) / n * 1000);
  const t1 = now();
  for (let i = 0; i < n; i += 2) clearTimeout(hs[i]);
  const t2 = now();
  await sleep(1010);
  return `timers n=${n} fired=${fired} arm_ns=${((t1 - t0) * 1e9 / n).toFixed(1)} ` +
    `cancel_ns=${((t2 - t1) * 1e9 / Math.ceil(n / 2)).toFixed(1)} secs=${(t1 - t0).toFixed(6)}`;
}

const [name, nstr] = process.argv.slice(2);
const n = parseInt(nstr, 10);
const fns = { spawn_gather: spawnGather, sleepers, pingpong, yield: yield_, wait_loop: waitLoop, timers };
fns[name](n).then((s) => console.log(s));
