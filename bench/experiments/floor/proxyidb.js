const ID = [["x-auth-user","user-1234"],["x-auth-roles","member,editor"],["x-auth-permissions","items:read,items:write"],["x-auth-issuer","https://issuer.example"],["x-auth-expires","1893459600"],["x-auth-session","sess-5678"],["x-request-id","0123456789abcdef0123456789abcdef"],["x-forwarded-proto","http"],["x-auth-signature","t=1763900000,v1=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]];
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.delete("host");
    for (const [k, v] of ID) headers.set(k, v);
    return env.ORIGIN.fetch("http://origin" + url.pathname + url.search, { method: request.method, headers, redirect: "manual" });
  },
};
