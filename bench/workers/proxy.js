// Comparison: a plain JS pass-through proxy, no auth (the floor for "auth nearly free").
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, request);
  },
};
