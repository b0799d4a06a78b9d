#!/usr/bin/env python3
"""An example Modiste partner: receive the public v1 events you are allowed to see.

It connects with the credentials file `modiste partners add` wrote, reads from its durable
JetStream consumer (or, with --plain, subscribes on its subjects), validates every message
against the published JSON Schema, drops duplicates by event_id, and prints one JSON line
per message. Needs only nats-py and jsonschema (pip install nats-py jsonschema).

    python examples/partner_subscriber.py --credentials .modiste/partners/lune.json \
        --schema http://127.0.0.1:8000/api/v1/events/schema

Exit codes: 0 after --max-messages messages (or Ctrl-C), 1 on an invalid message with
--strict, 2 when the connection or a subscription is refused (wrong credentials, or a
subject outside your permissions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import nats
from nats.errors import TimeoutError as NatsTimeoutError


def load_schema(source: str) -> dict[str, Any]:
    """The JSON Schema from a URL (GET /api/v1/events/schema) or a local file."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310
            return json.loads(response.read())
    return json.loads(Path(source).read_text())


class Printer:
    """Validates, de-duplicates and prints messages."""

    def __init__(self, schema: dict[str, Any], strict: bool) -> None:
        self.validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        self.strict = strict
        self.seen: set[str] = set()
        self.count = 0
        self.invalid = 0

    def accept(self, subject: str, payload: bytes) -> bool:
        """True when the message is valid (printed, or skipped as a duplicate)."""
        try:
            message = json.loads(payload)
            self.validator.validate(message)
        except (ValueError, jsonschema.ValidationError) as exc:
            self.invalid += 1
            reason = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
            print(json.dumps({"subject": subject, "invalid": reason}), flush=True)
            return False
        if message["event_id"] in self.seen:
            return True
        self.seen.add(message["event_id"])
        self.count += 1
        print(
            json.dumps({"subject": subject, "type": message["type"], "message": message}),
            flush=True,
        )
        return True


async def run(args: argparse.Namespace, credentials: dict[str, Any], printer: Printer) -> int:
    servers = [args.server] if args.server else credentials["servers"]
    refused: list[str] = []
    stop = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        text = str(exc)
        if "permissions violation" in text.lower() or "authorization" in text.lower():
            refused.append(text)
            stop.set()

    nc = await nats.connect(
        servers=servers,
        user=credentials["user"],
        password=credentials["password"],
        inbox_prefix=credentials["inbox_prefix"],
        name=f"partner-example-{credentials['name']}",
        allow_reconnect=False,  # fail fast on bad credentials instead of retrying forever
        error_cb=on_error,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    def done() -> bool:
        return stop.is_set() or bool(args.max_messages and printer.count >= args.max_messages)

    try:
        if args.plain:

            async def on_message(msg: Any) -> None:
                printer.accept(msg.subject, msg.data)
                if done():
                    stop.set()

            for subject in args.subject or credentials["allow"]:
                await nc.subscribe(subject, cb=on_message)
            await nc.flush()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.timeout or None)
        else:
            js = nc.jetstream()
            sub = await js.pull_subscribe_bind(
                durable=credentials["durable"], stream=credentials["stream"]
            )
            deadline = loop.time() + args.timeout if args.timeout else None
            while not done() and (deadline is None or loop.time() < deadline):
                try:
                    messages = await sub.fetch(10, timeout=1)
                except NatsTimeoutError:
                    continue
                for msg in messages:
                    if printer.accept(msg.subject, msg.data):
                        await msg.ack()
                    else:
                        await msg.term()  # never redeliver a message that breaks v1
                    if done():
                        break
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
    if refused:
        print(json.dumps({"refused": refused[0]}), file=sys.stderr, flush=True)
        return 2
    return 1 if (args.strict and printer.invalid) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--credentials", required=True, help="file from `modiste partners add`")
    parser.add_argument(
        "--schema",
        default="http://127.0.0.1:8000/api/v1/events/schema",
        help="URL or file of the JSON Schema",
    )
    parser.add_argument("--server", help="NATS URL (default: from the credentials file)")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="core NATS subscription instead of the durable consumer",
    )
    parser.add_argument(
        "--subject",
        action="append",
        help="with --plain: subscribe to this subject (default: all allowed)",
    )
    parser.add_argument("--max-messages", type=int, default=0, help="stop after N messages")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="stop after this many seconds (0: run until Ctrl-C)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a message was invalid")
    args = parser.parse_args()
    try:
        credentials = json.loads(Path(args.credentials).read_text())
        printer = Printer(load_schema(args.schema), args.strict)
        return asyncio.run(run(args, credentials, printer))
    except nats.errors.Error as exc:
        print(json.dumps({"refused": str(exc)}), file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
