// Sends bench requests one after another on one keep-alive connection (the request from
// <req dir>/<name>.{method,headers,body}, as bench/req.lua reads them) and prints the statuses.
//   node bench/icount/drive.mjs <port> <path> <req dir> <name>[,<name>…] <count per name>
// With several names, they are sent round-robin (a warm-up that leaves the Worker's JS in the
// state a mixed workload does).
import http from "node:http";
import { existsSync, readFileSync } from "node:fs";

const [port, path, dir, names, count] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
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
for (let i = 0; i < +count; i++) {
  for (const r of reqs) {
    const status = await new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port: +port, path, method: r.method, headers: r.headers, agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      });
      req.on("error", reject);
      req.end(r.body ?? undefined);
    });
    statuses[status] = (statuses[status] || 0) + 1;
  }
}
agent.destroy();
console.log(JSON.stringify(statuses));
