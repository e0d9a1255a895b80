"""A comparison (:func:`clippan_kit.compare.iter_compare`) run in a separate Python process, so that a user
interface can end it at any moment and get the CPU back at once (a thread cannot be stopped inside a
PyTorch training step; a process can).

The parent writes the job (scene, method choices, options) to a pickle file, starts
``python -m clippan_kit.compare_worker JOB FD`` in its own process group and reads the worker's events
from a pipe: ``start`` (a method begins), ``bar`` (a tqdm bar inside a method moved: λ-PNN's adaptation
epochs, tiled inference), ``done`` (a method's fused image, metrics, seconds or error), ``end``.
:meth:`WorkerRun.stop` ends the process group (SIGTERM, then SIGKILL after a grace period).

Example:
    >>> run = WorkerRun(scene, choices, workdir=tmp)           # doctest: +SKIP
    >>> for event in run.events(): print(event["kind"])        # doctest: +SKIP
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["WorkerRun", "WorkerError"]


class WorkerError(RuntimeError):
    """The worker process ended without finishing (crash, out of memory); the message has its last log lines."""


class WorkerRun:
    """One comparison in a worker process.

    Args:
        scene: the :class:`~clippan_kit.scene.Scene` to fuse.
        choices: :class:`~clippan_kit.methods.MethodChoice` list (unique labels).
        workdir: folder for the job file and the worker's log (``worker.log``).
        reduced: also Wald's reduced-resolution metrics (each method runs again on the degraded scene).
        supervisor: optional Stage I supervisor checkpoint: each fused image also gets the supervisor's
            scores (:func:`clippan_kit.compare.supervisor_scores`) and the ``embeddings`` event carries
            the 2-D embedding view's points.
        threads: torch CPU threads of the worker (None: torch's default).
    """

    def __init__(self, scene, choices: Sequence, *, workdir: str | Path, reduced: bool = False,
                 supervisor: str | Path | None = None, threads: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        job = self.workdir / "job.pkl"
        with open(job, "wb") as f:
            pickle.dump({"scene": scene, "choices": list(choices), "reduced": bool(reduced),
                         "supervisor": None if supervisor is None else str(supervisor), "threads": threads}, f)
        self.log = self.workdir / "worker.log"
        read_fd, write_fd = os.pipe()
        package_root = str(Path(__file__).resolve().parents[1])  # the worker imports this very clippan_kit
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "clippan_kit.compare_worker", str(job), str(write_fd)],
                                         pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, start_new_session=True)
        os.close(write_fd)
        self._pipe = os.fdopen(read_fd, "rb")
        self.started = time.monotonic()
        self.stopped = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def events(self) -> Iterator[dict]:
        """The worker's events, in order, until ``end``; raises :class:`WorkerError` when the worker dies
        unless :meth:`stop` ended it (then the iteration just ends)."""
        try:
            while True:
                try:
                    event = pickle.load(self._pipe)
                except (EOFError, pickle.UnpicklingError, OSError):
                    break
                if event["kind"] == "end":
                    self._reap()
                    yield event
                    return
                yield event
        finally:
            self._pipe.close()
        code = self.proc.wait()
        if not self.stopped:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:] if self.log.exists() else []
            raise WorkerError(f"the worker process ended unexpectedly (exit code {code})"
                              + (": " + " | ".join(tail) if tail else ""))

    def _reap(self) -> None:
        """Wait for the worker to exit after its ``end`` event (it only closes its pipe and returns)."""
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.stop()

    def stop(self, grace_s: float = 2.0) -> bool:
        """End the worker and everything it started; True when it was still running. Returns once the
        process is gone (SIGTERM to the process group, SIGKILL after ``grace_s``)."""
        self.stopped = True
        if self.proc.poll() is not None:
            return False
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        return True


# ----------------------------------------------------------------------------- the worker side
def _install_bar_hook(send) -> None:
    """Route every ``tqdm.auto`` bar of the library to ``send`` (as ``bar`` events) instead of a terminal.
    Must run before the library modules that import ``tqdm.auto`` at import time."""
    import tqdm.auto
    import tqdm.std

    class EventBar(tqdm.std.tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["file"] = open(os.devnull, "w")
            kwargs.setdefault("mininterval", 0.5)
            super().__init__(*args, **kwargs)

        def display(self, msg=None, pos=None):  # called by tqdm at most every mininterval
            d = self.format_dict
            send({"kind": "bar", "desc": self.desc, "n": int(d["n"]), "total": d["total"], "elapsed": float(d["elapsed"]),
                  "unit": d.get("unit")})
            return True

    tqdm.auto.tqdm = EventBar


def _main(job_path: str, fd: int) -> None:
    out = os.fdopen(fd, "wb")

    def send(event: dict) -> None:
        pickle.dump(event, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    _install_bar_hook(send)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))  # no cleanup to wait for: the parent owns the files
    with open(job_path, "rb") as f:
        job = pickle.load(f)
    if job.get("threads"):
        import torch

        torch.set_num_threads(int(job["threads"]))
    # Import what the methods need now, so that the first method's time is its own, not Python's start-up.
    from . import classical, methods, metrics  # noqa: F401
    from .compare import iter_compare, supervisor_report

    scene, choices = job["scene"], job["choices"]
    comp = None
    send({"kind": "start", "i": 0, "label": choices[0].label})
    for i, choice, comp in iter_compare(scene, choices, reduced=job["reduced"], bars=True):
        label = choice.label
        send({"kind": "done", "i": i, "label": label, "fused": comp.fused.get(label),
              "metrics": comp.metrics.get(label), "seconds": comp.seconds.get(label), "error": comp.errors.get(label)})
        if i + 1 < len(choices):
            send({"kind": "start", "i": i + 1, "label": choices[i + 1].label})
    if job.get("supervisor") and comp is not None and comp.fused:
        send({"kind": "start", "i": len(choices), "label": "CLIPPan supervisor"})
        try:
            send({"kind": "supervisor", **supervisor_report(job["supervisor"], scene, comp.fused)})
        except Exception as exc:  # a bad checkpoint must not hide the fused results
            send({"kind": "supervisor", "error": f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)})
    send({"kind": "end"})
    out.close()


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
