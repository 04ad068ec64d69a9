// Event review: draws the crossing zone, that frame's person box and foot point and the
// signal head on each evidence still (canvas over the image, in the image's own pixel
// coordinates), the clip's frame controls, and keyboard shortcuts for the decision.
"use strict";
(function () {
  // Each still draws its OWN frame's truth: the violator's box and foot point on that
  // frame (schema 2), the zone and the signal head. Coordinates are scene pixels; a data
  // bar burned in below the scene makes the image taller, never shifts them.
  for (const box of document.querySelectorAll(".overlay-box[data-geometry]")) {
    drawOverlay(box);
  }

  function drawOverlay(box) {
    const geo = JSON.parse(box.dataset.geometry || "{}");
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
      if (geo.box) {
        const [x1, y1, x2, y2] = geo.box;
        g.strokeStyle = "#00e5ff";
        g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      }
      if (geo.foot) {
        const [fx, fy] = geo.foot;
        g.beginPath();
        g.arc(fx, fy, lw * 3, 0, 2 * Math.PI);
        g.fillStyle = "#ff00d4";
        g.fill();
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

  // The clip: frame steps, scrub by frame, playback speed.
  const clip = document.getElementById("clip");
  if (clip) {
    const video = document.getElementById("clip-video");
    const fps = Number(clip.dataset.fps) || 10;
    const first = Number(clip.dataset.frameFirst) || 0;
    const scrub = document.getElementById("clip-scrub");
    const out = document.getElementById("clip-frame");
    const play = document.getElementById("clip-play");
    const last = Number(scrub.max);
    // Seek to the middle of a frame, so rounding never shows its neighbour.
    const seekFrame = (n) => {
      const k = Math.max(0, Math.min(last, n));
      video.pause();
      video.currentTime = (k + 0.5) / fps;
    };
    const current = () => Math.max(0, Math.min(last, Math.floor(video.currentTime * fps + 1e-6)));
    const show = () => {
      const k = current();
      scrub.value = String(k);
      out.textContent = "frame " + (first + k);
      play.textContent = video.paused ? "Play" : "Pause";
    };
    document.getElementById("clip-prev").addEventListener("click", () => seekFrame(current() - 1));
    document.getElementById("clip-next").addEventListener("click", () => seekFrame(current() + 1));
    play.addEventListener("click", () => { if (video.paused) video.play(); else video.pause(); });
    scrub.addEventListener("input", () => seekFrame(Number(scrub.value)));
    document.getElementById("clip-speed").addEventListener("change", (e) => {
      video.playbackRate = Number(e.target.value);
    });
    for (const ev of ["timeupdate", "seeked", "play", "pause", "loadeddata"]) {
      video.addEventListener(ev, show);
    }
  }

  // The decision shortcuts belong to the console only (the citizen page shares this file).
  if (!window.location.pathname.startsWith("/console/")) return;
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
