// The map page: report locations (the markers JSON of this page) on a Leaflet map served
// from this site; no tile layer (no outside requests). Sets data-drawn to the marker count.
(function () {
  var box = document.getElementById("map");
  if (!box || !window.L) { return; }
  var lang = box.getAttribute("data-lang");
  var map = L.map(box, { attributionControl: false, zoomSnap: 0.25 }).setView([13.0, 101.0], 5);
  fetch(box.getAttribute("data-markers"))
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var group = L.featureGroup();
      data.markers.forEach(function (m) {
        var label = lang === "en" ? m.category_label_en : m.category_label_th;
        var text = box.getAttribute("data-popup")
          .replace("{category}", label).replace("{households}", m.households.toLocaleString());
        var marker = L.circleMarker([m.lat, m.lon], { radius: 6, color: "#1e4e79", weight: 1,
          fillColor: "#f2a93b", fillOpacity: 0.85 });
        var popup = document.createElement("span");
        popup.textContent = text;
        marker.bindPopup(popup);
        group.addLayer(marker);
      });
      group.addTo(map);
      if (data.markers.length) { map.fitBounds(group.getBounds(), { maxZoom: 11, padding: [16, 16] }); }
      box.setAttribute("data-drawn", String(data.markers.length));
    });
}());
