// Kiosk screen: renders the anonymised feed and keeps it live over server-sent events.
// EventSource reconnects by itself; if it gives up (CLOSED), we open a new one.
"use strict";
(function () {
  const screen = document.body.dataset.screen;
  const list = document.getElementById("items");
  const none = document.getElementById("none");
  const conn = document.getElementById("conn");

  function fmtTime(iso) {
    const d = new Date(iso);
    return d.toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  }

  function render(feed) {
    document.getElementById("today").textContent = feed.counters.today;
    document.getElementById("week").textContent = feed.counters.week;
    document.getElementById("rule").textContent = feed.rule;
    document.getElementById("place").textContent = feed.place;
    const frag = document.createDocumentFragment();
    for (const it of feed.items) {
      const li = document.createElement("li");
      li.className = "item";
      li.dataset.item = it.item_id;
      if (it.image_url) {
        const img = document.createElement("img");
        img.src = it.image_url;
        img.alt = "Evidence photo, person blurred";
        li.appendChild(img);
      }
      const text = document.createElement("div");
      text.className = "text";
      for (const [cls, value] of [["when", fmtTime(it.occurred)], ["what", it.offence], ["fine", "Fine " + it.fine]]) {
        const p = document.createElement("p");
        p.className = cls;
        p.textContent = value;
        text.appendChild(p);
      }
      li.appendChild(text);
      frag.appendChild(li);
    }
    list.replaceChildren(frag);
    none.hidden = feed.items.length > 0;
    document.body.dataset.version = String(Number(document.body.dataset.version || 0) + 1);
  }

  let source = null;
  function connect() {
    source = new EventSource("/display/" + encodeURIComponent(screen) + "/events");
    source.addEventListener("feed", (e) => {
      conn.textContent = "live";
      conn.classList.remove("lost");
      render(JSON.parse(e.data));
    });
    source.onerror = () => {
      conn.textContent = "reconnecting…";
      conn.classList.add("lost");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, 2000);
      }
    };
  }

  render(JSON.parse(document.getElementById("initial").textContent));
  connect();
})();
