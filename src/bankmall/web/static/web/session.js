// Idle-timeout warning for signed-in pages (loaded only there; no inline script, strict CSP).
//
// The page's <body> carries the settings as data attributes: the idle limit of this kind of
// user, how long before it to warn, and the URLs to ask. Shortly before the session would time
// out, the page asks the server how long is really left (another tab may have kept the session
// alive; asking does not count as activity). If the end is near it shows the warning dialog;
// "Stay signed in" posts to the keep-alive URL, which restarts the server's idle timer. When the
// time is up and the server agrees, the page goes to the sign-in page, coming back here after.
"use strict";
(() => {
  const body = document.body;
  const idleSeconds = Number(body.dataset.sessionIdleSeconds);
  if (!idleSeconds) {
    return;
  }
  const warningSeconds = Math.min(Number(body.dataset.sessionWarningSeconds) || 60, idleSeconds);
  const dialog = document.getElementById("session-timeout-warning");
  const countdown = dialog ? dialog.querySelector("[data-session-countdown]") : null;
  const stayButton = document.getElementById("session-stay-signed-in");
  let checkTimer = null;
  let tickTimer = null;
  let deadline = 0;

  function goToSignIn() {
    const here = window.location.pathname + window.location.search;
    const login = new URL(body.dataset.sessionLoginUrl, window.location.href);
    login.searchParams.set("next", here);
    window.location.assign(login.toString());
  }

  function hideWarning() {
    window.clearInterval(tickTimer);
    tickTimer = null;
    if (dialog && dialog.open) {
      dialog.close();
    }
  }

  function schedule(secondsLeft) {
    window.clearTimeout(checkTimer);
    deadline = Date.now() + secondsLeft * 1000;
    const untilWarning = Math.max(0, secondsLeft - warningSeconds);
    checkTimer = window.setTimeout(check, untilWarning * 1000);
  }

  function tick() {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (countdown) {
      countdown.textContent = String(left);
    }
    if (left <= 0) {
      window.clearInterval(tickTimer);
      tickTimer = null;
      check();
    }
  }

  function showWarning() {
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
    if (tickTimer === null) {
      tick();
      tickTimer = window.setInterval(tick, 1000);
    }
  }

  async function ask(url, options) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": body.dataset.csrfToken || "" },
      redirect: "manual",
      ...options,
    });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("json")) {
      return { signed_in: false };
    }
    return response.json();
  }

  async function check() {
    let state;
    try {
      state = await ask(body.dataset.sessionStatusUrl, { method: "GET" });
    } catch (error) {
      // The server cannot be reached: trust the local clock until it can.
      state = { signed_in: true, seconds_left: Math.max(0, (deadline - Date.now()) / 1000) };
    }
    if (!state.signed_in || state.seconds_left <= 0) {
      hideWarning();
      goToSignIn();
      return;
    }
    if (state.seconds_left > warningSeconds + 1) {
      hideWarning(); // Another tab kept the session alive.
      schedule(state.seconds_left);
      return;
    }
    deadline = Date.now() + state.seconds_left * 1000;
    showWarning();
    window.clearTimeout(checkTimer);
    checkTimer = window.setTimeout(check, state.seconds_left * 1000 + 250);
  }

  async function staySignedIn() {
    let state;
    try {
      state = await ask(body.dataset.sessionKeepAliveUrl, { method: "POST" });
    } catch (error) {
      return; // Offline: keep the warning up; the check at the deadline decides.
    }
    if (!state.signed_in) {
      goToSignIn();
      return;
    }
    hideWarning();
    schedule(state.seconds_left);
  }

  if (stayButton) {
    stayButton.addEventListener("click", staySignedIn);
  }
  if (dialog) {
    // Escape would close the dialog without telling the server: treat it as "stay".
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      staySignedIn();
    });
  }
  // htmx requests are activity too: they restart the server's idle timer.
  document.addEventListener("htmx:afterRequest", () => {
    if (!tickTimer) {
      schedule(idleSeconds);
    }
  });
  schedule(idleSeconds);
})();
