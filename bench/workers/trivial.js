// Start-up baseline: the smallest Worker there is.
export default { fetch() { return new Response("ok\n"); } };
