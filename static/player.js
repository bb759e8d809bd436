/*
 * vodgate watch page glue: plays the gated HLS stream and tells the viewer why it stopped.
 *
 * Everything comes from data- attributes on <video id="player"> (no inline script: the page
 * runs under `script-src 'self'`). The stream is same-origin; the HttpOnly session cookie is
 * sent by the browser on every playlist, key and segment request, so no custom header is
 * ever set here.
 *
 * Revocation: the gateway answers the next playlist/key/segment request with 403. hls.js
 * keeps only a few seconds of buffer, so that request comes within one segment. The status
 * endpoint is polled every 2 s (10 s in CDN delivery; at once on any load error) to learn *why*, and the
 * player is then torn down for real, not just paused.
 */
(function () {
  'use strict';

  // The page says how often (data-poll-ms): 2 s in relay, 10 s in CDN delivery, where a
  // refused key already triggers a check at once and the poll is the cookie's renewal.
  var POLL_MS = 2000;
  var WARN_AT_S = 300;
  // Short buffer so a revocation bites at the next segment rather than minutes later.
  var HLS_CONFIG = {
    maxBufferLength: 4,
    maxMaxBufferLength: 8,
    backBufferLength: 10
    // hls.js transmuxes in a Worker built from a blob: URL: the CSP allows `worker-src blob:`
    // (src/security.rs); without it hls.js falls back to the main thread.
  };
  var DENY_STATUSES = { 403: true, 404: true, 410: true };
  // Codes that mean "this rental may not play"; any other 5xx/429 code is a hiccup.
  var DENY_CODES = {
    expired: 'Your rental period has ended.',
    revoked: 'Access to this video was withdrawn by the site.',
    refunded: 'This rental was refunded, so it can no longer be watched.',
    not_started: 'This rental has not started yet.',
    start_window_passed: 'The time to start watching this rental has passed.',
    too_many_streams: 'This rental is already playing on too many screens. Stop one of them and try again.',
    age_gate_required: 'Please confirm your age before watching.',
    unknown_entitlement: 'This watch link is not valid.',
    session_mismatch: 'This player session belongs to another browser. Open your own watch link.',
    upstream_unavailable: 'The video source is not reachable right now. Try again in a minute.'
  };
  var MAX_RECOVERIES = 3;

  var video = document.getElementById('player');
  if (!video) { return; }
  // CDN delivery with cookie tokens: segments load from the CDN's origin, and the CDN's
  // cookie must go with them (the CDN answers CORS with credentials for vodgate's origin).
  if (video.dataset.credentials === 'include') {
    HLS_CONFIG.xhrSetup = function (xhr) { xhr.withCredentials = true; };
  }

  POLL_MS = parseInt(video.dataset.pollMs, 10) || POLL_MS;
  var src = video.dataset.src;
  var statusUrl = video.dataset.status;
  var timeLeftEl = document.getElementById('time-left');
  var warningEl = document.getElementById('expiry-warning');
  var deniedEl = document.getElementById('denied');
  var deniedMsgEl = document.getElementById('denied-message');
  var deniedCodeEl = document.getElementById('denied-code');

  var initial = parseInt(video.dataset.secondsLeft, 10);
  var deadline = Date.now() + (isNaN(initial) ? 0 : initial) * 1000;
  var hls = null;
  var denied = false;
  var inflight = false;
  var again = false;
  var recoveries = 0;
  var pollTimer = null;

  function pad2(n) { return (n < 10 ? '0' : '') + n; }

  // "1 h 02 min", "4 min 05 s", "42 s": the same wording as pages::format_time_left.
  function formatTimeLeft(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h > 0) { return h + ' h ' + pad2(m) + ' min'; }
    if (m > 0) { return m + ' min ' + pad2(sec) + ' s'; }
    return sec + ' s';
  }

  // Until the rental clock starts (no expires_at yet) the time left stands still.
  var frozenLeft = video.dataset.expiresAt ? null : (isNaN(initial) ? 0 : initial);
  function secondsLeft() {
    if (frozenLeft !== null) { return Math.max(0, frozenLeft); }
    return Math.max(0, Math.round((deadline - Date.now()) / 1000));
  }

  function tick() {
    var left = secondsLeft();
    if (timeLeftEl) { timeLeftEl.textContent = formatTimeLeft(left); }
    if (warningEl) { warningEl.hidden = denied || !(left <= WARN_AT_S && left > 0); }
  }

  // "(until 23 Nov 2026, 05:04)" in the viewer's own time zone; the page renders RFC 3339.
  var shownExpiry = null;
  function showExpiry(iso) {
    var note = document.getElementById('expires-note');
    if (!note || !iso || iso === shownExpiry) { return; }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return; }
    shownExpiry = iso;
    var t = document.createElement('time');
    t.id = 'expires-at';
    t.dateTime = iso;
    try {
      t.textContent = d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    } catch (e) {
      t.textContent = d.toLocaleString();
    }
    note.textContent = '(until ';
    note.appendChild(t);
    note.appendChild(document.createTextNode(')'));
  }

  function stopPlayback() {
    if (hls) {
      var h = hls;
      hls = null;
      try { h.stopLoad(); } catch (e) { /* already stopped */ }
      try { h.detachMedia(); } catch (e) { /* already detached */ }
      try { h.destroy(); } catch (e) { /* already destroyed */ }
    }
    try { video.pause(); } catch (e) { /* nothing to pause */ }
    video.removeAttribute('src');
    try { video.load(); } catch (e) { /* nothing to reset */ }
  }

  function deny(code, message) {
    if (denied) { return; }
    denied = true;
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    stopPlayback();
    code = code || 'denied';
    deniedEl.dataset.code = code;
    deniedMsgEl.textContent = message || DENY_CODES[code] || 'This video can no longer be played.';
    deniedCodeEl.textContent = code;
    deniedEl.hidden = false;
    if (warningEl) { warningEl.hidden = true; }
    document.body.dataset.state = 'denied';
    tick();
  }

  function readJson(r) {
    return r.text().then(function (t) {
      var body = null;
      try { body = JSON.parse(t); } catch (e) { body = null; }
      return { ok: r.ok, status: r.status, body: body };
    });
  }

  function onStatus(res) {
    var b = res.body || {};
    if (res.ok) {
      if (typeof b.seconds_left === 'number') {
        deadline = Date.now() + b.seconds_left * 1000;
        frozenLeft = b.expires_at ? null : b.seconds_left;
      }
      if (b.expires_at) { showExpiry(b.expires_at); }
      if (b.state === 'denied') { deny(b.code, b.message); return; }
      tick();
      return;
    }
    // problem+json: {code, detail}. 429/5xx without a deny code is a hiccup: poll again.
    var transient = (res.status === 429 || res.status >= 500) && !(b.code && DENY_CODES[b.code]);
    if (!transient) { deny(b.code, b.detail || b.message); }
  }

  // One status request at a time; a request asked for meanwhile runs right after.
  function checkStatus() {
    if (denied || !statusUrl) { return Promise.resolve(); }
    if (inflight) { again = true; return Promise.resolve(); }
    inflight = true;
    return fetch(statusUrl, { credentials: 'same-origin', cache: 'no-store' })
      .then(readJson)
      .then(onStatus, function () { /* network hiccup: the next poll retries */ })
      .then(function () {
        inflight = false;
        if (again) { again = false; return checkStatus(); }
      });
  }

  function tryPlay() {
    var p = video.play();
    // Autoplay may be refused until the viewer clicks: the controls are there for that.
    if (p && p.catch) { p.catch(function () {}); }
  }

  function startHls() {
    hls = new Hls(HLS_CONFIG);
    hls.on(Hls.Events.MANIFEST_PARSED, tryPlay);
    hls.on(Hls.Events.ERROR, function (_event, data) {
      if (denied) { return; }
      var httpStatus = data && data.response && data.response.code;
      if (DENY_STATUSES[httpStatus] || (data && data.fatal)) {
        checkStatus().then(function () {
          if (denied || !hls || !data.fatal) { return; }
          // Still allowed: a network or media hiccup. Recover a few times, then give up.
          if (recoveries >= MAX_RECOVERIES) {
            deny('playback_error', 'The video could not be played. Reload the page to try again.');
            return;
          }
          recoveries += 1;
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); } else { hls.startLoad(); }
        });
      }
    });
    hls.on(Hls.Events.FRAG_LOADED, function () { recoveries = 0; });
    hls.loadSource(src);
    hls.attachMedia(video);
  }

  function startNative() {
    // Safari / iOS: native HLS, same-origin, the cookie goes along by itself.
    video.addEventListener('loadedmetadata', tryPlay, { once: true });
    video.src = src;
  }

  video.addEventListener('playing', function () {
    if (!denied) { document.body.dataset.state = 'playing'; }
  });
  video.addEventListener('error', function () {
    if (!denied) { checkStatus(); }
  });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { checkStatus(); }
  });

  showExpiry(video.dataset.expiresAt);
  tick();
  // The countdown keeps running after a denial so it still reads right.
  setInterval(tick, 1000);
  pollTimer = setInterval(checkStatus, POLL_MS);
  checkStatus();

  if (!src) {
    deny('playback_error', 'This page has no stream to play.');
  } else if (window.Hls && Hls.isSupported()) {
    startHls();
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    startNative();
  } else {
    deny('unsupported_browser', 'This browser cannot play the video. Try a current Chrome, Firefox, Edge or Safari.');
  }
})();
