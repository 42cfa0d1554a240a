// tiktok-signer: installed into every page before any page script runs.
//
// TikTok's SDK wraps window.fetch and XMLHttpRequest once byted_acrawler.init() has run:
// a request to an enabled path leaves the wrapper with its parameters appended (msToken,
// X-Bogus and X-Gnarly; 2026 builds X-Dynosaur first). This script puts stubs *under*
// those wrappers. While a job is being signed, no fetch and no XHR leaves the page: the one
// that is the job's (same method, origin and path, the query asked for followed by what
// the SDK appended) is recorded and answered with an empty JSON response; any other is
// refused. A job whose request never arrives, or arrives changed, is an error for that
// job, never a real request: the SDK percent-encodes what a browser would not ([ ] { } | ^
// ` \ and non-ASCII paths), a site script may rewrite URLs, and the caller's method and
// body must never reach TikTok from this machine. Outside a job (the site's own traffic in
// live mode) both pass untouched.
//
// Socket jobs (2026 builds) go to the signer byted_acrawler.registerWsSigner() returns:
// that call is one-shot (the function deletes itself), so setup() makes it once per page
// and the signer stays in this closure.
//
// A job may carry its own user agent: for that job navigator.userAgent, navigator.platform
// and navigator.userAgentData present that browser (the SDK reads the first two on every
// signature), then the page's own are back.
(() => {
  "use strict";
  if (window.__signer) return;
  const realFetch = typeof window.fetch === "function" ? window.fetch.bind(window) : null;
  const Xhr = window.XMLHttpRequest;
  const xhrOpen = Xhr.prototype.open;
  const xhrSend = Xhr.prototype.send;
  // The job being signed: {url, method, asked, captured, refused}, or null.
  const state = { job: null };
  // What each XHR was last opened with: the SDK opens it again with the signed URL in send().
  const opened = new WeakMap();

  // Escapes of these mean something else than the character itself (a query's & = + ;,
  // a path's /, #, ?, %): they stay escaped. Every other ASCII escape becomes its
  // character and every non-ASCII character its UTF-8 escapes, so "[" and "%5B", "é" and
  // "%C3%A9" or "%c3%a9", "\" and "%5C" compare equal.
  const DELIMITERS = new Set([0x23, 0x25, 0x26, 0x2b, 0x2f, 0x3b, 0x3d, 0x3f]);
  const HEX = /^[0-9A-Fa-f]{2}$/;
  const PLAIN = /^[\x00-\x24\x26-\x7f]*$/;

  function utf8(char) {
    try {
      return encodeURIComponent(char);
    } catch (error) {
      return "%EF%BF%BD"; // a lone surrogate, as TextEncoder writes it
    }
  }

  // A URL part with its percent-encoding normalised (see DELIMITERS).
  function canonical(part) {
    if (PLAIN.test(part)) return part; // ASCII without escapes: nothing to normalise
    let out = "";
    for (let i = 0; i < part.length; ) {
      const escape = part.slice(i + 1, i + 3);
      const code = part.charCodeAt(i);
      if (code === 0x25 && HEX.test(escape)) {
        const byte = parseInt(escape, 16);
        const keep = byte >= 0x80 || DELIMITERS.has(byte);
        out += keep ? "%" + escape.toUpperCase() : String.fromCharCode(byte);
        i += 3;
      } else if (code >= 0x80) {
        const char = String.fromCodePoint(part.codePointAt(i));
        out += utf8(char);
        i += char.length;
      } else {
        out += part[i];
        i += 1;
      }
    }
    return out;
  }

  // Origin through the URL parser (default ports, case, relative URLs); path and query
  // as written, since the parser would turn a path's "\" into "/" but the SDK does not.
  function parts(url) {
    let origin;
    try {
      origin = new URL(url, location.href).origin;
    } catch (error) {
      return null;
    }
    const rest = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, "").split("#")[0];
    const at = rest.indexOf("?");
    const path = at === -1 ? rest : rest.slice(0, at);
    return {
      origin,
      path: canonical(path || "/"),
      query: canonical(at === -1 ? "" : rest.slice(at + 1)),
    };
  }

  // The SDK appends whole parameters: what follows the query asked for starts with "&"
  // ("?" when there was none).
  function isPrefix(seen, asked, separator) {
    if (!seen.startsWith(asked)) return false;
    const next = seen.charAt(asked.length);
    return next === "" || next === separator || asked === "";
  }

  function isJobs(job, method, url) {
    if (String(method || "GET").toUpperCase() !== job.method) return false;
    // Most URLs reach the stub as they were asked, with the SDK's parameters appended.
    if (isPrefix(url, job.url, job.url.includes("?") ? "&" : "?")) return true;
    const seen = parts(url);
    if (job.asked === null) job.asked = parts(job.url);
    const asked = job.asked;
    if (seen === null || asked === null) return false;
    if (seen.origin !== asked.origin || seen.path !== asked.path) return false;
    return isPrefix(seen.query, asked.query, "&");
  }

  // During a job: true when this request is the job's (recorded), false when refused.
  function intercept(job, method, url) {
    if (job.captured === null && isJobs(job, method, url)) {
      job.captured = url;
      return true;
    }
    job.refused += 1;
    return false;
  }

  window.fetch = function fetch(input, init) {
    const job = state.job;
    if (job === null) {
      if (realFetch === null) return Promise.reject(new TypeError("fetch is unavailable"));
      return realFetch(input, init);
    }
    const isRequest = typeof Request === "function" && input instanceof Request;
    const url = isRequest ? input.url : String(input);
    const method = (init && init.method) || (isRequest ? input.method : "GET");
    if (intercept(job, method, url)) {
      return Promise.resolve(
        new Response("{}", { status: 200, headers: { "content-type": "application/json" } }),
      );
    }
    return Promise.reject(new TypeError("Failed to fetch"));
  };

  Xhr.prototype.open = function open(method, url, ...rest) {
    opened.set(this, [method, String(url)]);
    return xhrOpen.call(this, method, url, ...rest);
  };

  Xhr.prototype.send = function send(...args) {
    const job = state.job;
    if (job === null) return xhrSend.apply(this, args);
    const [method, url] = opened.get(this) || ["GET", ""];
    finish(this, intercept(job, method, url));
    return undefined;
  };

  // Complete an XHR that never went out, as the network would: "{}" or a network error.
  function finish(xhr, ok) {
    const body = ok ? (xhr.responseType === "json" ? {} : "{}") : "";
    const fields = {
      readyState: 4,
      status: ok ? 200 : 0,
      statusText: ok ? "OK" : "",
      response: body,
      responseText: ok ? "{}" : "",
    };
    for (const [name, value] of Object.entries(fields)) {
      Object.defineProperty(xhr, name, { configurable: true, value });
    }
    setTimeout(() => {
      xhr.dispatchEvent(new Event("readystatechange"));
      xhr.dispatchEvent(new ProgressEvent(ok ? "load" : "error"));
      xhr.dispatchEvent(new ProgressEvent("loadend"));
    }, 0);
  }

  // The page's own navigator, put back after every job that presents another browser.
  const NAVIGATOR_PROPS = ["userAgent", "platform", "userAgentData"];
  const ownNavigator = NAVIGATOR_PROPS.map((name) => [
    name,
    Object.getOwnPropertyDescriptor(Navigator.prototype, name),
  ]);

  // What navigator.userAgentData shows for a job's browser (undefined: not a Chromium).
  function uaData(data) {
    if (data === null) return undefined;
    const low = { brands: data.brands, mobile: data.mobile, platform: data.platform };
    return Object.freeze({
      brands: data.brands,
      mobile: data.mobile,
      platform: data.platform,
      getHighEntropyValues: (hints) => {
        const out = { ...low };
        for (const hint of hints || []) if (hint in data) out[hint] = data[hint];
        return Promise.resolve(out);
      },
      toJSON: () => low,
    });
  }

  // Present another browser for the length of one job: [userAgent, platform, uaData].
  function present(browser) {
    const [userAgent, platform, data] = browser;
    const values = { userAgent, platform, userAgentData: uaData(data) };
    for (const [name, own] of ownNavigator) {
      if (name === "platform" && platform === null) continue; // the UA names no OS
      if (own === undefined && name === "userAgentData" && values[name] === undefined) continue;
      Object.defineProperty(Navigator.prototype, name, {
        configurable: true,
        enumerable: own ? own.enumerable : true,
        get: () => values[name],
      });
    }
  }

  function restore() {
    for (const [name, own] of ownNavigator) {
      if (own === undefined) delete Navigator.prototype[name];
      else Object.defineProperty(Navigator.prototype, name, own);
    }
  }

  // Errors carry no URL: they end up in logs and in the chain's causes.
  function failed(error) {
    return "!" + String(error).replace(/\w[\w+.-]*:\/\/\S*/g, "<url>");
  }

  async function signHttp(url, method, body) {
    const job = { url, method: method.toUpperCase(), asked: null, captured: null, refused: 0 };
    let failure = null;
    state.job = job;
    try {
      await window.fetch(url, method === "GET" ? { method } : { method, body });
    } catch (error) {
      failure = error;
    } finally {
      state.job = null;
    }
    if (job.captured !== null) return job.captured;
    if (job.refused > 0) return "!the request the SDK produced is not the one asked; refused";
    if (failure !== null) return failed(failure);
    return "!not intercepted";
  }

  // The socket signer of this page (see setup), or null.
  let wsSigner = null;

  function signWs(query) {
    if (wsSigner === null) return "!this SDK build has no socket signer";
    // No request may leave while the signer runs: a job no request can match.
    state.job = { url: "\u0000", method: "\u0000", asked: null, captured: null, refused: 0 };
    try {
      const out = wsSigner({ "X-MS-Q": query, "X-MS-STUB": "" });
      const token = out && out["X-Gnarly"];
      return typeof token === "string" && token !== "" ? token : "!the socket signer gave no X-Gnarly";
    } catch (error) {
      return failed(error);
    } finally {
      state.job = null;
    }
  }

  // After the SDK's init: take the page's socket signer, once. Returns what the page has.
  function setup() {
    const sdk = window.byted_acrawler;
    if (wsSigner === null && sdk && typeof sdk.registerWsSigner === "function") {
      try {
        const signer = sdk.registerWsSigner();
        if (typeof signer === "function") wsSigner = signer;
      } catch (error) {
        wsSigner = null;
      }
    }
    return { ws: wsSigner !== null };
  }

  // One job: ["http", url, method, body, browser | null] or ["ws", query, "", "", browser |
  // null], where browser is [userAgent, platform, uaData | null]. Returns the URL the SDK
  // produced (http), the X-Gnarly (ws), or "!" followed by the error.
  async function signOne(job) {
    const [kind, url, method, body, browser] = job;
    if (browser !== null) present(browser);
    try {
      return kind === "ws" ? signWs(url) : await signHttp(url, method, body);
    } finally {
      if (browser !== null) restore();
    }
  }

  // One batch at a time: a job must never see another job's requests.
  let tail = Promise.resolve();

  // Sign a batch of jobs (see signOne), in order.
  function sign(jobs) {
    const run = tail.then(async () => {
      const out = [];
      for (const job of jobs) out.push(await signOne(job));
      return out;
    });
    tail = run.catch(() => undefined);
    return run;
  }

  // The in-page limit: sign n jobs (taken from jobs in turn) in one loop, with no round trip
  // between them; returns the milliseconds spent (the benchmark compares the pool with it).
  function loop(jobs, n) {
    const run = tail.then(async () => {
      const started = performance.now();
      for (let i = 0; i < n; i += 1) {
        const out = await signOne(jobs[i % jobs.length]);
        if (out.startsWith("!")) throw new Error(out.slice(1));
      }
      return performance.now() - started;
    });
    tail = run.catch(() => undefined);
    return run;
  }

  Object.defineProperty(window, "__signer", {
    value: Object.freeze({ sign, setup, loop }),
    enumerable: false,
  });
})();
