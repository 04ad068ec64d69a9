// Event review: draws the crossing zone, the person's box and the signal head on each
// evidence frame (canvas over the image, in the image's own pixel coordinates), and
// keyboard shortcuts for the decision.
"use strict";
(function () {
  const holder = document.getElementById("frames");
  if (holder) {
    const geo = JSON.parse(holder.dataset.geometry || "{}");
    for (const box of holder.querySelectorAll(".overlay-box")) {
      const img = box.querySelector("img");
      const canvas = box.querySelector("canvas");
      const draw = () => {
        const w = img.naturalWidth, h = img.naturalHeight;
        if (!w || !h) return;
        canvas.width = w;
        canvas.height = h;
        const g = canvas.getContext("2d");
        const lw = Math.max(2, Math.round(w / 300));
        g.lineWidth = lw;
        if (geo.zone && geo.zone.length >= 3) {
          g.beginPath();
          g.moveTo(geo.zone[0][0], geo.zone[0][1]);
          for (const [x, y] of geo.zone.slice(1)) g.lineTo(x, y);
          g.closePath();
          g.fillStyle = "rgba(255, 200, 0, 0.18)";
          g.fill();
          g.strokeStyle = "#ffc800";
          g.stroke();
        }
        if (geo.bbox) {
          const [x1, y1, x2, y2] = geo.bbox;
          g.strokeStyle = "#00e5ff";
          g.strokeRect(x1, y1, x2 - x1, y2 - y1);
        }
        if (geo.roi) {
          const [x, y, rw, rh] = geo.roi;
          g.strokeStyle = "#ff3b3b";
          g.lineWidth = lw * 1.5;
          g.strokeRect(x, y, rw, rh);
        }
        canvas.dataset.drawn = "1";
      };
      if (img.complete) draw(); else img.addEventListener("load", draw);
    }
  }

  const confirmForm = document.getElementById("confirm-form");
  const rejectForm = document.getElementById("reject-form");
  const reason = document.getElementById("reason");
  document.addEventListener("keydown", (e) => {
    const tag = (e.target.tagName || "").toLowerCase();
    if (e.ctrlKey || e.metaKey || e.altKey || tag === "input" || tag === "textarea") return;
    const k = e.key.toLowerCase();
    if (k === "c" && confirmForm) {
      e.preventDefault();
      confirmForm.requestSubmit();
    } else if (k === "r" && rejectForm) {
      e.preventDefault();
      if (!reason.value) { reason.focus(); return; }
      rejectForm.requestSubmit();
    } else if (/^[1-6]$/.test(k) && reason && tag !== "select") {
      reason.selectedIndex = Number(k);
    } else if (k === "n") {
      window.location.href = "/console/queue";
    }
  });
})();
