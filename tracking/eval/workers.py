"""Tasks in worker processes that may die: the process pool behind ``run_dataset(..., workers > 1)``.

:func:`run_tasks` runs ``fn(task)`` for every task in ``spawn`` worker processes of a
:class:`concurrent.futures.ProcessPoolExecutor` and yields ``(task, result, error)`` as tasks finish.

Dead workers. A worker process that dies (``os._exit``, a signal such as SIGKILL, a crash in C code) breaks its
pool: every task in flight fails with ``BrokenProcessPool`` and the executor cannot say which one killed it.
The rule:

* At most ``workers`` tasks are in flight in a pool (the next one is submitted when one finishes), so the
  suspects of a break are only the tasks that were running.
* Each suspect is then run once more **alone**, in its own fresh single-worker pool (the suspects of one break
  run concurrently, one process each, so never more than ``workers`` processes). A suspect that breaks its own
  pool is a failure: its error is a :class:`WorkerDied` giving the worker's exit code or signal. The other
  suspects' results count as usual (each ran exactly once to completion).
* The tasks not yet started continue in a fresh pool. Nothing is run more than twice, and a dying task costs
  one extra run of at most ``workers - 1`` innocent tasks.

A worker that dies with no task in flight (after its task returned) only costs a fresh pool. When the first
``give_up`` tasks to end (3 by default) all killed their workers, also alone, and no task has completed yet,
the failure is systematic (e.g. the workers cannot import the task's function: a class defined in an
interactive ``__main__``): :func:`run_tasks` raises :class:`WorkersKeepDying` instead of failing every task
one by one.

Interrupts. Workers ignore SIGINT (a terminal's Ctrl-C goes to the whole process group): the parent alone
handles it. A ``KeyboardInterrupt`` in the parent (or closing the generator early) kills the live workers at
once (SIGKILL) and shuts the pools down before it propagates, so no worker outlives the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class WorkerDied(RuntimeError):
    """The worker process running a task died while the task ran alone in its pool."""


class WorkersKeepDying(RuntimeError):
    """The first tasks all killed their workers and none completed: a systematic failure, the run stops."""


def _init_worker(initializer: Callable[[], None] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (module docstring)
    if initializer is not None:
        initializer()


def _start(workers: int, initializer: Callable[[], None] | None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(initializer,))


def _processes(ex: ProcessPoolExecutor) -> list:
    # The executor's worker processes. Python < 3.14 has no public API for them (nor kill_workers()); the
    # executor forgets them at shutdown, so _exit_status takes the ones noted after each submit.
    return list((getattr(ex, "_processes", None) or {}).values())


def _submit(ex: ProcessPoolExecutor, fn: Callable[[Any], Any], task: Any) -> Future:
    """``ex.submit(fn, task)``, then wake the executor's manager thread once more.

    CPython (3.11-3.13) wakes the manager thread *before* it spawns the worker a submit adds, so the thread can
    go back to waiting on the sentinels of the workers that existed before: the death of the new worker is
    then noticed only when some other task returns (a sibling running for hours would delay it for hours).
    The second wake-up makes the thread re-read the worker list (measured: a death noticed at once instead
    of when the sibling finished).
    """
    future = ex.submit(fn, task)
    wakeup = getattr(ex, "_executor_manager_thread_wakeup", None)
    if wakeup is not None:
        wakeup.wakeup()
    return future


def _stop(ex: ProcessPoolExecutor, kill: bool) -> None:
    """Shut ``ex`` down; ``kill``: SIGKILL its workers first (they may be in the middle of a long task)."""
    if kill:
        kill_workers = getattr(ex, "kill_workers", None)  # Python >= 3.14
        if kill_workers is not None:
            kill_workers()
        else:
            for p in _processes(ex):
                if p.is_alive():
                    p.kill()
    ex.shutdown(wait=True, cancel_futures=True)


def _exit_status(processes: dict) -> str:
    """How dead worker processes ended: 'exit code 1', 'killed by SIGKILL', ... (empty if unknown)."""
    codes = sorted({p.exitcode for p in processes.values() if p.exitcode not in (None, 0)})
    parts = []
    for c in codes:
        try:
            parts.append(f"killed by {signal.Signals(-c).name}" if c < 0 else f"exit code {c}")
        except ValueError:
            parts.append(f"exit code {c}")
    return ", ".join(parts)


def _outcome(f: Future) -> tuple[Any, BaseException | None]:
    err = f.exception()
    return (None, err) if err is not None else (f.result(), None)


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int,
              initializer: Callable[[], None] | None = None,
              on_break: Callable[[list, str], None] | None = None,
              give_up: int = 3) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """Yield ``(task, fn(task), None)`` or ``(task, None, error)`` for every task, in completion order.

    ``fn``, the tasks and ``initializer`` (run once in each worker) must be picklable (module-level). ``error``
    is what ``fn`` raised in the worker, or a :class:`WorkerDied` (module docstring). ``on_break(suspects,
    exit_status)`` is told each time a shared pool breaks, before the suspects are rerun alone.
    :class:`WorkersKeepDying` after ``give_up`` dead workers and no completed task (module docstring). Use it
    in a ``with contextlib.closing(...)`` block so that leaving the loop early stops the workers at once.
    """
    if workers < 1:
        raise ValueError(f"run_tasks: workers must be >= 1, got {workers}")
    completed = dead = 0
    with contextlib.closing(_run_all(fn, tasks, workers, initializer, on_break)) as results:
        for task, result, err in results:
            if isinstance(err, WorkerDied):
                dead += 1
                if not completed and dead >= give_up:
                    raise WorkersKeepDying(f"the first {dead} tasks all killed their worker process, also each "
                                           f"alone (last: {err}), and none completed: stopping. Can a fresh "
                                           "process import the task's function (see the workers' tracebacks "
                                           "on stderr)?")
            else:
                completed += 1
            yield task, result, err


def _run_all(fn, tasks, workers, initializer, on_break):
    """:func:`run_tasks` without the give-up rule."""
    queue = deque(tasks)
    while queue:
        ex = _start(min(workers, len(queue)), initializer)
        in_flight: dict[Future, Any] = {}
        processes: dict = {}
        suspects: list = []
        try:
            while queue or in_flight:
                while queue and not suspects and len(in_flight) < workers:
                    try:
                        in_flight[_submit(ex, fn, queue[0])] = queue[0]
                    except BrokenProcessPool:
                        break  # the tasks in flight (if any) are about to fail with BrokenProcessPool
                    queue.popleft()
                    processes.update((p.pid, p) for p in _processes(ex))
                if not in_flight:
                    break  # broken with nothing in flight: a fresh pool for the rest
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for f in done:
                    task = in_flight.pop(f)
                    result, err = _outcome(f)
                    if isinstance(err, BrokenProcessPool):
                        suspects.append(task)
                    else:
                        yield task, result, err
        except BaseException:
            _stop(ex, kill=True)
            raise
        _stop(ex, kill=False)
        if suspects:
            if on_break is not None:
                on_break(suspects, _exit_status(processes))
            yield from _run_alone(fn, suspects, initializer)


def _run_alone(fn: Callable[[Any], Any], tasks: list, initializer: Callable[[], None] | None):
    """Each task in its own single-worker pool, all at once: a break is that task's own doing."""
    pools: list[ProcessPoolExecutor] = []
    try:
        futures: dict[Future, tuple[Any, ProcessPoolExecutor, dict]] = {}
        for task in tasks:
            ex = _start(1, initializer)
            pools.append(ex)
            f = _submit(ex, fn, task)
            futures[f] = (task, ex, {p.pid: p for p in _processes(ex)})
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                task, ex, processes = futures[f]
                result, err = _outcome(f)
                if isinstance(err, BrokenProcessPool):
                    ex.shutdown(wait=True)
                    status = _exit_status(processes)
                    err = WorkerDied("its worker process died" + (f" ({status})" if status else "")
                                     + " while it ran alone in a fresh pool")
                yield task, result, err
    except BaseException:
        for ex in pools:
            _stop(ex, kill=True)
        raise
    for ex in pools:
        _stop(ex, kill=False)
