"""The labeling page's server on 127.0.0.1: one page and three JSON routes over a sheet's own files, nothing else on
disk, writes serialized by one lock. Routes and rules: docs/human-in-the-loop.md, "The page's server"."""

import base64
import errno
import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import CONSOLE, get_logger
from rlhf_recipes.labeling import sheet as sheets

logger = get_logger(__name__)

PAGE = Path(__file__).with_name("page.html")
MAX_BODY = 1 << 20  # an answer is a few hundred bytes
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class LabelingServer(ThreadingHTTPServer):
    """The HTTP server of one sheet: its page, its write lock."""

    allow_reuse_port = False  # a second server on a port in use must fail, not share it

    def __init__(self, sheet: sheets.Sheet, address: tuple[str, int]):
        self.sheet, self.lock = sheet, threading.Lock()
        self.page = PAGE.read_bytes()
        scripts = re.findall(rb"<script>(.*?)</script>", self.page, re.DOTALL)
        hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in scripts)
        # Only the page's own script runs (no inline handlers, nothing from elsewhere); it talks to this server only.
        self.policy = (
            f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def make_server(sheet: sheets.Sheet, host: str = "127.0.0.1", port: int = 8765) -> LabelingServer:
    """The page's server for `sheet`, bound and listening (port 0: any free port); `serve_forever` runs it."""
    try:
        return LabelingServer(sheet, (host, port))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise RecipeError(
                f"port {port} on {host} is in use (another labeling page, or another program); pass "
                f"--port with another one, e.g. --port {port + 1}."
            ) from None
        raise RecipeError(
            f"cannot serve the labeling page on {host}:{port}: {err.strerror or err}. Pass --host "
            "127.0.0.1 (this machine) or an address of this machine."
        ) from None


def serve(sheet: sheets.Sheet, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the page for `sheet` until Ctrl-C."""
    server = make_server(sheet, host, port)
    logger.info(f"label: ranking {sheet.path} on {server.url} (Ctrl-C to stop)", extra=CONSOLE)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        with server.lock:  # an answer being written is finished first
            logger.info(f"label: stopped; every answer given is in {sheet.answers_path}", extra=CONSOLE)
    finally:
        server.server_close()


def prompt_text(prompt) -> str:
    """A prompt as a person reads it: its text, or chat turns as `role: content` paragraphs."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(t, dict) for t in prompt):
        return "\n\n".join(f"{t.get('role', 'user')}: {t.get('content', '')}" for t in prompt)
    return json.dumps(prompt, ensure_ascii=False)


def state(sheet: sheets.Sheet, labeler: str | None) -> dict:
    """What the page shows: the sheet, and for a labeler their progress, their next row and whether undo can act."""
    events = sheets.read_answers(sheet)
    shown = {
        "sheet": sheet.path.name,
        "rankings": sheet.rankings_path.name,
        "total": len(sheet.rows),
        "responses": sheet.num_responses,
        "agreement": sheets.agreement(events),
        "labeler": labeler,
        "progress": None,
        "row": None,
        "can_undo": False,
    }
    if labeler:
        progress = sheets.progress(sheet, events, labeler)
        following = sheet.row(progress["next"]) if progress["next"] else None
        shown |= {"progress": progress, "can_undo": sheets.last_answered(events, labeler) is not None}
        if following:
            shown["row"] = {
                "id": following["id"],
                "prompt": prompt_text(following["prompt"]),
                "responses": [r["text"] for r in following["responses"]],
            }
    return shown


def labeler_name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecipeError("labeler: give a name, so that answers can be told apart.")
    return value.strip()


class Conflict(RecipeError):
    """A request that is well formed but cannot apply now (409)."""


class Handler(BaseHTTPRequestHandler):
    server: LabelingServer
    server_version = "rlhf-recipes-label"
    sys_version = ""

    def log_message(self, format, *args):  # one line per request is noise in the terminal
        logger.debug(f"label: {self.address_string()} {format % args}")

    def do_GET(self):
        self.dispatch(read=True)

    def do_POST(self):
        self.dispatch(read=False)

    def dispatch(self, read: bool) -> None:
        url = urlsplit(self.path)
        routes = (
            {"/": self.page, "/api/state": self.get_state}
            if read
            else {"/api/answer": self.post_answer, "/api/undo": self.post_undo}
        )
        try:
            if not self.local_host():
                return self.reply(403, {"error": "this page answers on its own address only (127.0.0.1)."})
            if url.path not in routes:
                return self.reply(404, {"error": f"no such page: {url.path[:200]}"})
            routes[url.path](url)
        except Conflict as err:
            self.reply(409, {"error": str(err)})
        except RecipeError as err:
            self.reply(400, {"error": str(err)})
        except ConnectionError:
            pass  # the page went away mid-reply
        except Exception as err:  # the page shows it; the server keeps serving
            logger.exception(f"label: {self.command} {url.path} failed")
            self.reply(500, {"error": f"the server failed: {type(err).__name__}: {err}"})

    def local_host(self) -> bool:
        """Whether a page bound to this machine was asked for by its own name (no DNS rebinding onto it)."""
        bound = self.server.server_address[0]
        if bound not in LOCAL_HOSTS:
            return True  # served beyond this machine, as the user asked
        try:
            return urlsplit("//" + (self.headers.get("Host") or "")).hostname in LOCAL_HOSTS
        except ValueError:
            return False

    def page(self, url) -> None:
        self.reply(200, self.server.page, "text/html; charset=utf-8")

    def get_state(self, url) -> None:
        names = parse_qs(url.query).get("labeler")
        labeler = labeler_name(names[0]) if names else None
        self.reply(200, state(self.server.sheet, labeler))

    def post_answer(self, url) -> None:
        body = self.body()
        labeler, row, ranking = labeler_name(body.get("labeler")), body.get("row"), body.get("ranking")
        if not isinstance(row, str):
            raise RecipeError(f"row: expected a row id of the sheet (text), got {row!r}.")
        sheet = self.server.sheet
        with self.server.lock:
            sheets.answer(sheet, row, labeler, ranking, skipped=body.get("skipped") is True)
            sheets.export(sheet)
            shown = state(sheet, labeler)
        self.reply(200, shown)

    def post_undo(self, url) -> None:
        labeler, sheet = labeler_name(self.body().get("labeler")), self.server.sheet
        with self.server.lock:
            row = sheets.last_answered(sheets.read_answers(sheet), labeler)
            if row is None:
                raise Conflict(f"nothing to undo: {labeler} has no answer standing on {sheet.path.name}.")
            sheets.answer(sheet, row, labeler, undo=True)
            sheets.export(sheet)
            shown = state(sheet, labeler)
        self.reply(200, shown)

    def body(self) -> dict:
        """The request's JSON object; only JSON is taken, so another site's form cannot post here."""
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            raise RecipeError("expected a JSON body (Content-Type: application/json).")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            raise RecipeError(
                f"expected a JSON body of 1 to {MAX_BODY} bytes (Content-Length), got "
                f"{self.headers.get('Content-Length')!r}."
            )
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RecipeError("the request's body is not JSON.") from None
        if not isinstance(body, dict):
            raise RecipeError(f'expected a JSON object ({{"labeler", ...}}), got {type(body).__name__}.')
        return body

    def reply(self, status: int, content, content_type: str = "application/json") -> None:
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", self.server.policy)
        self.end_headers()
        self.wfile.write(data)
