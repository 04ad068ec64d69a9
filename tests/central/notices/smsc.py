"""A local SMSC for tests: smpp34's Server (Rust SMPP 3.4 core) on loopback.

Accepts every submit_sm with a fresh message id, records it, and (optionally) answers
each with a delivery receipt (deliver_sm, esm_class 0x04, receipted_message_id and
message_state TLVs plus the classic ``id:… stat:DELIVRD`` text). ``on_submit`` runs
before the answer, e.g. to kill the submitting process mid-exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import smpp34


@dataclass(frozen=True)
class Submitted:
    session_id: str
    destination_addr: str
    source_addr: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    message_id: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestSmsc:
    __test__ = False

    def __init__(self, port: int | None = None, receipt_stat: str = "DELIVRD") -> None:
        self.port = port or free_port()
        self.receipt_stat = receipt_stat
        self.send_receipts = True
        self.on_submit: Callable[[Submitted], None] | None = None
        self.submitted: list[Submitted] = []
        self.refused: list[Submitted] = []
        # Return a command_status to refuse a submit_sm (e.g. ESME_RTHROTTLED).
        self.refuse: Callable[[Submitted], int | None] | None = None
        self.binds: list[str] = []
        self._lock = threading.Lock()
        self._n = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: smpp34.Server | None = None
        self._task: Future[None] | None = None
        self._esmes: dict[str, smpp34.Esme] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def _call(self, coro: object, timeout: float = 10.0) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def start(self) -> TestSmsc:
        async def _start() -> None:
            self._server = smpp34.Server("127.0.0.1", self.port, system_id="testsmsc")
            await self._server.start()

        self._call(_start())
        self._task = asyncio.run_coroutine_threadsafe(self._serve(self._server), self._loop)  # type: ignore[arg-type]
        return self

    def stop(self) -> None:
        """Stop listening and drop every bound session (the SMSC goes down)."""
        if self._server is None:
            return
        server, self._server = self._server, None

        async def _stop() -> None:
            # Server.stop() only stops listening: end the bound sessions too (unbind).
            # Fire and forget: the ESME answers only when it next reads its socket.
            for esme in list(self._esmes.values()):
                self._spawn(self._quietly(esme.unbind()))
            self._esmes.clear()
            await asyncio.sleep(0.05)
            await server.stop()

        self._call(_stop())
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, server: smpp34.Server) -> None:
        esmes = self._esmes
        while True:
            ev = await server.next()
            if isinstance(ev, smpp34.Esme):
                esmes[ev.session_id] = ev
                self.binds.append(ev.system_id)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                with self._lock:
                    self._n += 1
                    mid = f"{self._n:08X}"
                sub = Submitted(
                    ev.session_id,
                    ev.destination_addr,
                    ev.source_addr,
                    ev.data_coding,
                    ev.esm_class,
                    ev.registered_delivery,
                    bytes(ev.short_message),
                    mid,
                )
                refuse = self.refuse(sub) if self.refuse is not None else None
                if refuse is not None:
                    self.refused.append(sub)
                    ev.reject(refuse)
                    continue
                self.submitted.append(sub)
                if self.on_submit is not None:
                    self.on_submit(sub)
                ev.accept(mid)
                esme = esmes.get(ev.session_id)
                if esme is not None and self.send_receipts and ev.registered_delivery & 1:
                    self._spawn(self._receipt(esme, sub))
            elif isinstance(ev, smpp34.Unbound):
                esmes.pop(ev.session_id, None)

    @staticmethod
    async def _quietly(coro: object) -> None:
        with contextlib.suppress(Exception):  # the peer is already gone
            await coro  # type: ignore[misc]

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _receipt(self, esme: smpp34.Esme, sub: Submitted) -> None:
        state = {"DELIVRD": 2, "UNDELIV": 5, "EXPIRED": 3}[self.receipt_stat]
        text = (
            f"id:{sub.message_id} sub:001 dlvrd:001 submit date:2611261400 "
            f"done date:2611261401 stat:{self.receipt_stat} err:000 text:"
        ).encode()
        with contextlib.suppress(Exception):  # the ESME went away: the receipt is lost
            await esme.deliver_sm(
                sub.source_addr,
                text,
                source_addr=sub.destination_addr,
                esm_class=0x04,
                tlvs=[
                    smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, sub.message_id.encode() + b"\0"),
                    smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([state])),
                ],
            )

    def to(self, destination: str) -> list[Submitted]:
        return [s for s in self.submitted if s.destination_addr == destination]


class SmscProcess:
    """The same SMSC in a child process, so a test can make it crash (SIGKILL): the
    ESME's TCP connection breaks exactly as when a real SMSC goes down."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.submitted: list[dict[str, object]] = []
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SmscProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.central.notices.smsc", str(self.port)],
            cwd=Path(__file__).resolve().parents[3],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        assert self._proc.stdout.readline().strip() == "READY", "test SMSC did not start"
        threading.Thread(target=self._read, args=(self._proc,), daemon=True).start()
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.submitted.append(json.loads(line))

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    def to(self, destination: str) -> list[dict[str, object]]:
        return [s for s in self.submitted if s["destination_addr"] == destination]


def _main(port: int) -> None:
    smsc = TestSmsc(port)

    def report(sub: Submitted) -> None:
        d = {k: v for k, v in vars(sub).items() if k != "short_message"}
        d["short_message"] = sub.short_message.hex()
        print(json.dumps(d), flush=True)

    smsc.on_submit = report
    smsc.start()
    print("READY", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    _main(int(sys.argv[1]))
