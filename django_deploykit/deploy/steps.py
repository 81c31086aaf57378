"""A deploy is a list of steps: each prints what it does, runs, and knows how to undo itself.

Failures name the step and (when one is involved) the container, and say what to
do. Ctrl-C during a *critical* step (one that changes what serves traffic) is
deferred until the step has finished, so the stack is never left between two
versions; a second Ctrl-C aborts at once. Ctrl-C during any other step undoes
that step and stops.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from django_deploykit.exceptions import DeployKitError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_RECOVERY_FAILED",
    "Interrupted",
    "RecoveryFailed",
    "Step",
    "StepFailed",
    "execute",
]

EXIT_FAILED = 1
EXIT_RECOVERY_FAILED = 3
EXIT_INTERRUPTED = 130

Output = Callable[[str], None]


class StepFailed(DeployKitError):
    """A step failed and was undone: the stack runs what it ran before (exit code 1)."""

    returncode = EXIT_FAILED

    def __init__(self, message: str, *, container: str | None = None, hint: str = "") -> None:
        super().__init__(message)
        self.container = container
        self.hint = hint
        self.step: str | None = None

    def __str__(self) -> str:
        text = super().__str__()
        where = f"step {self.step!r}" if self.step else ""
        if self.container:
            where += f"{', ' if where else ''}container {self.container}"
        if where:
            text = f"{where}: {text}"
        return f"{text}\n{self.hint}".rstrip() if self.hint else text


class RecoveryFailed(StepFailed):
    """A step failed and undoing it failed too: the stack needs attention (exit code 3)."""

    returncode = EXIT_RECOVERY_FAILED


class Interrupted(DeployKitError):
    """Ctrl-C: the current step was finished or undone (exit code 130)."""

    returncode = EXIT_INTERRUPTED


@dataclass
class Step:
    name: str
    #: One line saying what the step does (printed before it runs, and by --dry-run).
    describe: str
    run: Callable[[], None]
    #: Brings the stack back to its state before this step (None: nothing to undo).
    undo: Callable[[], None] | None = None
    #: Changes what serves traffic: a Ctrl-C waits for the step's end.
    critical: bool = False


class _DeferredInterrupt:
    """While active, the first SIGINT is remembered instead of raised."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.pending = False
        self.active = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.active and not self.pending:
            self.pending = True
            self.out(
                "Ctrl-C: finishing the current step first, so the stack stays on one "
                "version (press Ctrl-C again to abort now)."
            )
            return
        raise KeyboardInterrupt


def execute(steps: Sequence[Step], out: Output, *, dry_run: bool = False) -> None:
    """Run ``steps`` in order, printing each; see the module doc for failures and Ctrl-C."""
    total = len(steps)
    if dry_run:
        out("Dry run: nothing is changed. The plan:")
        for i, step in enumerate(steps, 1):
            out(f"  {i}/{total} {step.name}: {step.describe}")
        return
    deferred = _DeferredInterrupt(out)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, deferred.handler) if main else None
    try:
        for i, step in enumerate(steps, 1):
            out(f"[{i}/{total}] {step.name}: {step.describe}")
            started = time.monotonic()
            deferred.active = step.critical
            try:
                step.run()
            except KeyboardInterrupt:
                deferred.active = False
                _undo(step, out, None)
                raise Interrupted(
                    f"Interrupted during step {step.name!r}; it was undone and no later step "
                    "ran. Re-run the command to deploy."
                ) from None
            except (DeployKitError, OSError) as exc:
                # OSError: the engine's connection lost or refused mid-step (the SDK's
                # errors are OSErrors) fails the step like any other, without a traceback.
                deferred.active = False
                _undo(step, out, exc)
                if isinstance(exc, StepFailed):
                    exc.step = exc.step or step.name
                    raise
                failed = StepFailed(str(exc) if isinstance(exc, DeployKitError) else _engine(exc))
                failed.step = step.name
                raise failed from exc
            deferred.active = False
            out(f"      done in {time.monotonic() - started:.1f}s")
            if deferred.pending and i < total:
                raise Interrupted(
                    f"Stopped by Ctrl-C after step {i}/{total} ({step.name}); the stack is "
                    "consistent. Re-run the command to finish."
                )
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


def _engine(exc: OSError) -> str:
    first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return (
        f"{first} ({type(exc).__name__}); check that the Docker engine is running "
        "(`docker info`), then re-run the command"
    )


def _undo(step: Step, out: Output, exc: BaseException | None) -> None:
    if step.undo is None:
        return
    out(f"      undoing {step.name!r}…")
    try:
        step.undo()
    except (DeployKitError, OSError, KeyboardInterrupt) as undo_exc:
        failed = RecoveryFailed(
            f"{exc or 'interrupted'}; undoing the step failed too: {undo_exc}",
            hint="Check `manage.py deploy status` and the logs; `manage.py deploy rollback` "
            "or `deploy restore` bring back the previous version or data.",
        )
        failed.step = step.name
        raise failed from undo_exc
    out(f"      {step.name!r} undone: the stack runs what it ran before.")
