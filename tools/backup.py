"""What ``engage backup`` and ``engage restore`` call: every service's database, and the broker's definitions, in one archive.

A backup is a gzipped tar: ``manifest.json`` (when, which services, each
collection's document count and indexes), one ``<service>/<collection>.bson``
per collection (the documents as concatenated BSON, as mongodump writes them)
and ``broker/definitions.json`` when the broker's management API answered.

It runs online, while the services write. Each collection is read in one
pass, collection after collection, so the backup is not one instant across
collections. What keeps a restore sound is that a state change, its outbox
rows and the dedupe mark of the event it handled commit in one transaction:
each service's ``outbox`` and ``processed_events`` are read last, so every
state change in the backup has its events (a later one may have its rows
without its state: the relay then publishes an event whose effect the
restored state lacks, which consumers treat as any other event) and every
handled event whose effect is in the backup has its mark (a redelivery is
dropped as a duplicate). Restore into empty storage only: it refuses a
database that holds documents, naming it, and writes nothing then.
"""
from __future__ import annotations

import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import bson
from pymongo.database import Database

FORMAT = 1
# Read last, in this order: see the module's docstring.
LAST = ("outbox", "processed_events")


class BackupError(RuntimeError):
    """The backup or restore cannot go on; the message names what is wrong and nothing was written."""


def collection_order(names: Iterable[str]) -> list[str]:
    """Collections in the order a backup reads them: state first, then the outbox, then the dedupe marks."""
    names = [name for name in names if not name.startswith("system.")]
    return sorted(name for name in names if name not in LAST) + [name for name in LAST if name in names]


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(timezone.utc).timestamp())
    archive.addfile(info, io.BytesIO(data))


def write_backup(path: str | Path, databases: dict[str, Database], broker_definitions: dict | None = None,
                 say: Callable[[str], None] = print) -> dict:
    """Write every database of ``databases`` (service → database) to the archive at ``path``; the manifest."""
    path = Path(path)
    manifest: dict = {"format": FORMAT, "created_at": datetime.now(timezone.utc).isoformat(), "services": {},
                      "broker_definitions": broker_definitions is not None}
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as archive:
        for service, database in databases.items():
            collections = {}
            for name in collection_order(database.list_collection_names()):
                buffer = io.BytesIO()
                count = 0
                for document in database[name].find({}, sort=[("_id", 1)]):
                    buffer.write(bson.encode(document))
                    count += 1
                _add(archive, f"{service}/{name}.bson", buffer.getvalue())
                indexes = [{"key": list(index["key"].items()), **{k: v for k, v in index.items()
                                                                    if k not in ("key", "v", "ns")}}
                           for index in database[name].list_indexes() if index["name"] != "_id_"]
                collections[name] = {"documents": count, "indexes": indexes}
            manifest["services"][service] = {"database": database.name, "collections": collections}
            say(f"{service}: {sum(c['documents'] for c in collections.values())} documents in "
                f"{len(collections)} collections")
        if broker_definitions is not None:
            _add(archive, "broker/definitions.json", json.dumps(broker_definitions, indent=2).encode())
        _add(archive, "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    partial.replace(path)  # a backup that stopped half-way never looks like a whole one
    return manifest


def read_manifest(path: str | Path) -> dict:
    try:
        with tarfile.open(path, "r:gz") as archive:
            return json.loads(archive.extractfile("manifest.json").read())
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise BackupError(f"{path} is not an engage backup ({exc.__class__.__name__}: {exc}).") from None


def restore_backup(path: str | Path, databases: dict[str, Database], say: Callable[[str], None] = print) -> dict:
    """Bring the backup at ``path`` back into ``databases`` (service → database), which must be empty.

    Every target is checked before anything is written, so a refusal leaves storage as it was.
    """
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} has backup format {manifest.get('format')}; this engage reads format {FORMAT}.")
    missing = sorted(set(manifest["services"]) - set(databases))
    if missing:
        raise BackupError(f"no database is configured for {', '.join(missing)}, which the backup holds.")
    occupied = [f"{service} ({databases[service].name}: {name})" for service in manifest["services"]
                for name in databases[service].list_collection_names()
                if not name.startswith("system.") and databases[service][name].estimated_document_count()]
    if occupied:
        raise BackupError("restore writes into empty storage only; these hold documents: " + ", ".join(occupied))
    with tarfile.open(path, "r:gz") as archive:
        for service, entry in manifest["services"].items():
            database = databases[service]
            for name, collection in entry["collections"].items():
                data = archive.extractfile(f"{service}/{name}.bson").read()
                documents = bson.decode_all(data)
                if len(documents) != collection["documents"]:
                    raise BackupError(f"{service}/{name} holds {len(documents)} documents; the manifest says "
                                      f"{collection['documents']}. The backup is damaged.")
                for start in range(0, len(documents), 1000):
                    database[name].insert_many(documents[start:start + 1000], ordered=False)
                for index in collection["indexes"]:
                    options = {k: v for k, v in index.items() if k != "key"}
                    database[name].create_index([tuple(pair) for pair in index["key"]], **options)
            say(f"{service}: restored {sum(c['documents'] for c in entry['collections'].values())} documents")
    return manifest


def broker_definitions(archive_path: str | Path) -> dict | None:
    """The broker definitions a backup holds, or None."""
    with tarfile.open(archive_path, "r:gz") as archive:
        try:
            return json.loads(archive.extractfile("broker/definitions.json").read())
        except KeyError:
            return None
