#!/usr/bin/env python3
"""A Tributary connector in plain Python (standard library only, Python 3.8+).

It speaks the stdio protocol of docs/protocol.md: JSON lines on stdin/stdout, nothing
else on stdout (diagnostics go to stderr). Its source is a folder of JSON records:

    records/<id>.json  (in subfolders too) {"title": "...", "body": "...", "allow": ["user:...", "group:..."],
                        "deny": [...], "file": "optional/path/with/the/content.txt"}

and a directory of groups, groups.json: {"group id": ["member email", ...]}.

A record's version is a hash of its content, so an edit re-indexes it, while a change of
its ACL alone is a `permissions` change. The incremental cursor is the versions and ACLs of
every record seen, so deletions show as explicit `delete` changes.
"""

import base64
import hashlib
import json
import os
import sys
import threading
from datetime import datetime, timezone

PROTOCOL = 1
FRAME = 48 * 1024
PARTITION = "records"

_out = threading.Lock()


def send(message):
    line = json.dumps(message, separators=(",", ":")) + "\n"
    with _out:
        sys.stdout.write(line)
        sys.stdout.flush()


def log(text):
    sys.stderr.write("python-connector: %s\n" % text)
    sys.stderr.flush()


class Problem(Exception):
    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind
        self.message = message

    def wire(self):
        return {"kind": self.kind, "message": self.message}


class Source:
    def __init__(self, config):
        problems = []
        records = config.get("records")
        if not isinstance(records, str) or not records:
            problems.append({"key": "records", "message": "must name the folder of records"})
        groups = config.get("groups", "")
        if not isinstance(groups, str):
            problems.append({"key": "groups", "message": "must be a path"})
        for key in config:
            if key not in ("records", "groups"):
                problems.append({"key": key, "message": "unknown key (known keys: records, groups)"})
        if problems:
            raise ValueError(problems)
        self.records = records
        self.groups = groups

    def check(self):
        if not os.path.isdir(self.records):
            raise Problem("permanent", "records folder %r does not exist" % self.records)

    def read_all(self):
        """Every record: id -> (document, state) where state is what the cursor keeps."""
        self.check()
        out = {}
        paths = []
        for folder, _, names in os.walk(self.records):
            for name in names:
                if name.endswith(".json") and not name.startswith("."):
                    paths.append(os.path.join(folder, name))
        for path in sorted(paths):
            # The id is the record's path in the folder, without ".json": "team/q3".
            rel = os.path.relpath(path, self.records).replace(os.sep, "/")
            rid = rel[: -len(".json")]
            try:
                with open(path, "rb") as f:
                    raw = f.read()
                record = json.loads(raw.decode("utf-8"))
                if not isinstance(record, dict):
                    raise ValueError("not an object")
            except (OSError, ValueError) as e:
                # An unreadable record is skipped this time; the listing is then
                # incomplete, so nothing is deleted because of it.
                out[rid] = Problem("invalid_response", "record %s: %s" % (rid, e))
                continue
            out[rid] = self.document(rid, path, record)
        return out

    def document(self, rid, path, record):
        body = record.get("body", "")
        content = body.encode("utf-8")
        if isinstance(record.get("file"), str):
            content = record["file"].encode("utf-8")
        version = hashlib.sha256(
            json.dumps([record.get("title"), body, record.get("file")]).encode("utf-8")
        ).hexdigest()[:16]
        doc = {
            "id": rid,
            "version": version,
            "title": record.get("title") or rid,
            "uri": "records/%s.json" % rid,
            "content_type": "text/plain",
            "modified": datetime.fromtimestamp(os.path.getmtime(path), timezone.utc)
            .isoformat()
            .replace("+00:00", "Z"),
            "metadata": {"plugin": "python"},
        }
        allow, deny = record.get("allow"), record.get("deny", [])
        if isinstance(allow, list) and isinstance(deny, list):
            doc["acl"] = {"allow": allow, "deny": deny}
        else:
            # Permissions we cannot read: nobody may see it (an absent ACL is empty).
            doc["metadata"]["acl_unread"] = True
        acl = json.dumps(doc.get("acl"), sort_keys=True)
        return doc, {"version": version, "acl": acl}

    def content(self, rid):
        path = os.path.join(self.records, rid + ".json")
        try:
            with open(path, "rb") as f:
                record = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise Problem("not_found", "record %s is gone" % rid)
        except (OSError, ValueError) as e:
            raise Problem("transient", "record %s: %s" % (rid, e))
        if isinstance(record.get("file"), str):
            # Large content: the engine reads the file itself (bounded).
            return None, os.path.join(os.path.dirname(self.records) or ".", record["file"])
        return record.get("body", "").encode("utf-8"), None

    def memberships(self):
        if not self.groups:
            return []
        try:
            with open(self.groups, "rb") as f:
                groups = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as e:
            raise Problem("transient", "groups: %s" % e)
        facts = []
        for group, members in sorted(groups.items()):
            for member in members:
                if member.startswith("group:"):
                    facts.append({"kind": "group_in_group", "child": member[6:], "parent": group})
                else:
                    facts.append({"kind": "user_in_group", "user": member, "group": group})
        return facts


class Stream:
    """A stream the engine reads with a window: one permit per item, `ack`s add more."""

    def __init__(self, rid, window):
        self.id = rid
        self.permits = threading.Semaphore(window)
        self.cancelled = False

    def emit(self, message):
        self.permits.acquire()
        if self.cancelled:
            raise SystemExit
        message["id"] = self.id
        send(message)

    def change(self, change):
        self.emit({"type": "change", "change": change})


def cursor_of(seen):
    return json.dumps(seen, sort_keys=True, separators=(",", ":"))


def full(source, stream):
    seen = {}
    incomplete = False
    for rid, item in source.read_all().items():
        if isinstance(item, Problem):
            incomplete = True
            stream.emit({"type": "error", "error": item.wire()})
            continue
        doc, state = item
        seen[rid] = state
        stream.change({"kind": "upsert", "document": doc})
    stream.change({"kind": "checkpoint", "partition": PARTITION, "cursor": cursor_of(seen)})
    if not incomplete:
        stream.change({"kind": "listing_complete"})


def incremental(source, stream, since):
    try:
        before = json.loads(since["partitions"][PARTITION])
    except (KeyError, TypeError, ValueError):
        raise Problem("cursor_expired", "no usable cursor: a full listing is needed")
    now = {}
    for rid, item in source.read_all().items():
        if isinstance(item, Problem):
            # Keep the old state: the record is looked at again next time.
            if rid in before:
                now[rid] = before[rid]
            stream.emit({"type": "error", "error": item.wire()})
            continue
        doc, state = item
        now[rid] = state
        old = before.get(rid)
        if old is None or old["version"] != state["version"]:
            stream.change({"kind": "upsert", "document": doc})
        elif old["acl"] != state["acl"]:
            stream.change({"kind": "permissions", "doc_id": rid, "acl": doc.get("acl", {})})
    for rid in sorted(set(before) - set(now)):
        stream.change({"kind": "delete", "doc_id": rid})
    stream.change({"kind": "checkpoint", "partition": PARTITION, "cursor": cursor_of(now)})


class Plugin:
    def __init__(self):
        self.source = None
        self.streams = {}

    def run_stream(self, rid, window, work):
        stream = Stream(rid, window)
        self.streams[rid] = stream

        def body():
            try:
                work(stream)
            except Problem as p:
                send({"type": "error", "id": rid, "error": p.wire()})
            except SystemExit:
                return
            send({"type": "end", "id": rid})
            self.streams.pop(rid, None)

        threading.Thread(target=body, daemon=True).start()

    def fetch(self, rid, document):
        try:
            data, path = self.source.content(document["id"])
        except Problem as p:
            send({"type": "error", "id": rid, "error": p.wire()})
            return
        if path is not None:
            send({"type": "content_file", "id": rid, "path": path})
            return
        for start in range(0, len(data), FRAME):
            chunk = base64.b64encode(data[start : start + FRAME]).decode("ascii")
            send({"type": "content", "id": rid, "data": chunk})
        send({"type": "end", "id": rid})

    def handle(self, request):
        kind, rid = request.get("type"), request.get("id")
        if kind == "init":
            try:
                self.source = Source(request.get("config") or {})
            except ValueError as e:
                problems = e.args[0]
                message = "; ".join("%s: %s" % (p["key"], p["message"]) for p in problems)
                send({"type": "error", "id": rid, "problems": problems,
                      "error": {"kind": "permanent", "message": "invalid configuration: " + message}})
                return
            start_heartbeat(max(1, int(request.get("heartbeat_secs", 5))))
            send({"type": "ok", "id": rid})
        elif kind == "ack":
            stream = self.streams.get(rid)
            if stream:
                for _ in range(int(request.get("count", 0))):
                    stream.permits.release()
        elif kind == "cancel":
            stream = self.streams.pop(rid, None)
            if stream:
                stream.cancelled = True
                stream.permits.release()
        elif self.source is None:
            send({"type": "error", "id": rid, "error": {"kind": "permanent", "message": "no init"}})
        elif kind == "check":
            try:
                self.source.check()
                send({"type": "ok", "id": rid})
            except Problem as p:
                send({"type": "error", "id": rid, "error": p.wire()})
        elif kind == "full":
            self.run_stream(rid, request["window"], lambda s: full(self.source, s))
        elif kind == "incremental":
            self.run_stream(rid, request["window"], lambda s: incremental(self.source, s, request["since"]))
        elif kind == "identities":

            def crawl(stream):
                for fact in self.source.memberships():
                    stream.emit({"type": "membership", "membership": fact})

            self.run_stream(rid, request["window"], crawl)
        elif kind == "fetch":
            threading.Thread(target=self.fetch, args=(rid, request["document"]), daemon=True).start()
        else:
            # A request of a later minor version: say so rather than stay silent.
            send({"type": "error", "id": rid,
                  "error": {"kind": "permanent", "message": "unsupported request %r" % kind}})


def start_heartbeat(every):
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            send({"type": "heartbeat"})

    threading.Thread(target=beat, daemon=True).start()


def main():
    send({"type": "hello", "protocol": PROTOCOL, "name": "python-records",
          "capabilities": {"incremental": True, "permissions": True, "identities": True}})
    plugin = Plugin()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            log("ignoring a line that is not JSON")
            continue
        plugin.handle(request)


if __name__ == "__main__":
    main()
