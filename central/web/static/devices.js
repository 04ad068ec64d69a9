// Devices page: reload the table every 15 s (the page's own HTML, same session) unless
// the user switched it off; announce the update time politely.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  var said = document.getElementById("refreshed");
  if (!box) return;
  function refresh() {
    if (!box.checked) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("device-table");
        var old = document.getElementById("device-table");
        if (fresh && old) old.replaceWith(fresh);
        if (said) said.textContent = "Updated " + new Date().toLocaleTimeString();
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      })
      .catch(function (e) { if (said) said.textContent = "Refresh failed (" + e.message + "); retrying"; });
  }
  setInterval(refresh, Number(box.dataset.everyMs || 15000));
})();
