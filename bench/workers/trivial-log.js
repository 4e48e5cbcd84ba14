// Start-up baseline for a Worker that logs: the trivial Worker plus one JSON log line per
// request, like the edge's. workerd's first console.log in an isolate loads its formatting
// module, a cost every logging Worker pays once.
export default {
  fetch() {
    console.log('{"request_id":"0123456789abcdef0123456789abcdef","decision":"forward","status":200}');
    return new Response("ok\n");
  },
};
