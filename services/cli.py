"""``engage``: the operator's command line.

    engage status [--json]                      every service: up, ready, queues, outbox, dead letters,
                                                and restarts by `make run`
    engage agency create --slug S --name N      an agency (and optionally its first administrator)
    engage operator grant EMAIL                 make a registered member a platform operator
    engage dead-letters list|replay             what consumers gave up on, and sending it back
    engage events replay --since T --types … --to QUEUE
                                                history from the event logs into one subscriber's queue
    engage subscriber create|list|revoke NAME   broker accounts for outside systems: read public events only
    engage contract [--check]                   write docs/asyncapi.yaml from the event registry, or check it
    engage seed-demo                            demonstration content (idempotent)
    engage import FILE…  /  engage export       legacy pages into the archive; open data out of it
    engage backup [--out F]  /  engage restore F every service's database (and the broker definitions) in one
                                                archive, taken online; restore into empty storage only

Settings come from the same environment the services read (``AMQP_URI``,
``MONGO_URI``, ports, database names), through each service's config.yml. Against
a deployment: ``<SERVICE>_URL`` says where ``engage status`` reaches each service
(``MEMBERS_URL=http://members.internal:8001``), ``<SERVICE>_MONGO_URI`` gives the
operator's credentials for one service's database, and the replays take
``--dry-run`` to say what they would send.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Sequence

# Libraries' import-time notices (eventlet's deprecation, nameko's pkg_resources) mean nothing to an operator.
warnings.filterwarnings("ignore", message=r"\s*(Eventlet is deprecated|pkg_resources is deprecated)")

from services.common.config import SERVICE_NAMES, load_config  # noqa: E402

STORED_SERVICES = ("members", "ideas", "notify", "archive")


def _config(service: str) -> dict:
    return load_config(service)


def _amqp_uri() -> str:
    """The broker as the ``operator`` user: on the bus the CLI is the platform operator.

    ``AMQP_URI`` as given when it names a user (the operator in compose; any
    other user is taken at its word, with that user's rights); with the
    configuration's placeholder ``guest``, on a developer's machine, the
    operator's password from the secrets file ``make run`` and ``make test``
    keep in ``.data/``.
    """
    from urllib.parse import quote, urlsplit, urlunsplit

    from services.common.bus import broker_user
    from services.common.config import ROOT
    from services.common.rpc import OPERATOR_BROKER_USER

    uri = _config("members")["AMQP_URI"]
    local = ROOT / ".data" / "broker-users.json"
    if broker_user(uri) != "guest" or not local.exists():
        return uri
    password = json.loads(local.read_text())[OPERATOR_BROKER_USER]
    parts = urlsplit(uri)
    netloc = f"{OPERATOR_BROKER_USER}:{quote(password, safe='')}@{parts.hostname}" + (
        f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _database(service: str):
    """A service's database, named as its config.yml names it (``<NAME>_DATABASE``, default engage_<name>).

    With ``<SERVICE>_MONGO_URI`` set (an operator's credentials for that one database), that address is
    used instead of ``MONGO_URI``, as a deployment gives each service its own storage user.
    """
    import os

    from services.common.config import ROOT
    from services.common.mongo import connect

    if (ROOT / "services" / service / "config.yml").exists():
        config = _config(service)
        return connect(os.environ.get(f"{service.upper()}_MONGO_URI") or config["MONGO_URI"])[config["MONGO_DATABASE"]]
    uri = _config("members")["MONGO_URI"]
    return connect(uri)[os.environ.get(f"{service.upper()}_DATABASE", f"engage_{service}")]


def _port(service: str) -> int:
    return int(str(_config(service)["WEB_SERVER_ADDRESS"]).rsplit(":", 1)[1])


def service_url(service: str, environ=None) -> str:
    """Where the operator reaches a service's HTTP: ``<SERVICE>_URL`` (a deployment's address, e.g.
    ``http://members.internal:8001``), else the host and port its config.yml listens on (loopback for 0.0.0.0)."""
    import os

    environ = os.environ if environ is None else environ
    configured = environ.get(f"{service.upper()}_URL")
    if configured:
        return configured.rstrip("/")
    host, port = str(_config(service)["WEB_SERVER_ADDRESS"]).rsplit(":", 1)
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"


def _rpc():
    from services.common.rpc import ClusterRpcProxy

    return ClusterRpcProxy({"AMQP_URI": _amqp_uri()}, timeout=30)


def _package_version() -> str:
    try:
        return version("engagement-network")
    except PackageNotFoundError:
        return "unknown"


# -- status ------------------------------------------------------------------

def service_status(service: str) -> dict:
    """What an operator wants to know about one service, gathered without touching its workers."""
    import requests

    base = service_url(service)
    status: dict = {"service": service, "url": base, "port": _port(service), "version": _package_version()}
    try:
        status["up"] = requests.get(f"{base}/health", timeout=2).status_code == 200
        ready = requests.get(f"{base}/ready", timeout=3)
        status["ready"] = ready.status_code == 200
        status["problems"] = ready.json().get("problems", [])
    except requests.RequestException:
        status.update(up=False, ready=False, problems=["not answering on its port"])
    if service in STORED_SERVICES:
        try:
            db = _database(service)
            status["outbox_backlog"] = db.outbox.count_documents({"state": "pending"})
            status["dead_letters"] = db.dead_letters.count_documents({"state": "dead"})
        except Exception as exc:  # storage down is itself the answer
            status["problems"] = status.get("problems", []) + [f"storage: {exc.__class__.__name__}"]
    status["queues"] = queue_depths(service)
    supervised = supervised_services().get(service)
    if supervised:
        status["restarts"] = supervised["restarts"]
        status["supervisor"] = supervised
        if supervised.get("keeps_exiting"):
            status["problems"] = status.get("problems", []) + [
                f"keeps exiting (last: {supervised.get('last_exit')}); make run keeps restarting it"]
    return status


def supervised_services(path=None) -> dict[str, dict]:
    """Per service, what the supervisor of a running `make run` last wrote (restarts, last exit); {} without one."""
    import os
    from pathlib import Path

    from services.common.config import ROOT

    try:
        state = json.loads(Path(path or ROOT / ".data" / "runner.json").read_text())
        os.kill(int(state["runner_pid"]), 0)
    except PermissionError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no `make run`, or the file of one that is gone
    return state.get("services") or {}


def queue_depths(service: str) -> list[dict]:
    """Depth and consumers of the service's queues, asked of the broker with passive declares."""
    from kombu import Connection

    names = [f"rpc-{service}"] + sorted(_consumer_queues(service))
    found = []
    try:
        with Connection(_amqp_uri(), connect_timeout=3) as connection:
            for name in names:
                channel = connection.channel()
                try:
                    _, messages, consumers = channel.queue_declare(name, passive=True)
                    found.append({"queue": name, "messages": messages, "consumers": consumers})
                except Exception:
                    found.append({"queue": name, "messages": None, "consumers": 0})
                finally:
                    try:
                        channel.close()
                    except Exception:
                        pass
    except Exception:
        return [{"queue": name, "messages": None, "consumers": None} for name in names]
    return found


def _consumer_queues(service: str) -> set[str]:
    """Queue names of the service's reliable consumers, read from its class."""
    import importlib
    import inspect

    from services.common.consumer import ReliableConsumer

    try:
        module = importlib.import_module(f"services.{service}.service")
    except ImportError:
        return set()
    names = set()
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if getattr(cls, "name", None) != service:
            continue
        for attr, method in inspect.getmembers(cls):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, ReliableConsumer):
                    names.add(f"{service}.{attr}")
    return names


def cmd_status(args) -> int:
    statuses = [service_status(s) for s in SERVICE_NAMES]
    if args.json:
        print(json.dumps(statuses, indent=2))
    else:
        for st in statuses:
            mark = "ready" if st.get("ready") else ("up, not ready" if st.get("up") else "down")
            line = f"{st['service']:<8} {st['url']:<26} {mark:<14}"
            if "outbox_backlog" in st:
                line += f" outbox {st['outbox_backlog']:<5} dead letters {st['dead_letters']:<4}"
            if "restarts" in st:
                line += f" restarts {st['restarts']}"
                if st["supervisor"].get("last_exit"):
                    line += f" (last exit: {st['supervisor']['last_exit']} at {st['supervisor']['last_exit_at']})"
            print(line)
            for queue in st["queues"]:
                depth = "?" if queue["messages"] is None else queue["messages"]
                print(f"           queue {queue['queue']:<40} {depth} waiting, {queue['consumers']} consumers")
            for problem in st.get("problems", []):
                print(f"           ! {problem}")
    return 0 if all(st.get("ready") for st in statuses) else 1


# -- agencies ----------------------------------------------------------------

def cmd_agency_create(args) -> int:
    admin = None
    if args.admin_email:
        admin = {"email": args.admin_email, "display_name": args.admin_name or args.admin_email.split("@")[0],
                 "password": args.admin_password}
    with _rpc() as rpc:
        agency = rpc.members.create_agency({"slug": args.slug, "name": args.name, "email_domains": args.domain or []},
                                           admin)
    print(f"Created agency {agency['name']} ({agency['slug']})" + (f" with administrator {args.admin_email}" if admin else ""))
    return 0


def cmd_operator_grant(args) -> int:
    """Operators are made from the command line only: no page or API can grant the role."""
    from services.common.config import agency_source
    from services.members import domain
    from services.members.store import MemberStore

    store = MemberStore(_database("members"), source=agency_source(_config("members"), "members"), service="members")
    member = store.member_by_email(domain.normalise_email(args.email))
    if member is None:
        print(f"No member has the email {args.email}; register them first.", file=sys.stderr)
        return 1
    def write(tx: MemberStore) -> None:
        roles = domain.with_operator(member.get("roles", []))
        tx.audit({"action": "operator.granted", "actor": "operator-cli", "agency": member["agency"],
                  "target": member["id"], "from": member.get("roles", ["member"]), "to": roles})
        tx.change_roles(member["id"], roles)

    store.transaction(write)
    print(f"{member['display_name']} is now a platform operator (from their next log-in).")
    return 0


# -- dead letters ------------------------------------------------------------

def cmd_dead_letters_list(args) -> int:
    rows = []
    for service in _services(args.service):
        for record in _database(service).dead_letters.find({"state": "dead"}).sort("dead_at", 1):
            rows.append({"service": service, "id": record["_id"], "queue": record["queue"], "type": record.get("type"),
                         "event_id": record.get("event_id"), "attempts": record.get("attempts"),
                         "dead_at": record["dead_at"].isoformat(), "error": record.get("error")})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No dead letters.")
    else:
        for row in rows:
            print(f"{row['service']:<8} {row['id']}  {row['queue']}  {row['type'] or 'unreadable'}  "
                  f"after {row['attempts']} tries at {row['dead_at']}\n         {row['error']}")
    return 0


def cmd_dead_letters_replay(args) -> int:
    if args.dry_run:
        return _dead_letters_dry_run(args)
    from services.common.bus import QueueMissing
    from services.common.consumer import RefusedReplay, refused_dead_letters, replay_dead_letters

    total = 0
    for service in _services(args.service):
        try:
            count = replay_dead_letters(_database(service), _amqp_uri(), args.id or None)
        except (QueueMissing, RefusedReplay) as missing:
            print(f"{service}: not replayed: {missing}.", file=sys.stderr)
            return 1
        if count:
            print(f"{service}: replayed {count}")
        refused = 0 if args.id else refused_dead_letters(_database(service))
        if refused:
            print(f"{service}: {refused} dead letter(s) failed the publisher check and are never replayed",
                  file=sys.stderr)
        total += count
    print(f"Replayed {total} dead letter(s)." if total else "Nothing to replay.")
    return 0


def _dead_letters_dry_run(args) -> int:
    """What ``dead-letters replay`` would send, by service and queue; nothing is sent."""
    total = 0
    for service in _services(args.service):
        query: dict = {"state": "dead", "refused": {"$ne": True}}
        if args.id:
            query["_id"] = {"$in": list(args.id)}
        by_queue: dict[str, int] = {}
        for record in _database(service).dead_letters.find(query, {"queue": 1}):
            by_queue[record["queue"]] = by_queue.get(record["queue"], 0) + 1
        for queue, count in sorted(by_queue.items()):
            print(f"{service}: would replay {count} to {queue}")
        total += sum(by_queue.values())
    print(f"Dry run: {total} dead letter(s) would be replayed; nothing was sent.")
    return 0


def _services(only: str | None) -> Sequence[str]:
    return [only] if only else STORED_SERVICES


# -- event replay ------------------------------------------------------------

def cmd_events_replay(args) -> int:
    from services.common.events_log import QueueMissing, replay_history

    since = datetime.fromisoformat(args.since) if args.since else datetime(1970, 1, 1, tzinfo=timezone.utc)
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    databases = {service: _database(service) for service in _services(args.service)}
    if args.dry_run:
        from services.common.events_log import history

        by_type: dict[str, int] = {}
        for row in history(databases, since=since, types=args.types or None):
            by_type[f"{row['service']} {row['type']}"] = by_type.get(f"{row['service']} {row['type']}", 0) + 1
        for name, count in sorted(by_type.items()):
            print(f"{name}: {count}")
        print(f"Dry run: {sum(by_type.values())} events would be replayed into {args.to}; nothing was sent.")
        return 0
    try:
        count = replay_history(databases, _amqp_uri(), to_queue=args.to, since=since, types=args.types or None,
                               progress=lambda n: print(f"\r  {n} events replayed", end="", flush=True))
    except QueueMissing as missing:
        print(f"Nothing replayed: {missing}.", file=sys.stderr)
        return 1
    print(f"\nReplayed {count} events into {args.to}.")
    return 0


# -- outside subscribers -----------------------------------------------------

def _management_url() -> str:
    """The broker's management API as the operator: ``RABBITMQ_MANAGEMENT_URL``, else port 15672 of the AMQP host."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    amqp = urlsplit(_amqp_uri())
    configured = os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{amqp.hostname}:15672/"
    parts = urlsplit(configured)
    if parts.username:
        return configured
    netloc = f"{amqp.username}:{amqp.password}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def cmd_subscriber_create(args) -> int:
    from services import subscriber_accounts

    account = subscriber_accounts.create(_management_url(), _amqp_uri(), args.name)
    print(f"Subscriber account {account.user}: may read the public *.events exchanges into queues named "
          f"subscriber.{account.name}.… (or server-named); it may publish nothing and call nothing.")
    print("Its URI (shown once; `engage subscriber create` again makes a new password):")
    print(account.uri)
    return 0


def cmd_subscriber_list(args) -> int:
    from services import subscriber_accounts

    names = subscriber_accounts.listed(_management_url())
    print("\n".join(names) if names else "No subscriber accounts.")
    return 0


def cmd_subscriber_revoke(args) -> int:
    from services import subscriber_accounts

    if subscriber_accounts.revoke(_management_url(), args.name):
        print(f"Revoked {args.name}: its user is deleted and its connections closed; its queues stay until deleted.")
        return 0
    print(f"No subscriber account called {args.name}.", file=sys.stderr)
    return 1


# -- the published event contract -------------------------------------------

def cmd_contract(args) -> int:
    from services.common import asyncapi

    if args.check:
        if asyncapi.is_current():
            print(f"{asyncapi.ASYNCAPI_PATH} matches the event registry.")
            return 0
        print(f"{asyncapi.ASYNCAPI_PATH} differs from the event registry; run `engage contract` and commit it.",
              file=sys.stderr)
        return 1
    changed = asyncapi.write()
    print(f"{'Wrote' if changed else 'Unchanged:'} {asyncapi.ASYNCAPI_PATH}")
    return 0


# -- demonstration content, import, export -----------------------------------

def cmd_seed_demo(args) -> int:
    from tools.demo import seed_demo

    seed_demo(web_url=args.web_url or f"http://127.0.0.1:{_port('web')}", rpc_factory=_rpc, say=print)
    return 0


def cmd_import(args) -> int:
    from tools import archive_files

    store = archive_files.archive_store()
    results = archive_files.import_files(store, args.files, say=print)
    return 1 if any(result.outcome == "failed" for result in results) else 0


def _management_get(path: str):
    """GET ``path`` of the broker's management API as the operator; the parsed JSON."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(_management_url())
    url = urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else ""),
                      parts.path.rstrip("/") + path, "", ""))
    request = urllib.request.Request(url)
    credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def cmd_backup(args) -> int:
    from tools import backup

    from services.common.events import utc_now

    definitions = None
    try:
        definitions = _management_get("/api/definitions")
    except Exception as exc:  # the storage is what must not be missed; say what is left out
        print(f"broker definitions left out: the management API did not answer ({exc.__class__.__name__}: {exc})",
              file=sys.stderr)
    out = args.out or f"engage-backup-{utc_now().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
    backup.write_backup(out, {service: _database(service) for service in STORED_SERVICES}, definitions, say=print)
    print(f"backup written to {out}")
    return 0


def cmd_restore(args) -> int:
    from tools import backup

    backup.restore_backup(args.file, {service: _database(service) for service in STORED_SERVICES}, say=print)
    if backup.broker_definitions(args.file) is not None:
        print("The backup also holds the broker's definitions (broker/definitions.json in the archive); a new "
              "broker loads them as deploy/README.md describes.")
    print("Start the services: their relays publish what the outboxes still hold, and consumers drop what "
          "they had handled.")
    return 0


def cmd_export(args) -> int:
    from tools import archive_files

    archive_files.export_files(archive_files.archive_store(), args.out, say=print)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engage", description="Operate an Engagement Network instance.")
    commands = parser.add_subparsers(dest="command", required=True)

    status = commands.add_parser("status", help="health, readiness, queues, outbox, dead letters and "
                                                "`make run` restarts of every service")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=cmd_status)

    agency = commands.add_parser("agency", help="manage agencies").add_subparsers(dest="action", required=True)
    create = agency.add_parser("create", help="create an agency and optionally its first administrator")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--domain", action="append", help="email domain allowed to register (repeatable)")
    create.add_argument("--admin-email")
    create.add_argument("--admin-name")
    create.add_argument("--admin-password")
    create.set_defaults(run=cmd_agency_create)

    operator = commands.add_parser("operator", help="platform operators").add_subparsers(dest="action", required=True)
    grant = operator.add_parser("grant", help="make a registered member a platform operator")
    grant.add_argument("email")
    grant.set_defaults(run=cmd_operator_grant)

    dead = commands.add_parser("dead-letters", help="list or replay dead letters").add_subparsers(dest="action", required=True)
    listing = dead.add_parser("list")
    listing.add_argument("--service", help="one service (default: every service that stores data)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_dead_letters_list)
    replay = dead.add_parser("replay")
    replay.add_argument("--service", help="one service (default: every service that stores data)")
    replay.add_argument("--id", action="append", help="replay only this dead letter (repeatable)")
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed; send nothing")
    replay.set_defaults(run=cmd_dead_letters_replay)

    events = commands.add_parser("events", help="the event log").add_subparsers(dest="action", required=True)
    history = events.add_parser("replay", help="re-publish history into one subscriber's queue")
    history.add_argument("--since", help="ISO 8601 time (default: the beginning)")
    history.add_argument("--types", nargs="*", help="event types such as idea.rated (default: all)")
    history.add_argument("--to", required=True, help="the subscriber's queue")
    history.add_argument("--service", choices=STORED_SERVICES, help="only this publisher's log")
    history.add_argument("--dry-run", action="store_true", help="count what would be replayed; send nothing")
    history.set_defaults(run=cmd_events_replay)

    subscriber = commands.add_parser("subscriber", help="broker accounts for outside subscribers") \
        .add_subparsers(dest="action", required=True)
    for action, run, help_text in (("create", cmd_subscriber_create, "make an account and print its amqp:// URI"),
                                   ("revoke", cmd_subscriber_revoke, "delete an account")):
        command = subscriber.add_parser(action, help=help_text)
        command.add_argument("name", help="lower-case letters, digits and hyphens")
        command.set_defaults(run=run)
    subscriber.add_parser("list", help="the accounts on the broker").set_defaults(run=cmd_subscriber_list)

    contract_cmd = commands.add_parser("contract", help="generate docs/asyncapi.yaml from the event registry")
    contract_cmd.add_argument("--check", action="store_true", help="fail when the file differs from the registry")
    contract_cmd.set_defaults(run=cmd_contract)

    seed = commands.add_parser("seed-demo", help="load demonstration content (safe to run again)")
    seed.add_argument("--web-url")
    seed.set_defaults(run=cmd_seed_demo)

    imports = commands.add_parser("import", help="import legacy consultation pages (plain text) into the archive")
    imports.add_argument("files", nargs="+", metavar="FILE")
    imports.set_defaults(run=cmd_import)

    export = commands.add_parser("export", help="write the open-data export (JSON and CSV) to a folder")
    export.add_argument("--out", default="exports", help="folder to write into (default: exports)")
    export.set_defaults(run=cmd_export)

    backup_cmd = commands.add_parser("backup", help="every service's database and the broker definitions, "
                                                    "online, into one archive")
    backup_cmd.add_argument("--out", help="the archive to write (default: engage-backup-<time>.tar.gz)")
    backup_cmd.set_defaults(run=cmd_backup)
    restore = commands.add_parser("restore", help="bring a backup back into empty storage")
    restore.add_argument("file")
    restore.set_defaults(run=cmd_restore)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an operator sees the cause and what to do, not a traceback
        print(f"engage {args.command}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print("Check that the broker and storage are reachable (AMQP_URI, MONGO_URI) and the services are running "
              "(engage status).", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
