// fetch_many N C URL with Node's built-in fetch (undici; bench/fetch.py):
// C async workers take the next index, fetch URL/i (undici keeps the
// connections alive), keep each body in input order; every body is
// checked. Prints the check line with secs= (the fetching) and cpu= (this
// process's user+system CPU over it, process.cpuUsage).
"use strict";

async function main() {
  const [n, c, base] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
  if (!(n > 0 && c > 0 && base)) {
    console.error("usage: node_fetch.js N C URL");
    process.exit(2);
  }
  const bodies = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      const resp = await fetch(`${base}/${i}`);
      const body = await resp.text();
      if (resp.status === 200) bodies[i] = body;
    }
  }
  const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: c }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(c0);
  const path = new URL(base).pathname;
  let ok = 0;
  for (let i = 0; i < n; i++) if (bodies[i] === `${path}/${i}`) ok++;
  console.log(`fetch_many n=${n} inflight=${c} ok=${ok} cpu=${((u.user + u.system) / 1e6).toFixed(4)} secs=${secs.toFixed(4)}`);
  process.exit(ok === n ? 0 : 1);
}
main();
