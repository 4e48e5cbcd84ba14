// Comparison for "rate-limited → 429": an in-memory per-isolate GCRA keyed by route, in JS.
const tat = new Map();
export default {
  fetch(request, env) {
    const limit = Number(env.LIMIT), period = Number(env.PERIOD_SECS) * 1000;
    const interval = period / limit, now = Date.now();
    const key = "limited:" + new URL(request.url).pathname.split("/")[1];
    const t = Math.max(tat.get(key) ?? now, now);
    if (t - now > period - interval) {
      const retry = Math.ceil((t - now - (period - interval)) / 1000);
      return new Response(JSON.stringify({ error: "rate_limited" }), {
        status: 429, headers: { "content-type": "application/json", "retry-after": String(retry) },
      });
    }
    tat.set(key, t + interval);
    return fetch(env.ORIGIN_URL + new URL(request.url).pathname, request);
  },
};
