"""The gateway process: several cameras, one outbox, one MQTT link, one health reporter.

    camera worker (thread per camera) ─► pipeline ─► evidence thread (per camera:
        blur, data bar, JPEG, clip) ─► signed event ─► outbox (durable) ─► MQTT link ─► central
    health reporter ─► retained status;  SIGTERM ─► stop sources, flush, close

Each camera has its own thread, so one stuck or dropped stream never stalls the others
(OpenCV decoding and onnxruntime inference release the GIL). A worker that crashes is
restarted with back-off and reported down in the health status; the process keeps
running.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.av_capture import AvSource
from edge.capture import LiveSource, VideoFileSource, is_live_source
from edge.clock import AnchoredClock
from edge.config import CameraConfig, ConfigError
from edge.detectors.pool import DetectorPool
from edge.evidence_render import EvidenceRenderer
from edge.gateway_config import GatewayConfig
from edge.pipeline import CameraPipeline, FaceStage
from edge.signal.base import SignalStatus
from edge.violation import Violation
from jaywatch import wire

log = logging.getLogger(__name__)

# Namespace of the deterministic event ids of file sources (CameraWorker._file_event_id).
_FILE_EVENT_NS = uuid.UUID("3b0f6a52-1d7e-4c2a-9a55-6c1f0e9d4b21")


@dataclass
class CameraStatus:
    up: bool = False
    fps: float = 0.0
    last_frame: datetime | None = None
    error: str = ""
    violations: int = 0
    finished: bool = False  # a file source that reached its end


@dataclass
class CameraWorker:
    """Runs one camera's pipeline in its own thread and hands events to ``sink``."""

    cfg: CameraConfig
    device_id: str
    sink: Callable[[wire.ViolationEvent], None]
    faces: FaceStage | None = None
    restart_backoff_s: float = 2.0
    status: CameraStatus = field(default_factory=CameraStatus)
    # Violations waiting for their evidence to be rendered. Bounded: a camera that finds
    # violations faster than they can be rendered slows its own frame loop rather than
    # growing without limit (each holds its clip's frames).
    render_queue_max: int = 4

    signal_alert_after_s: float = 300.0
    # The gateway's shared detector (None: this camera opens its own, as offline).
    detector_pool: DetectorPool | None = None

    def __post_init__(self) -> None:
        from edge.camera_health import SignalAlert

        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: LiveSource | VideoFileSource | AvSource | None = None
        self._file_key: str | None = None
        self.started = datetime.now(UTC)
        self.scene = self._make_scene_monitor()
        self.signal_alert = SignalAlert(self.cfg.id, self.signal_alert_after_s)
        self._pipeline: CameraPipeline | None = None
        # One frame clock for the worker's life: live frames and controller messages
        # (edge/signal/live.py) are aligned on it, across stream reconnects and restarts.
        self.clock = AnchoredClock()
        self._anchor = self.clock  # the current source's clock (a file has its own)
        # A controller-fed reader outlives pipeline restarts: the live feed pushes into it.
        self.controller = None
        if self.cfg.signal.source == "controller":
            from edge.signal.controller import ControllerFeedReader

            self.controller = ControllerFeedReader(
                timeout_s=self.cfg.signal.controller_timeout_s, name=self.cfg.id
            )
        # Blurring, JPEG and clip encoding take ~1 s per violation: never on the frame loop.
        self.renderer = EvidenceRenderer(self.cfg)
        self._renders: queue.Queue[tuple[Violation, AnchoredClock] | None] = queue.Queue(
            self.render_queue_max
        )
        self._render_thread: threading.Thread | None = None

    def _make_scene_monitor(self):  # -> SceneMonitor
        from edge.scene_health import SceneMonitor, load_reference

        ref = None
        if self.cfg.health.reference is not None:
            try:
                ref = load_reference(self.cfg.health.reference)
            except ValueError as e:  # health data only: run without the moved check
                log.error("camera %s: health.reference: %s; view-moved check off", self.cfg.id, e)
        return SceneMonitor(self.cfg.health, [tuple(p) for p in self.cfg.crossing.zone], ref)

    def wall_of(self, t: float) -> datetime:
        """Wall-clock time of frame time ``t`` of the current source."""
        return self._anchor.datetime_of(t)

    def health(self) -> wire.CameraHealth:
        """This camera's heartbeat entry (called from the health thread)."""
        from edge.camera_health import build_camera_health

        st = self.status
        pipeline = self._pipeline
        failing = pipeline.detector_failures.problem() if pipeline is not None else ""
        return build_camera_health(
            camera_id=self.cfg.id,
            up=self.is_up(),
            fps=st.fps,
            last_frame=st.last_frame,
            error="; ".join(e for e in (st.error, failing) if e),
            finished=st.finished,
            signal=self.signal_status(),
            scene=self.scene.flags(),
            wall_of=self.wall_of,
            alert=self.signal_alert,
            started=self.started,
            target_fps=self.cfg.fps,  # the analysis rate; None: every frame the source gives
            detect_stream=self._detect_stream_check(),
        )

    def _detect_stream_check(self) -> str | None:
        src = self._source
        if not isinstance(src, AvSource) or src.detect_source is None:
            return None
        return src.pairer.check()

    def latest_frame(self):  # -> edge.snapshot.LatestFrame | None
        """The last analysed frame, its track boxes and wall time, for the snapshot thread
        (a reference, no copy: the capture hands out a new array per frame). None while
        the camera is down."""
        from edge.snapshot import LatestFrame

        pipeline = self._pipeline
        bf = pipeline.buffer.latest() if pipeline is not None else None
        if bf is None or not self.is_up():
            return None
        f = bf.frame
        taken = min(self._anchor.datetime_of(f.t), datetime.now(UTC))  # a file runs ahead
        key = (id(pipeline), f.segment, f.index)
        return LatestFrame(f.image, taken, tuple(bf.boxes.values()), key)

    def signal_status(self) -> SignalStatus:
        """This camera's signal state now (phase, source, last change, stale, skew)."""
        pipeline = self._pipeline
        if pipeline is not None:
            return pipeline.signal_status()
        if self.controller is not None:
            return self.controller.status()
        return SignalStatus(source=self.cfg.signal.source)

    def is_up(self, stale_after_s: float = 5.0) -> bool:
        """Up only while frames keep arriving: a live stream that dropped (its source is
        reconnecting) or hangs in a read is down, though its last frame was fine."""
        last = self.status.last_frame
        if not self.status.up or last is None:
            return False
        return (datetime.now(UTC) - last).total_seconds() <= stale_after_s

    def start(self) -> None:
        self._render_thread = threading.Thread(
            target=self._render_loop, name=f"evidence-{self.cfg.id}", daemon=True
        )
        self._render_thread.start()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.cfg.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading frames; what the pipeline flushed is still rendered and emitted."""
        self._stop.set()
        stop_source = getattr(self._source, "stop", None)  # live streams block in reads
        if stop_source is not None:
            stop_source()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._render_thread is not None and self._render_thread.is_alive():
            self._renders.put(None)
            self._render_thread.join(timeout + 30.0)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _emit(self, v: Violation, anchor: AnchoredClock) -> None:
        """Hand a violation to the evidence thread (blocks while its queue is full)."""
        if self._render_thread is None:  # not started as a thread (a caller drives it)
            self._render_and_send(v, anchor)
        else:
            self._renders.put((v, anchor))

    def _render_loop(self) -> None:
        while (item := self._renders.get()) is not None:
            try:
                self._render_and_send(*item)
            except Exception:  # never lose the thread: log, go on with the next one
                log.exception("camera %s: evidence for a violation failed", self.cfg.id)
            finally:
                self._renders.task_done()
        self._renders.task_done()

    def _render_and_send(self, v: Violation, anchor: AnchoredClock) -> None:
        try:
            v = self.renderer.render(v, anchor.datetime_of)
        except Exception:
            # The event still goes (reviewable from its facts), without any image: an
            # image that could not be anonymised is never sent.
            log.exception("camera %s: rendering evidence failed; sending without it", self.cfg.id)
            v = dataclasses.replace(v, evidence=[], clip=None, raw=None)
        event = v.to_wire(
            device_id=self.device_id,
            occurred=anchor.datetime_of(v.entry.t),
            zone=[tuple(p) for p in self.cfg.crossing.zone],
            grace_s=self.cfg.crossing.grace_s,
            signal_source=self.cfg.signal.source,
            signal_roi=self.cfg.signal.roi,
            site_tz=self.cfg.timezone,
            place=self.cfg.place,
        )
        if self._file_key is not None:
            event = event.model_copy(update={"event_id": self._file_event_id(v)})
        self.sink(event)
        self.status.violations += 1

    def _file_event_id(self, v: Violation) -> str:
        """A file is processed from its start again after a restart (kill -9, power cut):
        the same violation then gets the same event id, so central stores it once. Live
        streams never replay, so their events keep random ids."""
        name = f"{self.device_id}/{self.cfg.id}/{self._file_key}/{v.entry.frame}/{v.entry.track_id}"
        return str(uuid.uuid5(_FILE_EVENT_NS, name))

    def _run(self) -> None:
        from edge.pipeline import build_pipeline

        backoff = self.restart_backoff_s
        while not self._stop.is_set():
            try:
                pipeline: CameraPipeline = build_pipeline(
                    self.cfg, self.faces, signal=self.controller, detector_pool=self.detector_pool
                )
                self._pipeline = pipeline
                self._consume(pipeline)
                if self.status.finished:
                    return
                backoff = self.restart_backoff_s
            except ConfigError as e:
                # A zone/ROI that does not fit the stream's frames (or a missing source):
                # one line, no traceback; retried, since the stream's size may be fixed.
                self._flush_failed()
                self.status.up = False
                self.status.error = str(e)
                if self._file_key is not None:  # a file's frames will not change size
                    log.error("camera %s: %s; not processing %s", self.cfg.id, e, self.cfg.source)
                    self.status.finished = True
                    return
                log.error("camera %s: %s; retrying in %.0f s", self.cfg.id, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)
            except Exception as e:  # a camera must never take the gateway down
                self._flush_failed()
                self.status.up = False
                self.status.error = f"{type(e).__name__}: {e}"
                log.exception("camera %s worker failed; restarting in %.0f s", self.cfg.id, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 60.0)

    def _flush_failed(self) -> None:
        """Violations the failed pipeline had confirmed still go out (with what was seen)
        before it is replaced: a stream that came back at a size its ROI no longer fits
        must not lose the crossings seen before."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is None:
            return
        try:
            for v in pipeline.flush():
                self._emit(v, self._anchor)
        except Exception:
            log.exception("camera %s: flushing the failed pipeline failed", self.cfg.id)

    def _consume(self, pipeline: CameraPipeline) -> None:
        src = self.cfg.source
        if src is None:
            raise ConfigError(
                f"camera {self.cfg.id}: source: not set (a file path, URL or device index)"
            )
        live = is_live_source(src)
        # A file's frame 0 is "now"; a live stream's frames are on the worker's clock.
        anchor = self.clock if live else AnchoredClock()
        self._anchor = anchor  # wall_of() follows the current source's frame clock
        from edge.av_capture import camera_source

        self._source = camera_source(self.cfg, src, clock=anchor, wall0=anchor.wall0)
        if not live:  # identity of this file's content: path, size and modification time
            st = Path(str(src)).stat()
            self._file_key = f"{Path(str(src)).resolve()}:{st.st_size}:{st.st_mtime_ns}"
        window_t, window_n = time.monotonic(), 0
        for frame in self._source:
            if self._stop.is_set():
                break
            for v in pipeline.process(frame):
                self._emit(v, anchor)
            if frame.on_demand:  # sub-stream mode: converted only for a light/moved check
                self.scene.observe(lambda f=frame: f.image, frame.t, frame.frozen_sample())
            else:
                self.scene.observe(frame.image, frame.t)
            now = time.monotonic()
            # fps counts frames analysed, not frames whose detector raised (failures.py)
            window_n += not pipeline.detector_failures.failing_now
            self.status.up, self.status.error = True, ""
            self.status.last_frame = datetime.now(UTC)
            if now - window_t >= 2.0:
                self.status.fps = window_n / (now - window_t)
                window_t, window_n = now, 0
        for v in pipeline.flush():
            self._emit(v, anchor)
        self.status.up = False
        if not live:
            self._renders.join()  # "finished" only once every event is in the outbox
            self.status.finished = True


class Gateway:
    """Everything one gateway runs, wired from its config."""

    def __init__(
        self,
        cfg: GatewayConfig,
        faces_for: Callable[[CameraConfig], FaceStage | None] | None = None,
    ) -> None:
        from edge.health import GatewayMetrics, HealthReporter
        from edge.keys import load_device_key
        from edge.outbox import Outbox, RetryPolicy
        from edge.transport.mqtt import MqttLink

        self.cfg = cfg
        self.key = load_device_key(cfg.key_file)
        self.cameras = cfg.load_cameras()
        self.thread_plan, self.detector_pool = self._make_detector_pool()
        self.metrics = GatewayMetrics()
        self.outbox = Outbox(
            cfg.outbox.path,
            retry=RetryPolicy(base_s=cfg.outbox.retry_base_s, max_s=cfg.outbox.retry_max_s),
            min_free_bytes=cfg.outbox.min_free_bytes,
        )
        self.link = MqttLink(
            cfg.device_id,
            cfg.broker,
            self.outbox,
            device_key=self.key,
            central_public_key=cfg.central_key_bytes(),
            window_per_camera=cfg.outbox.window_per_camera,
            metrics=self.metrics,
        )
        self.workers = [
            CameraWorker(
                c,
                cfg.device_id,
                self._sink,
                faces_for(c) if faces_for else None,
                signal_alert_after_s=cfg.health.signal_unknown_alert_s,
                detector_pool=self.detector_pool,
            )
            for c in self.cameras
        ]
        self.gallery_sync = self._make_gallery_sync()
        self.signal_feed, self._signal_inputs = self._make_signal_feed()
        self.health = HealthReporter(
            cfg.device_id,
            self.outbox,
            self.link.publish_status,
            interval_s=cfg.health.interval_s,
            cameras=self._camera_health,
            models=self._models,
            gallery_version=self.gallery_sync.version if self.gallery_sync else str,
            metrics=self.metrics,
        )
        self.link.add_connect_listener(self.health.trigger)
        self.snapshots = self._make_snapshots()

    def _make_snapshots(self):  # -> SnapshotReporter | None
        """The devices page's thumbnails (``health.snapshot_interval_s``; 0 = off): every
        person and face blurred here, on a thread of their own (edge/snapshot.py)."""
        every = self.cfg.health.snapshot_interval_s
        if not every:
            return None
        from edge.faces.detect import YuNetDetector
        from edge.snapshot import SnapshotMaker, SnapshotReporter

        makers: dict[str, SnapshotMaker] = {}
        face_detectors: dict[str, YuNetDetector] = {}

        def maker(w: CameraWorker) -> SnapshotMaker | None:
            pipeline = w._pipeline
            if pipeline is None:
                return None
            m = makers.get(w.cfg.id)
            if m is None or m.detect != pipeline.detector.model.detect:  # restarted pipeline
                name = w.cfg.faces.detector_model
                if name not in face_detectors:  # the snapshot thread's own session
                    face_detectors[name] = YuNetDetector(name, 1)
                m = makers[w.cfg.id] = SnapshotMaker(
                    pipeline.detector.model.detect, face_detectors[name]
                )
            return m

        def cameras():  # -> list[tuple[str, SnapshotMaker, Callable]]
            out = []
            for w in self.workers:
                m = maker(w)
                if m is not None:
                    out.append((w.cfg.id, m, w.latest_frame))
            return out

        return SnapshotReporter(
            self.cfg.device_id, cameras, self.link.publish_snapshot, interval_s=every
        )

    def _make_detector_pool(self):  # -> tuple[ThreadPlan, DetectorPool]
        """One thread plan for the gateway (logged once) and the detector pool it sizes."""
        from edge.thread_plan import ThreadPlanError, available_cores, plan_threads

        try:
            plan = plan_threads(self.cfg.detector_pool, available_cores(), len(self.cameras))
        except ThreadPlanError as e:
            raise ConfigError(str(e)) from None
        log.info("%s", plan.describe())
        for c in self.cameras:
            if "threads" in c.detector.model_fields_set:
                log.warning(
                    "camera %s: detector.threads %d not used: the gateway's detector_pool "
                    "sets the inference threads of every camera",
                    c.id,
                    c.detector.threads,
                )
        plan.apply_process_wide()
        return plan, DetectorPool(plan)

    def _make_gallery_sync(self):  # -> GallerySync | None
        """Follow central's gallery announcements when ``gallery:`` is configured; every
        camera's face stage takes each new gallery."""
        if self.cfg.gallery is None:
            return None
        from edge.gallery_sync import GallerySync

        sync = GallerySync(
            self.cfg.gallery,
            [w.faces for w in self.workers if hasattr(w.faces, "set_gallery")],  # type: ignore[misc]
            central_public_key=self.cfg.central_key_bytes(),
            on_installed=lambda _v: self.health.trigger(),
            registry=self.metrics.registry,
        )
        sync.attach(self.link)
        return sync

    def _make_signal_feed(self):  # -> tuple[LiveSignalFeed | None, list[UdpInput | HttpInput]]
        """Live controller phases for the cameras with ``signal.source: controller``:
        MQTT (jaywatch/v1/signal/<site>/phase), and UDP/HTTP on the LAN when configured."""
        wired = [w for w in self.workers if w.controller is not None]
        if not wired:
            return None, []
        from edge.signal.live import HttpInput, LiveSignalFeed, UdpInput

        fc = self.cfg.signal_feed
        site = fc.site or self.cfg.device_id
        feed = LiveSignalFeed(site, skew_window_s=fc.skew_window_s, max_skew_s=fc.max_skew_s)
        for w in wired:
            feed.attach(w.cfg.signal.signal_group, w.controller, w.clock)  # type: ignore[arg-type]
            log.info(
                "camera %s: phases of signal group %s at site %s from the controller feed",
                w.cfg.id,
                w.cfg.signal.signal_group,
                site,
            )
        if fc.mqtt:
            topic = wire.signal_phase_topic(site)
            self.link.subscribe(topic, lambda _topic, payload: feed.receive(payload, "mqtt"))
        inputs: list = []
        allow = list(fc.allow_from)
        try:
            if fc.udp is not None:
                inputs.append(UdpInput(feed, fc.udp.host, fc.udp.port, allow))
            if fc.http is not None:
                inputs.append(HttpInput(feed, fc.http.host, fc.http.port, allow))
        except OSError as e:
            for i in inputs:
                i.stop()
            from edge.config import ConfigError

            raise ConfigError(f"signal_feed: cannot listen ({e})") from None
        return feed, inputs

    def _sink(self, event: wire.ViolationEvent) -> None:
        signed = wire.sign_message(event, self.key)
        self.outbox.put_event(signed)  # durable before this returns

    def _camera_health(self) -> list[wire.CameraHealth]:
        return [w.health() for w in self.workers]

    def signal_status(self) -> dict[str, SignalStatus]:
        """Each camera's signal state, by camera id (for the heartbeat and metrics)."""
        return {w.cfg.id: w.signal_status() for w in self.workers}

    def _models(self) -> dict[str, str]:
        return {w.cfg.id: w.cfg.detector.model for w in self.workers}

    def start(self) -> None:
        if self.cfg.health.metrics_port is not None:
            self.metrics.serve(self.cfg.health.metrics_port, self.cfg.health.metrics_host)
        if self.gallery_sync is not None:
            self.gallery_sync.start()
        for i in self._signal_inputs:
            i.start()
        self.link.start()
        self.health.start()
        for w in self.workers:
            w.start()
        if self.snapshots is not None:
            self.snapshots.start()

    def files_done(self) -> bool:
        return all(w.status.finished for w in self.workers)

    def stop(self, drain_s: float = 0.0) -> None:
        """Graceful stop: no new frames, pending violations flushed into the outbox,
        optionally wait up to ``drain_s`` for central's acks, then close."""
        if self.snapshots is not None:
            self.snapshots.stop()  # before the detector pool it uses closes
        for w in self.workers:
            w.stop()
        self.detector_pool.close()
        deadline = time.monotonic() + drain_s
        while drain_s and self.outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.gallery_sync is not None:
            self.gallery_sync.stop()
        for i in self._signal_inputs:
            i.stop()
        self.health.stop()
        self.link.stop()
        self.metrics.shutdown()
        self.outbox.close()
