// Event review: draws the crossing zone, that frame's person box and foot point and the
// signal head on each evidence still (canvas over the image, in the image's own pixel
// coordinates), zoom and pan, the violator enlarged beside each still, the face
// comparison's shared zoom, the clip's frame controls, and keyboard shortcuts for the
// decision (switchable off; a sanction asks first).
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

  // Zoom and pan of a still (console): Ctrl + wheel, + / − / 0 and the arrow keys on a
  // focused frame, the buttons under it, drag to move. The overlay canvas sits inside the
  // zoomed element, so the drawing follows the image.
  for (const fig of document.querySelectorAll("figure.frame")) {
    const vp = fig.querySelector(".zoom");
    if (vp) setupZoom(fig, vp);
    const crop = fig.querySelector("canvas.violator-crop");
    if (crop) drawViolatorCrop(fig, crop);
  }

  function setupZoom(fig, vp) {
    const inner = vp.querySelector(".zoom-inner");
    const out = fig.querySelector(".zoom-level");
    const st = { z: 1, x: 0, y: 0 };
    const MAX = 8;
    const apply = () => {
      const w = vp.clientWidth, h = vp.clientHeight;
      // Keep the image covering the viewport: never pan past its edges.
      st.x = Math.min(0, Math.max(w - w * st.z, st.x));
      st.y = Math.min(0, Math.max(h - h * st.z, st.y));
      inner.style.transform = `translate(${st.x}px, ${st.y}px) scale(${st.z})`;
      vp.dataset.zoom = String(st.z);
      vp.classList.toggle("zoomed", st.z > 1);
      if (out) out.textContent = Math.round(st.z * 100) + "%";
    };
    const zoomAt = (factor, cx, cy) => {
      const z = Math.max(1, Math.min(MAX, st.z * factor));
      const k = z / st.z;
      st.x = cx - (cx - st.x) * k;
      st.y = cy - (cy - st.y) * k;
      st.z = z;
      apply();
    };
    const centre = () => [vp.clientWidth / 2, vp.clientHeight / 2];
    vp.addEventListener("wheel", (e) => {
      // Ctrl (or ⌘) + wheel zooms the still; the wheel alone keeps scrolling the page.
      if (!e.ctrlKey && !e.metaKey) return;
      e.preventDefault();
      const r = vp.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    let drag = null;
    vp.addEventListener("pointerdown", (e) => {
      if (st.z <= 1) return;
      drag = { x: e.clientX - st.x, y: e.clientY - st.y };
      vp.setPointerCapture(e.pointerId);
    });
    vp.addEventListener("pointermove", (e) => {
      if (!drag) return;
      st.x = e.clientX - drag.x;
      st.y = e.clientY - drag.y;
      apply();
    });
    const stop = () => { drag = null; };
    vp.addEventListener("pointerup", stop);
    vp.addEventListener("pointercancel", stop);
    vp.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const step = 40;
      const keys = {
        "+": () => zoomAt(1.25, ...centre()), "=": () => zoomAt(1.25, ...centre()),
        "-": () => zoomAt(0.8, ...centre()), "0": () => { st.z = 1; st.x = st.y = 0; apply(); },
        ArrowLeft: () => { st.x += step; apply(); }, ArrowRight: () => { st.x -= step; apply(); },
        ArrowUp: () => { st.y += step; apply(); }, ArrowDown: () => { st.y -= step; apply(); },
      };
      const f = keys[e.key];
      if (f) { e.preventDefault(); e.stopPropagation(); f(); }
    });
    for (const b of fig.querySelectorAll("[data-zoom]")) {
      b.addEventListener("click", () => {
        const what = b.dataset.zoom;
        if (what === "in") zoomAt(1.5, ...centre());
        else if (what === "out") zoomAt(1 / 1.5, ...centre());
        else { st.z = 1; st.x = st.y = 0; apply(); }
      });
    }
    apply();
  }

  // The violator beside each still: that frame's person box (plus a quarter around it),
  // enlarged to the pane's width with its proportions kept.
  function drawViolatorCrop(fig, canvas) {
    const box = fig.querySelector(".overlay-box");
    const img = box.querySelector("img");
    const geo = JSON.parse(box.dataset.geometry || "{}");
    const draw = () => {
      if (!geo.box || !img.naturalWidth) return;
      const [x1, y1, x2, y2] = geo.box;
      const pw = (x2 - x1) * 0.25, ph = (y2 - y1) * 0.25;
      const sx = Math.max(0, x1 - pw), sy = Math.max(0, y1 - ph);
      const sw = Math.min(img.naturalWidth, x2 + pw) - sx;
      const sh = Math.min(img.naturalHeight, y2 + ph) - sy;
      if (sw <= 0 || sh <= 0) return;
      const maxW = 220, maxH = 320;
      const k = Math.min(maxW / sw, maxH / sh);
      canvas.width = Math.round(sw * k);
      canvas.height = Math.round(sh * k);
      const g = canvas.getContext("2d");
      g.imageSmoothingQuality = "high";
      g.drawImage(img, sx, sy, sw, sh, 0, 0, canvas.width, canvas.height);
      canvas.dataset.drawn = "1";
      canvas.dataset.scale = String(k);
    };
    if (img.complete) draw(); else img.addEventListener("load", draw);
  }

  // Face comparison: one zoom for both faces (and the other candidates'), so they stay
  // at the same scale; another enrolment photo can be chosen for the comparison.
  const faceZoom = document.getElementById("face-zoom");
  if (faceZoom) {
    const level = document.getElementById("face-zoom-level");
    faceZoom.addEventListener("input", () => {
      const z = Number(faceZoom.value);
      for (const im of document.querySelectorAll("#compare .cmp-img, #alternatives .cmp-img")) {
        im.style.transform = `scale(${z})`;
      }
      level.textContent = z + "×";
      faceZoom.setAttribute("aria-valuetext", z + "×");
    });
  }
  const enrolledFace = document.getElementById("enrolled-face");
  for (const b of document.querySelectorAll(".photo-pick")) {
    b.addEventListener("click", () => {
      if (!enrolledFace) return;
      enrolledFace.src = b.dataset.src;
      enrolledFace.dataset.cropped = b.dataset.cropped;
      for (const o of document.querySelectorAll(".photo-pick")) {
        o.setAttribute("aria-pressed", o === b ? "true" : "false");
      }
    });
  }

  // The decision shortcuts belong to the console only (the citizen page shares this file).
  if (!window.location.pathname.startsWith("/console/")) return;
  const bar = document.getElementById("decision-bar");
  const toggle = document.getElementById("shortcuts-toggle");
  // WCAG 2.1.4: single-key shortcuts can be switched off. The choice is kept on the
  // account (the server renders the switch from it), so it follows the person into any
  // browser; a change is saved in the background (POST /console/preferences).
  const prefs = document.getElementById("prefs-form");
  const enabled = () => !!toggle && toggle.checked;
  // Older pages kept the choice in this browser: forget it, the account decides now.
  try { localStorage.removeItem("jaywatch.shortcuts." + ((bar && bar.dataset.user) || "")); } catch (_) {}
  if (toggle && prefs) {
    const hint = document.getElementById("shortcut-hint");
    const status = document.getElementById("prefs-status");
    const show = () => { if (hint) hint.hidden = !toggle.checked; };
    // What the account has (a reload's restored form state must not override it).
    toggle.checked = prefs.dataset.shortcuts === "on";
    show();
    prefs.addEventListener("submit", (e) => e.preventDefault()); // Enter in the form saves nothing else
    toggle.addEventListener("change", async () => {
      show();
      const body = new URLSearchParams();
      body.set("csrf_token", prefs.elements.csrf_token.value);
      body.set("keyboard_shortcuts", toggle.checked ? "on" : "off");
      status.textContent = "";
      try {
        const r = await fetch(prefs.action, { method: "POST", body, credentials: "same-origin" });
        if (!r.ok) throw new Error(String(r.status));
        const saved = await r.json();
        prefs.dataset.shortcuts = saved.keyboard_shortcuts ? "on" : "off";
        status.textContent = saved.keyboard_shortcuts ? "Shortcuts on (saved)" : "Shortcuts off (saved)";
      } catch (err) {
        // Not saved: show what the account still has, and say so.
        toggle.checked = prefs.dataset.shortcuts === "on";
        show();
        status.textContent = "Could not save the shortcut setting (" + err.message + ")";
      }
    });
  }
  const confirmForm = document.getElementById("confirm-form");
  const rejectForm = document.getElementById("reject-form");
  const reason = document.getElementById("reason");
  const dialog = document.getElementById("confirm-dialog");
  if (dialog) {
    document.getElementById("cd-yes").addEventListener("click", () => {
      dialog.close();
      confirmForm.requestSubmit();
    });
    document.getElementById("cd-no").addEventListener("click", () => dialog.close());
  }
  document.addEventListener("keydown", (e) => {
    if (!enabled() || (dialog && dialog.open)) return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (e.ctrlKey || e.metaKey || e.altKey || tag === "input" || tag === "textarea") return;
    const k = e.key.toLowerCase();
    if (k === "c" && confirmForm && dialog) {
      // A sanction never follows from one key: it opens a confirmation step.
      e.preventDefault();
      dialog.showModal();
      document.getElementById("cd-yes").focus();
    } else if (k === "r" && rejectForm && reason) {
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
