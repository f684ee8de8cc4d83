"""The annotated copies of a batch's workbooks — each commune's own file with the cells to fix marked —
written in isolated worker processes while the run goes on, and recorded in the ledger."""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping, Sequence

from tonghop.annotate import annotate_workbook, annotated_name
from tonghop.findings import Finding
from tonghop.inbox import InboxFile
from tonghop.isolation import Outcome, Pool
from tonghop.period import PeriodContext
from tonghop.safety import safe_name
from tonghop.storage import Inbox, Outputs, open_inbox, open_outputs

log = logging.getLogger(__name__)


class _Annotate:
    """The annotation worker's task: (file, submission id, findings) → where its annotated copy went."""

    def __init__(self, inbox_location: str, output_location: str, period_id: str) -> None:
        self.inbox_location, self.output_location, self.period_id = inbox_location, output_location, period_id

    # Opened in the worker process on its first job (S3 clients are not fork-safe), then kept for the rest.
    @functools.cached_property
    def inbox(self) -> Inbox:
        return open_inbox(self.inbox_location)

    @functools.cached_property
    def outputs(self) -> Outputs:
        return open_outputs(self.output_location)

    def __call__(self, job: tuple[InboxFile, str, list[Finding]]) -> str | None:
        item, sid, findings = job
        folder = f"{safe_name(self.period_id)}/annotated/{safe_name(item.submitted_for or 'unplaced')}"
        relative = f"{folder}/{sid[:8]}-{annotated_name(item.file_name)}"
        content = self.inbox.read(item)
        try:
            copy = annotate_workbook(content, findings, item.file_name)
        except Exception as exc:  # noqa: BLE001 — openpyxl cannot rewrite it: the findings go out without the copy
            log.warning("could not annotate %s: %s: %s", item.key, type(exc).__name__, exc)
            return None
        self.outputs.write(relative, copy)
        return relative


class Annotations:
    """The annotated workbooks of a batch, written in isolated worker processes (openpyxl takes ~40 ms a
    workbook, and a hostile one may take much more) while the caller goes on; `finish()` waits and records
    where each one went. A copy that fails, runs out of memory or time is simply not attached."""

    def __init__(self, ctx: PeriodContext, items: Sequence[tuple[InboxFile, str]],
                 findings: Mapping[str, Sequence[Finding]]) -> None:
        self.warehouse = ctx.warehouse
        self.work = [(item, sid, list(findings[sid])) for item, sid in items]
        self.outcomes: list[Outcome] = []
        self.pool = self.thread = None
        if self.work:
            workers = min(os.cpu_count() or 1, 2 if len(self.work) >= 50 else 1)
            self.pool = Pool(_Annotate(ctx.settings.inbox, ctx.settings.output, ctx.period.id), workers)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self) -> None:
        self.outcomes = self.pool.map(self.work, label=lambda job: job[0].key)

    def finish(self) -> dict[str, str]:
        """submission id → path of its annotated workbook in the outputs (also stored in the ledger)."""
        if self.thread is None:
            return {}
        self.thread.join()
        self.pool.close()
        if len(self.outcomes) != len(self.work):  # the supervising thread failed: the e-mails go without copies
            log.error("annotating the batch's workbooks failed (see the log above); no copy is attached")
            return {}
        paths = {sid: outcome.value for (_, sid, _), outcome in zip(self.work, self.outcomes, strict=True)
                 if outcome.ok and outcome.value}
        self.warehouse.record_annotations(paths)
        return paths
