export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return env.ORIGIN.fetch("http://origin" + url.pathname + url.search, request);
  },
};
