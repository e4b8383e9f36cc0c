/* The search results on a map (Leaflet). The markers come from the results list on the page
   (data-lat/data-lng), so they show even when the tile server cannot be reached. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("map");
    if (!el || !window.L) return;
    var map = L.map(el, { scrollWheelZoom: false });
    L.tileLayer(el.getAttribute("data-tiles"), {
      maxZoom: 18, attribution: el.getAttribute("data-attribution") || ""
    }).addTo(map);
    var bounds = [];
    document.querySelectorAll("[data-lat][data-lng]").forEach(function (item) {
      var lat = parseFloat(item.getAttribute("data-lat")), lng = parseFloat(item.getAttribute("data-lng"));
      if (isNaN(lat) || isNaN(lng)) return;
      var link = item.querySelector("a");
      var marker = L.circleMarker([lat, lng], { radius: 8, weight: 2, color: "#0b5cad", fillOpacity: 0.6 }).addTo(map);
      if (link) {
        var popup = document.createElement("a");
        popup.href = link.getAttribute("href");
        popup.textContent = link.textContent;
        marker.bindPopup(popup);
      }
      bounds.push([lat, lng]);
    });
    if (bounds.length) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 15 });
    else map.setView([51.1657, 10.4515], 6);
  });
})();
