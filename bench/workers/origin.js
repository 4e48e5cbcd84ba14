// The origin stub: answers 200 with a tiny body, reading any request body first.
export default {
  async fetch(request) {
    if (request.body) await request.arrayBuffer();
    return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  },
};
