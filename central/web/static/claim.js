// Keeps this operator's claim on the case while the page is open (renewed every minute,
// the lease is five) and gives it back when the page is left without a decision.
(function () {
  "use strict";
  const banner = document.getElementById("claim-banner");
  if (!banner || !banner.dataset.csrf) return;
  const id = banner.dataset.event, csrf = banner.dataset.csrf;
  let deciding = false;
  document.querySelectorAll("form").forEach(function (f) {
    f.addEventListener("submit", function () { deciding = true; });
  });
  function form() { const d = new FormData(); d.append("csrf_token", csrf); return d; }
  async function renew() {
    const r = await fetch("/console/events/" + encodeURIComponent(id) + "/claim",
      { method: "POST", body: form(), credentials: "same-origin" });
    if (r.ok) {
      const until = new Date((await r.json()).until);
      document.getElementById("claim-until").textContent = until.toISOString().slice(0, 19).replace("T", " ") + " UTC";
    } else if (r.status === 409) {
      const j = await r.json().catch(function () { return {}; });
      banner.className = "msg error claim";
      banner.textContent = "This case is now being reviewed by " + (j.claimed_by || "someone else") +
        ": your decision would be refused. Go back to the queue.";
      document.querySelectorAll(".decide button").forEach(function (b) { b.disabled = true; });
    }
  }
  setInterval(renew, 60000);
  window.addEventListener("pagehide", function () {
    if (!deciding) navigator.sendBeacon("/console/events/" + encodeURIComponent(id) + "/release", form());
  });
})();
