"""What every stage of a period run works with: the period, its map, spec, checks, inbox, outputs and
warehouse (`PeriodContext`), and how a stage reports its time and progress."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tonghop.calendar import Calendar, Period, load_calendar
from tonghop.config import Settings
from tonghop.correspondence import Correspondence, RetiredUnit, load_correspondence, retired_units
from tonghop.editions import EditionError, MapEdition
from tonghop.findings import Check, load_catalogue
from tonghop.hierarchy import Hierarchy
from tonghop.spec import TemplateSpec, load_spec
from tonghop.storage import Inbox, LocalOutputs, S3Outputs, open_inbox, open_outputs

if TYPE_CHECKING:  # SQLAlchemy is imported when a stage first reaches the warehouse: `tonghop check` never does
    from tonghop.warehouse import Warehouse

Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


def no_progress(items: Iterable[Any], total: int, description: str) -> Iterable[Any]:
    return items


class Stopwatch:
    """Wall seconds per stage, reported in the run summaries (and by the benchmark)."""

    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = {} if seconds is None else seconds

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


@dataclass(frozen=True, eq=False)
class PeriodContext:
    """One period run's world. Open it once per run (a DAG task, a CLI command) and pass it to the stages:
    they share its warehouse (migrated once), inbox and outputs."""

    settings: Settings
    spec: TemplateSpec
    hierarchy: Hierarchy
    calendar: Calendar
    period: Period

    @classmethod
    def open(cls, settings: Settings, period_id: str) -> PeriodContext:
        calendar = load_calendar(settings.calendar_path)
        period = calendar.get(period_id)
        ctx = cls(settings, load_spec(), settings.hierarchy_for(period), calendar, period)
        ctx._check_scope()
        return ctx

    def _check_scope(self) -> None:
        """TONGHOP_SCOPE names a unit of this period's map (a pre-reform code for a later period fails here,
        saying where its territory went, instead of deep in a stage)."""
        scope = self.scope
        if scope is None or scope in self.hierarchy:
            return
        successors = []
        if self.correspondence is not None:
            old = self.settings.editions.hierarchy(self.correspondence.old_edition).get(scope)
            links = self.correspondence.successors(scope, old.level) if old else []
            successors = [f"{x.new_code} ({self.hierarchy[x.new_code].name})" for x in links
                          if x.new_code in self.hierarchy]
        hint = f"; its territory is now in {', '.join(successors)}" if successors else ""
        raise EditionError(f"TONGHOP_SCOPE={scope} is not a unit of map edition {self.edition.id}, which period "
                           f"{self.period.id} runs on{hint}")

    @property
    def edition(self) -> MapEdition:
        return self.settings.edition_for(self.period)

    @property
    def scope(self) -> str | None:
        """The unit whose communes this deployment expects, in this period's map (None: the whole map)."""
        return self.settings.scope_for(self.edition.id)

    @functools.cached_property
    def correspondence(self) -> Correspondence | None:
        """The old → new correspondence when this period's edition is the new side of it (else None)."""
        spec = self.settings.editions.correspondence
        if spec is None or spec.new != self.edition.id:
            return None
        return load_correspondence(spec.source, spec.old, spec.new)

    @functools.cached_property
    def retired(self) -> Mapping[str, RetiredUnit]:
        """Commune codes of the previous map that are gone from this period's map, with what they became.

        Built on the first lookup: validation looks up only codes this map does not know, so a batch of valid
        reports (a one-file check, most ingest batches) never loads the previous map and the correspondence
        (0.3 s, a fifth of what a one-file check costs beyond its imports)."""
        return _OnFirstLookup(self._retired_units)

    def _retired_units(self) -> dict[str, RetiredUnit]:
        if self.correspondence is None:
            return {}
        old = self.settings.editions.hierarchy(self.correspondence.old_edition)
        return retired_units(self.correspondence, old, self.hierarchy)

    @functools.cached_property
    def warehouse(self) -> Warehouse:
        from tonghop.warehouse import Warehouse

        return Warehouse(self.settings.warehouse)

    @functools.cached_property
    def inbox(self) -> Inbox:
        return open_inbox(self.settings.inbox, self.settings.trust_received_at)

    @functools.cached_property
    def outputs(self) -> LocalOutputs | S3Outputs:
        return open_outputs(self.settings.output)

    @property
    def catalogue(self) -> dict[str, Check]:
        return load_catalogue(self.settings.expectations_dir)

    def close(self) -> None:
        if "warehouse" in self.__dict__:
            self.warehouse.dispose()


def run_directory(period_id: str, run_id: str | None = None) -> str:
    """Where a run's outputs go, relative to the outputs: <period>/runs/<run id> (a timestamp outside Airflow)."""
    run_id = run_id or dt.datetime.now(dt.UTC).strftime("cli-%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{period_id}/runs/{safe}"


class _OnFirstLookup(Mapping[str, Any]):
    """A mapping computed by `build` when it is first read."""

    def __init__(self, build: Callable[[], Mapping[str, Any]]) -> None:
        self._build = build

    @functools.cached_property
    def _items(self) -> Mapping[str, Any]:
        return self._build()

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
