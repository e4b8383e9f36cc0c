/* SichrPlace: what the pages do beyond HTML (they all work without it, for reading, search
   and forms). No inline scripts anywhere: the Content-Security-Policy forbids them. */
(function () {
  "use strict";
  var body = document.body;

  /* Real-user metrics: LCP, INP, CLS and TTFB of this page view (web-vitals), sampled, sent
     once each when the page is hidden (sendBeacon survives the unload). */
  function reportVitals() {
    if (!window.webVitals || !navigator.sendBeacon) return;
    var rate = parseFloat(body.getAttribute("data-rum") || "0");
    if (!(Math.random() < rate)) return;
    var page = body.getAttribute("data-page") || "other";
    var send = function (metric) {
      var report = JSON.stringify({ page: page, name: metric.name, value: metric.value, id: metric.id });
      navigator.sendBeacon("/api/v1/rum", new Blob([report], { type: "application/json" }));
    };
    webVitals.onLCP(send);
    webVitals.onINP(send);
    webVitals.onCLS(send);
    webVitals.onTTFB(send);
  }

  /* Live updates: an element with data-live="<event kinds>" reloads its htmx source when an
     event of such a kind arrives on the user's stream (/events, through the session cookie).
     A stream the server refused (its access cookie expired: 401) is opened again after
     /sitzung has refreshed the cookie; then every live element reloads, as events may have
     been missed meanwhile. */
  var KINDS = ["message.created", "conversation.read", "viewing.updated", "notification.created"];

  function refreshLive(kind) {
    /* Looked up on each event: a swap may have replaced the elements since. */
    document.querySelectorAll("[data-live]").forEach(function (el) {
      if (!kind || el.getAttribute("data-live").split(" ").indexOf(kind) >= 0) {
        htmx.trigger(el, "live");
      }
    });
  }

  function liveUpdates() {
    if (!document.querySelector("[data-live]") || !window.EventSource) return;
    var wait = 1000, reopened = false;
    var open = function () {
      var source = new EventSource("/events");
      KINDS.forEach(function (kind) {
        source.addEventListener(kind, function () { refreshLive(kind); });
      });
      source.onopen = function () {
        wait = 1000;
        if (reopened) refreshLive(null);
      };
      source.onerror = function () {
        if (source.readyState !== EventSource.CLOSED) return; /* the browser reconnects */
        source.close();
        reopened = true;
        setTimeout(function () {
          fetch("/sitzung", { credentials: "same-origin" }).then(open, open);
        }, wait);
        wait = Math.min(wait * 2, 30000);
      };
    };
    open();
  }

  /* After a form swapped in new messages, keep the newest in view. */
  function scrollMessages() {
    var list = document.querySelector(".messages");
    if (list) list.scrollTop = list.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", function () {
    reportVitals();
    liveUpdates();
    scrollMessages();
  });
  document.addEventListener("htmx:afterSwap", scrollMessages);
})();
