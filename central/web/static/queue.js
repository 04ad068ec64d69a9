// Live queue: the server says "queue" (SSE) when events, decisions or claims change;
// the table body of this same page (same filter, same cursor) is fetched again.
(function () {
  "use strict";
  const table = document.getElementById("queue-table");
  if (!table || !window.EventSource) return;
  const body = document.getElementById("queue-rows");
  const live = document.getElementById("queue-live");
  const count = document.getElementById("queue-count");
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(table.dataset.rows + location.search, { credentials: "same-origin" });
      if (r.ok) {
        const before = body.querySelectorAll("tr[data-event]").length;
        body.innerHTML = await r.text();
        const after = body.querySelectorAll("tr[data-event]").length;
        const total = r.headers.get("X-Queue-Total");
        if (total !== null && count) count.textContent = count.textContent.replace(/^\(\d+/, "(" + total);
        live.textContent = "Updated " + new Date().toLocaleTimeString() +
          (after > before ? ": " + (after - before) + " new" : "");
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  const es = new EventSource(table.dataset.live);
  es.addEventListener("queue", refresh);
  // On every (re)connection: catch up on what changed before the stream started.
  es.addEventListener("ready", function () {
    refresh().then(function () { table.dataset.connected = "1"; });
  });
})();
