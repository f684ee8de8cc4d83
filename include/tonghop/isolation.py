"""Per-file work in supervised worker processes: whatever one file does to its reader — a native crash, an
allocation of gigabytes, a loop that never ends — costs that file alone.

Workers are forked once per batch (never a process per file) and take files one after the other. Each has
an address-space budget on top of what it started with (RLIMIT_AS: an allocation past it fails inside the
worker, as a MemoryError or a native abort) and each file a wall-clock deadline, enforced from the parent,
which kills the worker and starts another. The file a dead or killed worker was on is known exactly (files
are handed out in order and answered in order); a file whose worker died is tried once more alone before it
is given up, in case something else killed the worker. The others it held are handed to the next worker.
"""

from __future__ import annotations

import collections
import faulthandler
import logging
import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)

MEMORY_MB = int(os.environ.get("TONGHOP_FILE_MEMORY_MB", "1024"))
SECONDS = float(os.environ.get("TONGHOP_FILE_SECONDS", "60"))
AHEAD = 2  # files handed to a worker before it answers the first: keeps it busy between answers

OK, FAILED, MEMORY, TIMEOUT, CRASHED = "ok", "failed", "memory", "timeout", "crashed"


@dataclass(frozen=True)
class Limits:
    memory_mb: int = MEMORY_MB  # address space a worker may add to what it had when it started
    seconds: float = SECONDS  # wall-clock time one file may take


@dataclass(frozen=True)
class Outcome:
    status: str  # OK, or why there is no value: FAILED (an exception), MEMORY, TIMEOUT, CRASHED
    value: Any = None
    detail: str = ""  # the exception, or the exit status, for the logs and the finding

    @property
    def ok(self) -> bool:
        return self.status == OK


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _serve(task: Callable[[Any], Any], conn: Connection, memory_mb: int) -> None:
    faulthandler.disable()  # a dying worker is reported by the parent, with its file; no stack dump here
    try:
        budget = _address_space() + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (budget, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (OSError, ValueError):  # not Linux, or a hard limit already lower: run with what there is
        pass
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, item = message
        try:
            answer = (index, OK, task(item), "")
        except MemoryError:
            answer = (index, MEMORY, None, "MemoryError")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            answer = (index, FAILED, None, f"{type(exc).__name__}: {exc}"[:300])
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001 — an unpicklable answer is this file's failure, not the batch's
            conn.send((index, FAILED, None, f"{type(exc).__name__}: {exc}"[:300]))


def _allow_children() -> None:
    """Under CeleryExecutor, Airflow forks each task from a process of Celery's prefork pool, which is marked
    daemonic, and the task inherits the mark: multiprocessing then refuses it children ("daemonic processes are
    not allowed to have children"). The mark guards against orphans; this process kills and reaps its readers
    itself (`stop`), and a reader whose parent dies ends with its pipe. So the inherited mark is cleared."""
    me = multiprocessing.current_process()
    if me.daemon:
        me._config["daemon"] = False  # the `daemon` setter is for a Process not started yet


class _Worker:
    def __init__(self, task: Callable[[Any], Any], limits: Limits) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(task, child, limits.memory_mb), daemon=True)
        self.process.start()
        child.close()
        self.held: collections.deque[int] = collections.deque()  # indexes handed out, in order
        self.since = time.monotonic()  # when it started on held[0]

    def give(self, index: int, item: Any) -> bool:
        try:
            self.conn.send((index, item))
        except OSError:
            return False
        if len(self.held) == 0:
            self.since = time.monotonic()
        self.held.append(index)
        return True

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class Pool:
    """Worker processes for `task`, forked now (from the calling thread); `map` may run in another thread."""

    def __init__(self, task: Callable[[Any], Any], workers: int = 1, limits: Limits | None = None) -> None:
        self.task, self.limits = task, limits or Limits()
        _allow_children()
        self.workers = [_Worker(task, self.limits) for _ in range(max(1, workers))]

    def map(self, items: Sequence[Any], label: Callable[[Any], str] = str,
            progress: Callable[[Iterable, int, str], Iterable] | None = None) -> list[Outcome]:
        """One Outcome per item, in order; `progress` wraps the stream of answers (a progress bar)."""
        answers = self.answers(items, label)
        outcomes = dict(progress(answers, len(items), "Đọc tệp") if progress else answers)
        return [outcomes[i] for i in range(len(items))]

    def answers(self, items: Sequence[Any], label: Callable[[Any], str] = str) -> Iterator[tuple[int, Outcome]]:
        """(index, Outcome) for every item, as they come."""
        limits, pool = self.limits, self.workers
        todo: collections.deque[int] = collections.deque(range(len(items)))
        outcomes: dict[int, Outcome] = {}
        second_chance: set[int] = set()
        while len(outcomes) < len(items):
            for worker in pool:
                while len(worker.held) < AHEAD and todo:
                    index = todo.popleft()
                    if not worker.give(index, items[index]):
                        todo.appendleft(index)
                        break
            now = time.monotonic()
            busy = [w for w in pool if w.held]
            timeout = max(0.0, min(w.since + limits.seconds - now for w in busy)) if busy else None
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout)
            for i, worker in enumerate(pool):
                while worker.held and _poll(worker.conn):
                    try:
                        index, status, value, detail = worker.conn.recv()
                    except (EOFError, OSError):
                        break
                    outcomes[index] = Outcome(status, value, detail)
                    worker.held.popleft()
                    worker.since = time.monotonic()
                    yield index, outcomes[index]
                if not worker.held:
                    continue
                dead = worker.process.exitcode is not None
                late = time.monotonic() - worker.since > limits.seconds
                if not dead and not late:
                    continue
                culprit = worker.held.popleft()
                todo.extendleft(reversed(worker.held))
                worker.held.clear()
                exitcode = worker.process.exitcode
                worker.stop(kill=True)
                pool[i] = _Worker(self.task, limits)
                if late:
                    outcomes[culprit] = Outcome(TIMEOUT, None, f"over {limits.seconds:g} s")
                elif culprit not in second_chance:
                    second_chance.add(culprit)
                    todo.appendleft(culprit)  # first on the new worker: alone until it answers
                    continue
                else:
                    outcomes[culprit] = Outcome(CRASHED, None, f"worker exit status {exitcode}")
                log.warning("%s: %s (%s)", label(items[culprit]), outcomes[culprit].status,
                            outcomes[culprit].detail)
                yield culprit, outcomes[culprit]

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


class Detached:
    """`task(None)` in a worker process of its own, forked now from the calling thread (so start it before any
    thread of yours), while the caller goes on; `wait()` gives its Outcome, killing it past `limits.seconds`."""

    def __init__(self, task: Callable[[Any], Any], limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        _allow_children()
        self.worker = _Worker(task, self.limits)
        self.worker.give(0, None)

    def wait(self) -> Outcome:
        worker = self.worker
        deadline = worker.since + self.limits.seconds
        while True:
            wait([worker.conn, worker.process.sentinel], max(0.0, deadline - time.monotonic()))
            if _poll(worker.conn):
                try:
                    _, status, value, detail = worker.conn.recv()
                except (EOFError, OSError):  # the pipe closed: the process is ending, its exit status comes next
                    worker.process.join(1)
                else:
                    worker.stop()
                    return Outcome(status, value, detail)
            exitcode = worker.process.exitcode
            if exitcode is not None:
                worker.stop(kill=True)
                return Outcome(CRASHED, None, f"worker exit status {exitcode}")
            if time.monotonic() >= deadline:
                worker.stop(kill=True)
                return Outcome(TIMEOUT, None, f"over {self.limits.seconds:g} s")


def run_isolated(task: Callable[[Any], Any], items: Sequence[Any], workers: int = 1,
                 limits: Limits | None = None, label: Callable[[Any], str] = str,
                 after_start: Callable[[], None] | None = None,
                 progress: Callable[[Iterable, int, str], Iterable] | None = None) -> list[Outcome]:
    """`task(item)` for every item, in worker processes; one Outcome per item, in order. `after_start` runs
    once the workers are forked (start threads there: forking a process with running threads is unsafe)."""
    if not items:
        if after_start:
            after_start()
        return []
    pool = Pool(task, min(workers, len(items)), limits)
    if after_start:
        after_start()
    try:
        return pool.map(items, label, progress)
    finally:
        pool.close()


def _poll(conn: Connection) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False
