// The origin stub: answers 200 with a tiny body (reading any request body first), and an empty
// page of the revocation feed the edge polls.
export default {
  async fetch(request) {
    if (new URL(request.url).pathname === "/internal/revocations") {
      return Response.json({ revocations: [], next: "0" });
    }
    if (request.body) await request.arrayBuffer();
    return new Response("ok\n", { headers: { "content-type": "text/plain" } });
  },
};
