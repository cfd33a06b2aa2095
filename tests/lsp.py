"""A small Language Server Protocol client: enough of LSP to ask yaml-language-server what an
editor would show (diagnostics, completions, hovers) for a routine.

JSON-RPC over the server's stdin and stdout, each message framed by a Content-Length header.
One reader thread sorts what the server sends into answers (by request id) and notifications;
requests the server makes of the editor are answered with nothing, which the protocol allows.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Where scripts/_bootstrap.sh installs the server (see YAML_LANGUAGE_SERVER there).
SERVER_DIR = ROOT / ".venv" / "node"
SERVER_JS = SERVER_DIR / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


def server_command() -> list[str] | None:
    """How to start the installed yaml-language-server, or None when node or it is missing."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not SERVER_JS.exists():
        return None
    return [node, str(SERVER_JS), "--stdio"]


def server_version() -> str:
    package = SERVER_JS.parent.parent / "package.json"
    return json.loads(package.read_text(encoding="utf-8"))["version"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    line: int  # 1-based, as coach reports
    col: int  # 1-based
    message: str


class LanguageServer:
    """yaml-language-server run as an editor runs it, with `schema` for every *.yaml file."""

    def __init__(
        self,
        command: list[str],
        schema: Path,
        timeout_s: float = 30.0,
        yaml_version: str | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        self._next_id = 0
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._notes: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._version = 0
        # What VS Code's yaml.schemas setting says: this schema for every YAML file.
        self._settings: dict[str, Any] = {
            "validate": True,
            "hover": True,
            "completion": True,
            "format": {"enable": False},
            "schemas": {schema.resolve().as_uri(): "**/*.yaml"},
        }
        if yaml_version is not None:  # the server's default is 1.2
            self._settings["yamlVersion"] = yaml_version
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=20)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": True}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "publishDiagnostics": {},
                    },
                },
            },
        )
        self.notify("initialized", {})
        # The server asks for its settings (workspace/configuration) when told they changed.
        self.notify("workspace/didChangeConfiguration", {"settings": None})

    def wait_for_schema(self) -> None:
        """Wait until the server checks documents against the schema: it takes the settings,
        and reads the schema, some time after it says it has started."""
        deadline = time.monotonic() + self.timeout_s
        while not self.diagnostics("file:///coach-lsp-ready/ready.yaml", "{}\n"):
            if time.monotonic() > deadline:
                raise TimeoutError("yaml-language-server never applied the schema")
            time.sleep(0.1)

    # -- the wire --------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self._proc.stdin is not None
        with self._lock:
            self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self._proc.stdin.flush()

    def _read(self) -> None:
        out = self._proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return  # the server ended
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            message = json.loads(out.read(length))
            if "id" in message and "method" in message:
                self._answer_server(message)
            elif "id" in message:
                self._answers.setdefault(message["id"], queue.Queue()).put(message)
            else:
                self._notes.put(message)

    def _answer_server(self, message: dict[str, Any]) -> None:
        """Answer a request the server makes of the editor: its settings, or nothing."""
        result: Any = None
        if message["method"] == "workspace/configuration":
            result = [
                self._settings if item.get("section") == "yaml" else {}
                for item in message["params"]["items"]
            ]
        self._send({"id": message["id"], "result": result})

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _no_answer(self, what: str) -> TimeoutError:
        """The error for a server that did not answer, with why if it died."""
        code = self._proc.poll()
        said = b"".join(self._stderr).decode("utf-8", "replace").strip()
        if code is None:
            return TimeoutError(f"yaml-language-server did not answer {what}")
        return TimeoutError(f"yaml-language-server ended (exit {code}) before {what}: {said}")

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self._next_id += 1
        ident = self._next_id
        box = self._answers.setdefault(ident, queue.Queue())
        self._send({"id": ident, "method": method, "params": params})
        try:
            answer = box.get(timeout=self.timeout_s)
        except queue.Empty:
            raise self._no_answer(method) from None
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result")

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self._proc.wait(timeout=5)
        except (OSError, TimeoutError, RuntimeError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> LanguageServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- what an editor asks ------------------------------------------------------------

    def open(self, uri: str, text: str) -> None:
        """Open (or replace) a document, as an editor does when a file is opened or typed in."""
        self._version += 1
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "yaml",
                    "version": self._version,
                    "text": text,
                }
            },
        )

    def close_document(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def diagnostics(self, uri: str, text: str) -> list[Diagnostic]:
        """The problems the editor shows for `text`, first line and column 1-based."""
        # Leftover notifications of earlier documents are dropped.
        while not self._notes.empty():
            self._notes.get_nowait()
        self.open(uri, text)
        deadline = time.monotonic() + self.timeout_s
        try:
            while True:
                note = self._notes.get(timeout=max(0.0, deadline - time.monotonic()))
                if note.get("method") != "textDocument/publishDiagnostics":
                    continue
                params = note["params"]
                if params["uri"] != uri:
                    continue
                return [
                    Diagnostic(
                        d["range"]["start"]["line"] + 1,
                        d["range"]["start"]["character"] + 1,
                        d["message"],
                    )
                    for d in params["diagnostics"]
                ]
        except queue.Empty:
            raise self._no_answer(f"the diagnostics of {uri}") from None
        finally:
            self.close_document(uri)

    def completions(self, uri: str, text: str, line: int, col: int) -> list[dict[str, Any]]:
        """Completion items at 0-based (line, col) of `text`."""
        self.open(uri, text)
        try:
            result = self.request(
                "textDocument/completion",
                {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}},
            )
        finally:
            self.close_document(uri)
        items = result.get("items", []) if isinstance(result, dict) else result or []
        return list(items)

    def hover(self, uri: str, text: str, line: int, col: int) -> str:
        """The hover text at 0-based (line, col) of `text` ('' when there is none)."""
        self.open(uri, text)
        try:
            result = self.request(
                "textDocument/hover",
                {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}},
            )
        finally:
            self.close_document(uri)
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, dict):
            return str(contents.get("value", ""))
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
        return str(contents)
