"""``jaywatch central …`` sub-commands. Heavy imports stay inside the functions."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any


def _context(args: argparse.Namespace) -> Any:
    from central.config import load_config
    from central.context import Context

    return Context.from_config(load_config(args.config))


def cmd_migrate(args: argparse.Namespace) -> int:
    from central.config import load_config
    from central.store.db import migrate

    migrate(load_config(args.config).database_url)
    print("database schema is current")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from jaywatch.keys import KeyFileError, generate_key_file, public_key_b64

    try:  # 0600 from the start, written atomically (jaywatch.keys)
        key = generate_key_file(args.out, overwrite=args.force)
    except KeyFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(public_key_b64(key))  # what a gateway's ``central_public_key`` takes
    return 0


def _serve_notices_config(args: argparse.Namespace) -> Any:
    """The notices config ``serve`` mounts receipts for: --notices-config, else
    $JAYWATCH_NOTICES_CONFIG, else None (no provider that calls back)."""
    path = getattr(args, "notices_config", None) or os.environ.get("JAYWATCH_NOTICES_CONFIG")
    if not path:
        return None
    from central.notices.config import load_notices_config

    return load_notices_config(path)


def cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import threading

    from central.config import load_signing_key
    from central.gallery_announcer import GalleryAnnouncer
    from central.ingest.consumer import IngestWorker

    ctx = _context(args)
    try:
        key = load_signing_key(ctx.config)
        notices = _serve_notices_config(args)
        from central.payments import load_provider

        payment_provider = load_provider(ctx.config.payments)  # its secrets, read now
    except ValueError as e:
        ctx.close()
        print(f"error: {e}", file=sys.stderr)
        return 2
    # Keeps the broker's retained gallery announcement at the newest stored version: at
    # start-up, after a version was stored while the broker was down, and after the broker
    # lost it (checked every gallery.retained_check_s).
    announcer = GalleryAnnouncer(
        ctx.sessions,
        ctx.config.mqtt,
        ctx.config.api.base_url,
        signing_key=key,
        retained_check_s=ctx.config.gallery.retained_check_s,
    ).start()
    # Issues each confirmation's fine once its undo window (review.undo_window_s) passed;
    # any number of serve processes may run one (each fine is claimed exactly once).
    from central.issuer import SanctionIssuer

    issuer = SanctionIssuer(ctx, ctx.config.review.issue_poll_s).start()
    worker = None
    if not args.no_ingest:
        worker = IngestWorker(
            ctx.config.mqtt, ctx.config.ingest, ctx.sessions, ctx.evidence, signing_key=key
        )
        worker.start(wait_connected=0)
    try:
        if args.no_api:
            threading.Event().wait()
        else:
            import uvicorn

            from central.api.app import create_app

            health = worker.health if worker else None
            # Uploads and erasures only wake the announcer: it publishes the newest stored
            # version (this one or a later one) and marks it announced after the PUBACK.
            app = create_app(
                ctx,
                announce_gallery=lambda _msg: announcer.wake(),
                ingest_health=health,
                payment_provider=payment_provider,
            )
            if notices is not None:  # the SMS provider's delivery receipts, own auth each
                from central.notices.api import receipts_router

                app.include_router(receipts_router(ctx.sessions, notices))
            from central.web import publish_display_on_mqtt  # LED signs: display topics

            publish_display_on_mqtt(app)
            # Open SSE streams (display screens) must not hold a shutdown forever.
            # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from any
            # loopback peer; the app trusts only http.trusted_proxies (central/frontdoor).
            from central.api.logfilter import uvicorn_log_config

            uvicorn.run(
                app,
                host=args.host,
                port=args.port,
                log_level="info",
                log_config=uvicorn_log_config(),  # no token or code in the access log
                timeout_graceful_shutdown=5,
                proxy_headers=False,
            )
    except KeyboardInterrupt:
        pass
    finally:
        announcer.stop()
        issuer.stop()
        if worker:
            worker.stop()
            logging.getLogger(__name__).info("ingest counts: %s", dict(worker.counts))
        ctx.close()
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from central.workflow.common import SYSTEM
    from central.workflow.users import create_user

    password = os.environ.get("JAYWATCH_PASSWORD") or getpass.getpass(
        f"password for {args.username}: "
    )
    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            create_user(s, SYSTEM, args.username, password, args.role)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print(f"user {args.username} ({args.role}) created")
    return 0


def cmd_device_add(args: argparse.Namespace) -> int:
    from central.config import load_signing_key
    from central.workflow.common import SYSTEM, WorkflowError
    from central.workflow.devices import broker_commands, parse_public_key, register_device
    from jaywatch.broker_acl import AclError, load_acl
    from jaywatch.keys import public_key_b64

    cameras = {}
    for spec in args.camera or []:
        cam, _, place = spec.partition("=")
        cameras[cam] = place
    ctx = _context(args)
    try:
        central_key = load_signing_key(ctx.config)
        key = parse_public_key(args.public_key)
        acl_file = ctx.config.broker_acl_file
        try:  # the rules must be readable before anything is registered
            load_acl(acl_file)
        except AclError as e:
            raise ValueError(f"broker_acl_file: {e}") from None
        with ctx.sessions.begin() as s:
            creds = register_device(s, SYSTEM, args.device_id, key, args.place, cameras)
            # In the transaction: a device id the broker rules refuse registers nothing.
            lines = broker_commands(creds, acl_file)
    except (ValueError, WorkflowError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print(f"device {creds.device_id} registered")
    print(f"mqtt username: {creds.mqtt_username}")
    print(f"mqtt password: {creds.mqtt_password}")
    print("# add to the broker (mosquitto dynamic-security; connection options for the dynsec")
    print("# admin in mosquitto_ctrl's config file or added to each line):")
    print("\n".join(lines))
    if central_key is not None:
        print("# gateway config (central signs its acks and gallery announcements):")
        print(f"central_public_key: {public_key_b64(central_key)}")
    return 0


def cmd_broker_init(args: argparse.Namespace) -> int:
    from jaywatch.broker_acl import AclError, init_dynsec_file

    password = os.environ.get("JAYWATCH_BROKER_ADMIN_PASSWORD") or getpass.getpass(
        f"password for the broker's dynsec admin {args.admin_user}: "
    )
    try:
        init_dynsec_file(args.file, args.admin_user, password)
    except AclError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.file}: dynsec admin {args.admin_user}; nothing else may log in yet")
    return 0


def cmd_broker_user(args: argparse.Namespace) -> int:
    import secrets

    from central.config import load_config
    from jaywatch.broker_acl import AclError, load_acl, shell_lines, user_commands

    acl_file = args.acl or load_config(args.config).broker_acl_file
    password = secrets.token_urlsafe(24)
    try:
        cmds = user_commands(load_acl(acl_file), args.username, password)
    except AclError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"# mqtt username: {args.username}")
    print(f"# mqtt password: {password}")
    print("\n".join(shell_lines(cmds)))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from central.retention import run_purge

    ctx = _context(args)
    try:
        counts = run_purge(ctx.sessions, ctx.evidence, ctx.config.retention)
    finally:
        ctx.close()
    for kind, n in sorted(counts.items()):
        print(f"{kind}: {n}")
    return 0


def cmd_counts_rebuild(args: argparse.Namespace) -> int:
    """The database's kept totals (event counts per status, dead-letter bytes) recomputed
    from the rows: after a restore that loaded them with triggers disabled."""
    from central.store import dead_letter_bytes, status_counts

    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            ev_before, ev_after = status_counts.rebuild(s)
            dl_before, dl_after = dead_letter_bytes.rebuild(s)
    finally:
        ctx.close()
    for st in sorted(set(ev_before) | set(ev_after)):
        print(f"events {st}: {ev_before.get(st, 0)} -> {ev_after.get(st, 0)}")
    print(f"dead letter bytes: {dl_before} -> {dl_after}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from central import audit

    ctx = _context(args)
    try:
        with ctx.sessions() as s:
            report = audit.verify(s, expect_head=args.expect_head)
    finally:
        ctx.close()
    for p in report.problems:
        print(f"PROBLEM: {p}")
    print(f"{report.entries} entries, head {report.head}: {'OK' if report.ok else 'BROKEN'}")
    return 0 if report.ok else 1


def cmd_audit_verify_export(args: argparse.Namespace) -> int:
    """Needs no database or config: an auditor's machine with the package is enough."""
    from central.audit_export import verify_file

    try:
        rep = verify_file(Path(args.file), expect_head=args.expect_head)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    for p in rep.problems:
        print(f"PROBLEM: {p}")
    for a, b in rep.gaps[:20]:
        print(f"gap: seq {a + 1}..{b - 1} not in this export (filtered): link not checked")
    scope = "whole chain from seq 1" if rep.complete else "partial (filtered or not from seq 1)"
    print(
        f"{rep.entries} entries, seq {rep.first_seq}..{rep.last_seq}, {scope}, "
        f"last hash {rep.head}: {'OK' if rep.ok else 'BROKEN'}"
    )
    return 0 if rep.ok else 1


def _cli_actor() -> Any:
    """The admin acting from this shell, audited as ``cli:<os user>``: whoever can run the
    CLI with central's config already holds the database, so the admin role is implied."""
    from central.workflow.common import Actor

    class CliActor(Actor):
        @property
        def label(self) -> str:
            return f"cli:{self.name}"

    return CliActor(name=getpass.getuser(), role="admin")


def _announce_latest(ctx: Any) -> int:
    """Publish the newest stored snapshot retained (signed with central's key, if set) and
    mark it announced once the broker acknowledged it."""
    from central.config import load_signing_key
    from central.gallery_announcer import announce_latest

    try:
        key = load_signing_key(ctx.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    m = ctx.config.mqtt
    try:
        version = announce_latest(ctx.sessions, m, ctx.config.api.base_url, key)
    except (OSError, RuntimeError, ValueError) as e:
        print(
            f"error: broker {m.host}:{m.port} unreachable ({e}); the gallery is stored and "
            "its announcement pending: a running `jaywatch central serve` publishes it once "
            "the broker is up (or run `jaywatch central gallery announce`)",
            file=sys.stderr,
        )
        return 1
    if version is None:
        print("error: no stored gallery snapshot to announce", file=sys.stderr)
        return 2
    print(f"gallery {version} announced")
    return 0


def cmd_gallery_upload(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central.workflow.common import WorkflowError
    from central.workflow.gallery import upload

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as e:
        print(f"error: cannot read gallery file {path}: {e.strerror}", file=sys.stderr)
        return 2
    ctx = _context(args)
    try:
        try:
            with ctx.sessions.begin() as s:
                gv = upload(s, _cli_actor(), ctx.evidence, data)
                version, sha = gv.version, gv.snapshot_sha256
        except (ValueError, WorkflowError) as e:
            print(f"error: {path}: {' '.join(str(e).split())}", file=sys.stderr)
            return 2
        print(f"gallery {version} stored (sha256 {sha})")
        return _announce_latest(ctx)
    finally:
        ctx.close()


def cmd_gallery_announce(args: argparse.Namespace) -> int:
    ctx = _context(args)
    try:
        return _announce_latest(ctx)
    finally:
        ctx.close()


def cmd_gallery_list(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from central.store.models import GalleryVersion
    from jaywatch.gallery_file import Gallery

    ctx = _context(args)
    try:
        with ctx.sessions() as s:
            rows = s.execute(sa.select(GalleryVersion).order_by(GalleryVersion.version)).scalars()
            print("version  created              reason  entries  sha256")
            for gv in rows:
                entries = "-"
                if gv.snapshot_sha256 is not None:
                    try:  # the header only: a listing need not parse every snapshot
                        header = Gallery.read_header(ctx.evidence.get(gv.snapshot_sha256))
                        entries = str(len(header["persons"]))
                    except (KeyError, ValueError):
                        entries = "missing"
                print(
                    f"{gv.version:<8} {gv.created:%Y-%m-%d %H:%M:%S}  {gv.reason:<7} "
                    f"{entries:<8} {gv.snapshot_sha256 or '(deleted)'}"
                )
    finally:
        ctx.close()
    return 0


def cmd_person_photo_add(args: argparse.Namespace) -> int:
    from pathlib import Path

    from central.workflow.common import WorkflowError
    from central.workflow.photos import add_photos

    files: list[tuple[str, bytes]] = []
    for name in args.files:
        try:
            files.append((name, Path(name).read_bytes()))
        except OSError as e:
            print(f"error: cannot read photo {name}: {e.strerror}", file=sys.stderr)
            return 2
    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            rows = add_photos(s, _cli_actor(), ctx.evidence, args.person_id, files)
            lines = [
                f"{name}: photo {r.id} of person {r.person_id} "
                f"({r.width}x{r.height} {r.media_type}, sha256 {r.sha256})"
                for (name, _), r in zip(files, rows, strict=True)
            ]
    except (ValueError, WorkflowError) as e:
        print(f"error: {e} (nothing stored)", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print("\n".join(lines))
    return 0


def cmd_person_photo_list(args: argparse.Namespace) -> int:
    from central.workflow.common import NotFound
    from central.workflow.photos import list_photos

    ctx = _context(args)
    try:
        with ctx.sessions() as s:
            rows = list_photos(s, args.person_id)
    except NotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print("photo  added                size     pixels     type        sha256")
    for r in rows:
        print(
            f"{r.id:<6} {r.added:%Y-%m-%d %H:%M:%S}  {r.size:<8} "
            f"{f'{r.width}x{r.height}':<10} {r.media_type:<11} {r.sha256}"
        )
    return 0


def cmd_person_photo_crop(args: argparse.Namespace) -> int:
    """Face crops for photos stored before crops existed (new uploads are cropped then)."""
    from central.faces.detect import FaceModelError, model_path
    from central.workflow.photos import backfill_faces

    try:
        model_path()
    except FaceModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            tried, found, none = backfill_faces(s, ctx.evidence)
    finally:
        ctx.close()
    print(f"photos cropped: {tried} ({found} with a face, {none} without one)")
    return 0


def cmd_person_photo_remove(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from central.store.models import PersonPhoto
    from central.workflow.common import WorkflowError
    from central.workflow.photos import remove_photo

    ctx = _context(args)
    try:
        with ctx.sessions.begin() as s:
            photo_id: int | None = None
            if args.photo.isdigit() and int(args.photo) < 2**31:  # larger: no such row
                photo_id = int(args.photo)
            else:  # the sha256 `photo list` prints beside the id
                photo_id = s.execute(
                    sa.select(PersonPhoto.id).where(
                        PersonPhoto.person_id == args.person_id,
                        PersonPhoto.sha256 == args.photo.lower(),
                    )
                ).scalar()
                if photo_id is None:
                    print(
                        f"error: person {args.person_id}: no photo {args.photo} "
                        "(expected a photo id or sha256 from `person photo list`)",
                        file=sys.stderr,
                    )
                    return 2
            r = remove_photo(s, _cli_actor(), ctx.evidence, args.person_id, photo_id)
            line = f"removed photo {r.id} of person {r.person_id} (sha256 {r.sha256})"
    except WorkflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print(line)
    return 0


def register(subparsers: Any) -> None:
    central = subparsers.add_parser("central", help="the central service")
    central.add_argument(
        "--config",
        default=os.environ.get("JAYWATCH_CENTRAL_CONFIG"),
        help="central YAML (default: $JAYWATCH_CENTRAL_CONFIG, else built-in defaults)",
    )
    sub = central.add_subparsers(dest="central_command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("keygen", help="create central's Ed25519 signing key (PEM, mode 0600)")
    p.add_argument("--out", required=True, help="key file to create (refuses to overwrite)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing key (every gateway's central_public_key must then change)",
    )
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("serve", help="run MQTT ingest and the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--no-ingest", action="store_true", help="API only")
    p.add_argument("--no-api", action="store_true", help="ingest only")
    p.add_argument(
        "--notices-config",
        help="notices YAML (default: $JAYWATCH_NOTICES_CONFIG): mounts the SMS provider's "
        "delivery-receipt endpoints under /api/sms/receipts/",
    )
    p.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="staff accounts").add_subparsers(
        dest="user_command", required=True, metavar="COMMAND"
    )
    p = user.add_parser("add", help="add a user (password from $JAYWATCH_PASSWORD or prompt)")
    p.add_argument("username")
    p.add_argument(
        "--role", required=True, choices=["operator", "supervisor", "auditor", "admin", "cashier"]
    )
    p.set_defaults(func=cmd_user_add)

    device = sub.add_parser("device", help="gateways").add_subparsers(
        dest="device_command", required=True, metavar="COMMAND"
    )
    p = device.add_parser("add", help="register a gateway; prints its MQTT credentials")
    p.add_argument("device_id")
    p.add_argument("--public-key", required=True, help="Ed25519 public key, base64 or hex")
    p.add_argument("--place", default="", help="where the gateway is (shown on screens)")
    p.add_argument("--camera", action="append", help="CAMERA_ID=place (repeatable)")
    p.set_defaults(func=cmd_device_add)

    broker = sub.add_parser(
        "broker", help="the MQTT broker's logins and topic rules"
    ).add_subparsers(dest="broker_command", required=True, metavar="COMMAND")
    p = broker.add_parser(
        "init", help="create mosquitto's dynamic-security file (strict defaults, an admin)"
    )
    p.add_argument(
        "file", help="plugin_opt_config_file, e.g. /var/lib/mosquitto/dynamic-security.json"
    )
    p.add_argument(
        "--admin-user",
        default="admin",
        help="dynsec admin (password: $JAYWATCH_BROKER_ADMIN_PASSWORD or prompt)",
    )
    p.set_defaults(func=cmd_broker_init)
    p = broker.add_parser(
        "user", help="print mosquitto_ctrl lines for a service user of the ACL (e.g. central)"
    )
    p.add_argument("username")
    p.add_argument("--acl", help="ACL file (default: the config's broker_acl_file)")
    p.set_defaults(func=cmd_broker_user)

    p = sub.add_parser("purge", help="delete records past their retention time")
    p.set_defaults(func=cmd_purge)

    counts = sub.add_parser(
        "counts", help="the totals the database keeps (queue counts, dead-letter bytes)"
    ).add_subparsers(dest="counts_command", required=True, metavar="COMMAND")
    p = counts.add_parser(
        "rebuild", help="recompute them from the rows (after a restore with triggers off)"
    )
    p.set_defaults(func=cmd_counts_rebuild)

    aud = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True, metavar="COMMAND"
    )
    p = aud.add_parser("verify", help="check the hash chain; exit 1 if broken")
    p.add_argument("--expect-head", help="head hash from an earlier run (detects truncation)")
    p.set_defaults(func=cmd_audit_verify)
    p = aud.add_parser(
        "verify-export",
        help="check an audit export file (CSV/JSON) offline; exit 1 if broken, 2 unreadable",
    )
    p.add_argument("file", help="the export, from /console/audit or /api/audit/export")
    p.add_argument("--expect-head", help="the head hash kept elsewhere (detects truncation)")
    p.set_defaults(func=cmd_audit_verify_export)

    gal = sub.add_parser("gallery", help="face gallery snapshots").add_subparsers(
        dest="gallery_command", required=True, metavar="COMMAND"
    )
    p = gal.add_parser("upload", help="store a file from `jaywatch gallery build`, announce it")
    p.add_argument("file")
    p.set_defaults(func=cmd_gallery_upload)
    p = gal.add_parser("announce", help="republish the latest snapshot (retained) on MQTT")
    p.set_defaults(func=cmd_gallery_announce)
    p = gal.add_parser("list", help="stored versions: created, reason, entries, sha256")
    p.set_defaults(func=cmd_gallery_list)

    person = sub.add_parser("person", help="enrolled persons").add_subparsers(
        dest="person_command", required=True, metavar="COMMAND"
    )
    photo = person.add_parser("photo", help="enrolment (reference) photos").add_subparsers(
        dest="photo_command", required=True, metavar="COMMAND"
    )
    p = photo.add_parser(
        "add", help="store JPEG/PNG reference photos, shown to reviewers beside a match"
    )
    p.add_argument("person_id")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_person_photo_add)
    p = photo.add_parser("list", help="a person's photos: id, added, size, pixels, sha256")
    p.add_argument("person_id")
    p.set_defaults(func=cmd_person_photo_list)
    p = photo.add_parser("remove", help="delete one photo (its bytes too, unless shared)")
    p.add_argument("person_id")
    p.add_argument("photo", metavar="PHOTO", help="photo id or sha256 (from `photo list`)")
    p.set_defaults(func=cmd_person_photo_remove)
    p = photo.add_parser(
        "crop", help="crop photos stored before face crops existed to the face (backfill)"
    )
    p.set_defaults(func=cmd_person_photo_crop)

    from central.evidence.cli import add_commands as add_evidence_commands

    add_evidence_commands(sub)

    from central.payments.cli import add_commands as add_payment_commands

    add_payment_commands(sub)

    try:  # the SMS sender's commands, when that sub-package is installed
        from central.notices.cli import add_commands
    except ModuleNotFoundError as e:
        if e.name != "central.notices" and e.name != "central.notices.cli":
            raise
    else:
        add_commands(sub)
