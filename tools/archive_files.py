"""What ``engage import`` and ``engage export`` call: the archive's own actions, run from the operator's machine.

They write to the archive's database directly, through the same actions the
service runs; events they cause wait in the archive's outbox and are published
by the running archive service's relay (it sweeps for rows it did not write).

    from tools import archive_files
    results = archive_files.import_files(archive_files.archive_store(), ["page.txt"], say=print)
    paths = archive_files.export_files(archive_files.archive_store(), "exports/")
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from services.archive import actions, domain
from services.archive.store import ArchiveStore
from services.common.config import agency_source, load_config
from services.common.errors import DomainError
from services.common.mongo import connect, ensure_indexes
from services.common.storage import KIT_INDEXES


@dataclass(frozen=True)
class ImportResult:
    """How one file went: ``created``, ``existing`` (imported before) or ``failed`` with the reason."""

    path: str
    outcome: str
    idea_id: str | None = None
    title: str | None = None
    error: str | None = None

    @property
    def line(self) -> str:
        if self.outcome == "failed":
            return f"{self.path}: not imported - {self.error}"
        verb = "imported as" if self.outcome == "created" else "already in the archive as"
        return f"{self.path}: {verb} {self.idea_id} ({self.title})"


def archive_store(config: dict | None = None) -> ArchiveStore:
    """The archive's store as the service's config.yml (and the environment) names it, indexes declared."""
    config = config or load_config("archive")
    db = connect(config["MONGO_URI"])[config["MONGO_DATABASE"]]
    ensure_indexes(db, {**KIT_INDEXES, **ArchiveStore.indexes})
    return ArchiveStore(db, source=agency_source(config, "archive"), service="archive")


def import_files(store: ArchiveStore, paths: Iterable[str | Path], *,
                 say: Callable[[str], None] = print) -> list[ImportResult]:
    """Import each legacy page file in turn, saying ``[n/total] result`` as each one finishes.

    A file that cannot be read is reported with the line and what was
    expected, and nothing of it is stored; the others still go in. The same
    page imported again is reported as already in the archive.
    """
    paths = [Path(p) for p in paths]
    results = []
    for number, path in enumerate(paths, start=1):
        result = _import_one(store, path)
        results.append(result)
        say(f"[{number}/{len(paths)}] {result.line}")
    created = sum(r.outcome == "created" for r in results)
    existing = sum(r.outcome == "existing" for r in results)
    failed = sum(r.outcome == "failed" for r in results)
    say(f"{created} imported, {existing} already there, {failed} failed.")
    return results


def _import_one(store: ArchiveStore, path: Path) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return ImportResult(str(path), "failed", error="no such file")
    except UnicodeDecodeError as exc:
        return ImportResult(str(path), "failed", error=f"not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        return ImportResult(str(path), "failed", error=exc.strerror or str(exc))
    try:
        snapshot, created = actions.import_page(store, text, imported_by="engage import")
    except DomainError as error:
        reason = "; ".join(error.fields.get("body", [])) or error.message
        return ImportResult(str(path), "failed", error=reason)
    return ImportResult(str(path), "created" if created else "existing", snapshot["_id"], snapshot["title"])


def export_files(store: ArchiveStore, directory: str | Path, *,
                 datasets: Iterable[str] = domain.EXPORT_DATASETS, formats: Iterable[str] = domain.EXPORT_FORMATS,
                 say: Callable[[str], None] = print) -> list[Path]:
    """Write ``<dataset>.<format>`` files (the same content as the export API) into ``directory``."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset in datasets:
        for fmt in formats:
            _, text = actions.export_text(store, dataset, fmt)
            path = target / f"{dataset}.{fmt}"
            path.write_text(text, encoding="utf-8", newline="")
            say(f"wrote {path}")
            written.append(path)
    return written
