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

  /* Live updates: an element with data-live="<event kind>" reloads its htmx source when an
     event of that kind arrives on the user's stream (/api/v1/events through the session). */
  function liveUpdates() {
    if (!document.querySelector("[data-live]") || !window.EventSource) return;
    var source = new EventSource("/events");
    var refresh = function (kind) {
      /* Looked up on each event: a swap may have replaced the elements since. */
      document.querySelectorAll("[data-live]").forEach(function (el) {
        if (el.getAttribute("data-live").split(" ").indexOf(kind) >= 0) {
          htmx.trigger(el, "live");
        }
      });
    };
    /* The kinds the server's stream carries (platform/events). */
    ["message.created", "conversation.read", "viewing.updated", "notification.created"].forEach(function (kind) {
      source.addEventListener(kind, function () { refresh(kind); });
    });
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
