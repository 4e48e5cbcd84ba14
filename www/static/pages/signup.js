// The signup page's own script (www/signup.html); a file, so the pages' CSP needs no inline script.
import { api, errorText } from "/static/api.js";
const form = document.getElementById("form");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const creds = JSON.stringify({ email: form.email.value, password: form.password.value });
  const res = await api("/auth/signup", { method: "POST", body: creds });
  if (!res.ok) return (document.getElementById("error").textContent = await errorText(res));
  const login = await api("/auth/login", { method: "POST", body: creds });
  location.href = login.ok ? "/account" : "/login";
});
// The form is usable once this script handles it: a click before would submit it natively.
form.querySelector("button[type=submit]").disabled = false;
