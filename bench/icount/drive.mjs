// Sends bench requests one after another on one keep-alive connection (the request from
// <req dir>/<name>.{method,headers,body}, as bench/req.lua reads them) and prints the statuses.
//   node bench/icount/drive.mjs <port> <path> <req dir> <name>[,<name>…] <count per name>
// With several names, they are sent round-robin (a warm-up that leaves the Worker's JS in the
// state a mixed workload does). CONCURRENCY=C: C keep-alive connections, each sending its share
// one after another, so C requests are in flight together as under wrk's load (default 1: one at
// a time).
import http from "node:http";
import { existsSync, readFileSync } from "node:fs";

const [port, path, dir, names, count] = process.argv.slice(2);
const conns = Math.max(1, Number(process.env.CONCURRENCY || 1));
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
const reqs = names.split(",").map((name) => {
  const read = (ext) => (existsSync(`${dir}/${name}.${ext}`) ? readFileSync(`${dir}/${name}.${ext}`) : null);
  const headers = {};
  for (const l of (read("headers") || "").toString().split("\n")) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i)] = l.slice(i + 1).trim();
  }
  return { method: (read("method") || "GET").toString().trim(), headers, body: read("body") };
});
const statuses = {};

function send(r) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: +port, path, method: r.method, headers: r.headers, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end(r.body ?? undefined);
  });
}

async function connection(rounds) {
  for (let i = 0; i < rounds; i++) {
    for (const r of reqs) {
      const status = await send(r);
      statuses[status] = (statuses[status] || 0) + 1;
    }
  }
}

// `count` rounds in all, split over the connections.
const share = (c) => Math.floor(+count / conns) + (c < +count % conns ? 1 : 0);
await Promise.all(Array.from({ length: conns }, (_, c) => connection(share(c))));
agent.destroy();
console.log(JSON.stringify(statuses));
