// tiktok-signer: installed into every page before any page script runs.
//
// TikTok's SDK wraps window.fetch once byted_acrawler.init() has run: a fetch to an
// enabled path leaves the wrapper with msToken, X-Bogus and X-Gnarly appended. This
// script puts a stub *under* that wrapper. While the signer is capturing, the stub
// records the URL the wrapper produced and answers with an empty JSON response, so
// nothing leaves the page; any other fetch (the site's own, in live mode) goes to the
// real fetch untouched.
(() => {
  "use strict";
  if (window.__signer) return;
  const realFetch = typeof window.fetch === "function" ? window.fetch.bind(window) : null;
  const state = { expect: null, captured: null };

  window.fetch = function fetch(input, init) {
    const url = typeof input === "string" ? input : input && input.url ? input.url : String(input);
    if (state.expect !== null && url.startsWith(state.expect)) {
      state.captured = url;
      return Promise.resolve(
        new Response("{}", { status: 200, headers: { "content-type": "application/json" } }),
      );
    }
    if (realFetch === null) return Promise.reject(new TypeError("fetch is unavailable"));
    return realFetch(input, init);
  };

  const uaDescriptor = Object.getOwnPropertyDescriptor(Navigator.prototype, "userAgent");

  // Sign a batch: jobs are [url, method, body, userAgent | null]. Returns, per job, the
  // URL the SDK produced, or "!" followed by the error.
  async function sign(jobs) {
    const out = [];
    for (const [url, method, body, userAgent] of jobs) {
      const override = userAgent !== null && userAgent !== navigator.userAgent;
      if (override) {
        // The SDK reads navigator.userAgent on every request (it hashes it).
        Object.defineProperty(Navigator.prototype, "userAgent", {
          configurable: true,
          get: () => userAgent,
        });
      }
      state.expect = url;
      state.captured = null;
      try {
        const init = method === "GET" ? { method } : { method, body };
        await window.fetch(url, init);
        out.push(state.captured === null ? "!not intercepted" : state.captured);
      } catch (error) {
        out.push("!" + String(error));
      } finally {
        state.expect = null;
        if (override) Object.defineProperty(Navigator.prototype, "userAgent", uaDescriptor);
      }
    }
    return out;
  }

  Object.defineProperty(window, "__signer", { value: Object.freeze({ sign }), enumerable: false });
})();
