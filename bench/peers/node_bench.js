// The benchmark workloads in Node.js: promises, Promise.all, timers.
//   node node_bench.js NAME N
// Each workload resolves to [check line, whether its answer is right]; a
// wrong answer exits 1.
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
  return [`spawn_gather n=${n} sum=${sum} secs=${secs.toFixed(6)}`, sum === n * (n - 1) / 2];
}

async function sleepers(n) {
  const t0 = now();
  const ps = new Array(n);
  for (let i = 0; i < n; i++) ps[i] = sleep(1000).then(() => 1);
  const res = await Promise.all(ps);
  const sum = res.reduce((a, b) => a + b, 0);
  return [`sleepers n=${n} mode=default sum=${sum} secs=${(now() - t0).toFixed(6)}`, sum === n];
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
  return [`pingpong n=${n} last=${last} handoffs=${2 * n} secs=${(now() - t0).toFixed(6)}`, last === n - 1];
}

async function yield_(n) {
  const y = async () => { let made = 0; for (let i = 0; i < n; i++) { await tick(); made++; } return made; };
  const t0 = now();
  const [a, b] = await Promise.all([y(), y()]);
  return [`yield n=${n} switches=${a + b} secs=${(now() - t0).toFixed(6)}`, a + b === 2 * n];
}

async function waitLoop(n) {
  const t0 = now();
  let sum = 0, count = 0;
  await new Promise((done) => {
    for (let i = 0; i < n; i++) {
      sleep((i / n) * 1000).then(() => { sum += i; if (++count === n) done(); });
    }
  });
  return [`wait_loop n=${n} style=then sum=${sum} rounds=${n} secs=${(now() - t0 - 1).toFixed(6)}`,
    sum === n * (n - 1) / 2];
}

// Deadlines LEAD + a spread over 1 s (bench/timers.c says why). Node counts
// a timeout from the loop's time at the start of the current callback, so
// the program starts on a fresh one (tick), and its final sleep counts from
// that same time: it ends after every deadline, and Node runs due timers in
// deadline order.
async function timers(n) {
  let fired = 0;
  const lead = 0.25 + 5e-6 * n;
  await tick();
  const t0 = now();
  const hs = new Array(n);
  for (let i = 0; i < n; i++) hs[i] = setTimeout(() => { fired++; }, (lead + ((i * 7919) % n) / n) * 1000);
  const t1 = now();
  for (let i = 0; i < n; i += 2) clearTimeout(hs[i]);
  const t2 = now();
  const inLead = t2 - t0 < lead;
  await sleep((lead + 1.05) * 1000);
  const kept = n - Math.ceil(n / 2);
  return [`timers n=${n} fired=${fired} arm_ns=${((t1 - t0) * 1e9 / n).toFixed(1)} ` +
    `cancel_ns=${((t2 - t1) * 1e9 / Math.ceil(n / 2)).toFixed(1)} armed_in_lead=${inLead ? 1 : 0} ` +
    `secs=${(t1 - t0).toFixed(6)}`, fired === kept && inLead];
}

const [name, nstr] = process.argv.slice(2);
const n = parseInt(nstr, 10);
const fns = { spawn_gather: spawnGather, sleepers, pingpong, yield: yield_, wait_loop: waitLoop, timers };
fns[name](n).then(([line, ok]) => {
  console.log(line);
  if (!ok) {
    console.error('node_bench: wrong answer (see the check line)');
    process.exitCode = 1;
  }
});
