"""The studio's web app (Starlette): list, edit, check, draw, render and save practice scripts.

Security, for a server that only ever serves the person who started it:

- it binds 127.0.0.1 (see :func:`serve`);
- every request must carry the per-start token: in the URL's ``?token=`` (the address the
  command prints) or in the cookie the first such request sets (``SameSite=Strict``, HttpOnly);
- a request whose ``Host`` is not this server's loopback address and port, or whose ``Origin``
  (when sent) is not this page's, is refused: a DNS-rebinding page cannot reach it;
- request bodies over ``MAX_BODY`` bytes, or without a length, are refused before they are read
  (uvicorn's HTTP parser holds a body to its Content-Length);
- files are read and written only inside FOLDER, by a relative path checked after resolving
  symlinks (so ``..``, absolute paths, a symlink pointing out and ``%2e%2e`` all end outside and
  are refused);
- renders run one at a time on a worker thread; the page polls their progress.
"""
from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import uuid
import webbrowser
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..validate import check_file
from ..errors import LengthError, MeditateError
from ..files import write_text_atomic
from ..output.timeline_svg import timeline_svg
from ..progress import Progress
from ..pipeline import RenderOptions, prepare, render
from ..script.parse import read_source, rendered_title
from ..script.series import is_series_file, load_series

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 20              # bytes: a script is at most a few hundred kB (script.MAX_FILE_BYTES)
EDITABLE = (".md", ".yaml", ".yml")
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


# ------------------------------------------------------------------ paths
def inside(folder: Path, rel: str, *, must_exist: bool = True) -> Path:
    """``rel`` resolved inside ``folder`` (itself resolved), or Refused. Symlinks are followed
    before the check, so a link pointing out of the folder is refused like ``..``."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel or os.path.isabs(rel):
        raise Refused(403, "the path must be relative to the studio's folder")
    target = (folder / rel).resolve()
    if not target.is_relative_to(folder) or target == folder:
        raise Refused(403, f"{rel!r} is outside the studio's folder")
    if target.suffix.lower() not in EDITABLE:
        raise Refused(403, f"{rel!r}: the studio edits .md scripts and .yaml series only")
    if must_exist and not target.is_file():
        raise Refused(404, f"{rel!r}: no such file")
    if not must_exist and not target.parent.is_dir():
        raise Refused(404, f"{rel!r}: no such folder")
    return target


def list_files(folder: Path) -> dict:
    """Scripts and series manifests under ``folder`` (hidden files and anything outside skipped)."""
    scripts, series = [], []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in EDITABLE:
            continue
        if not p.is_file() or not p.resolve().is_relative_to(folder):
            continue
        if is_series_file(p):
            entry = {"path": rel.as_posix(), "title": p.stem, "scripts": []}
            try:
                s = load_series(p)
                entry["title"] = s.display_title
                entry["scripts"] = [_rel_or_name(folder, pr.script) for pr in s.practices]
            except MeditateError as e:
                entry["error"] = str(e)
            series.append(entry)
        elif p.suffix.lower() == ".md":
            scripts.append({"path": rel.as_posix(), "title": rendered_title(p, {}) or p.stem})
    return {"folder": str(folder), "scripts": scripts, "series": series}


def _rel_or_name(folder: Path, p: Path) -> str:
    r = p.resolve()
    return r.relative_to(folder).as_posix() if r.is_relative_to(folder) else p.name


# ------------------------------------------------------------------ checking a draft
@dataclass
class Draft:
    """The editor's text written beside the file it edits (so its relative ambience file and
    voices/ folder resolve as for the file), removed afterwards; messages name the file."""
    target: Path
    rel: str
    text: str
    path: Path = field(init=False)

    def __enter__(self) -> "Draft":
        fd, tmp = tempfile.mkstemp(dir=self.target.parent, prefix=".studio-", suffix=self.target.suffix)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.text)
        self.path = Path(tmp)
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)

    def error(self, e: MeditateError, kind: str = "error") -> dict:
        named = e.path in (str(self.path), str(self.path.resolve()))
        return {"kind": kind, "line": e.line if named or e.path is None else None,
                "message": e.message.replace(str(self.path), self.rel),
                "where": self.rel if named or e.path is None else e.path}


class Studio:
    def __init__(self, folder: Path, token: str, port: int, out_dir: Path | None = None):
        self.folder = Path(folder).resolve()
        self.token = token
        self.port = port
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.cookie = f"meditate_studio_{port}"
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="meditate-studio-"))
        self.renders = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meditate-render")
        self.speech = threading.Lock()      # one synthesis at a time: the engines are shared
        self.jobs: dict[str, dict] = {}

    def close(self) -> None:
        """Wait for a running render, then remove the rendered files (they were for listening)."""
        self.renders.shutdown(cancel_futures=True)
        shutil.rmtree(self.out_dir, ignore_errors=True)

    # -------------------------------------------------------------- library calls (threads)
    def check(self, rel: str, text: str, length: float | None) -> dict:
        """check's validation, then the fitted timeline: errors at their lines, the reachable
        range, the SVG (fitted to ``length`` when it is in reach)."""
        target = inside(self.folder, rel, must_exist=False)
        out = {"errors": [], "warnings": [], "svg": None, "reachable": None, "duration": None}
        with Draft(target, rel, text) as d:
            try:
                out["warnings"] = [d.error(w, "warning") for w in check_file(d.path)]
            except MeditateError as e:
                out["errors"] += [d.error(x) for x in getattr(e, "errors", [e])]   # every error, in line order
                return out
            if target.suffix.lower() != ".md":
                return out
            try:
                with self.speech:
                    p = prepare(d.path, RenderOptions(variables=self._placeholders(d.path)))
                    out["reachable"] = list(p.timeline.reachable)
                    if length is not None:
                        try:
                            p = prepare(d.path, RenderOptions(variables=self._placeholders(d.path),
                                                              length=length))
                        except LengthError as e:
                            out["errors"].append(d.error(e))
            except MeditateError as e:
                out["errors"].append(d.error(e))
                return out
            out["duration"] = p.timeline.duration
            out["chapters"] = [{"title": c.title, "start": c.start / 44100} for c in p.timeline.chapters]
            out["svg"] = timeline_svg(p)
        return out

    @staticmethod
    def _placeholders(path: Path) -> dict:
        """Required variables get their own names as values, as ``check`` does."""
        declared = read_source(path).meta.get("variables")
        return {k: k for k, v in declared.items() if v is None} if isinstance(declared, dict) else {}

    def save(self, rel: str, text: str) -> dict:
        target = inside(self.folder, rel, must_exist=False)
        with Draft(target, rel, text) as d:
            try:
                check_file(d.path)
            except MeditateError as e:
                return {"saved": False, "errors": [d.error(x) for x in getattr(e, "errors", [e])]}
        write_text_atomic(target, text)
        return {"saved": True, "errors": []}

    def start_render(self, rel: str, text: str, length: float | None) -> str:
        target = inside(self.folder, rel, must_exist=False)
        if target.suffix.lower() != ".md":
            raise Refused(400, "render a practice script (.md); a series renders with meditate batch")
        job_id = uuid.uuid4().hex
        self.jobs[job_id] = {"id": job_id, "state": "queued", "stage": "waiting", "fraction": 0.0}
        self.renders.submit(self._render, job_id, target, rel, text, length)
        return job_id

    def _render(self, job_id: str, target: Path, rel: str, text: str, length: float | None) -> None:
        job = self.jobs[job_id]
        job["state"] = "running"
        out = self.out_dir / job_id / (target.stem + ".mp3")
        out.parent.mkdir(parents=True)
        with Draft(target, rel, text) as d:
            try:
                opts = RenderOptions(variables=self._placeholders(d.path), length=length)
                with self.speech:       # speak first (into the cache), so the render only mixes
                    p = prepare(d.path, opts, _JobProgress(job))
                res = render(d.path, out, opts, _JobProgress(job))
            except MeditateError as e:
                job.update(state="failed", error=d.error(e))
                return
            except Exception as e:      # noqa: BLE001 (the page shows it; the server goes on)
                job.update(state="failed", error={"kind": "error", "line": None, "message": str(e)})
                return
        job.update(state="done", fraction=1.0, duration=res.duration, loudness=res.loudness,
                   audio=f"/out/{job_id}/audio.mp3", vtt=f"/out/{job_id}/captions.vtt",
                   chapters=[{"title": c.title, "start": c.start / 44100} for c in p.timeline.chapters])
        job["files"] = {"audio.mp3": res.out, "captions.vtt": res.vtt}


class _JobProgress(Progress):
    """The library's progress reports, kept on the job for the page to poll."""

    def __init__(self, job: dict):
        super().__init__(enabled=False)
        self.job = job

    def start(self, total: int, label: str | None = None) -> None:
        super().start(total, label)
        self.job.update(stage=self.label, fraction=0.0)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        self.job["fraction"] = min(1.0, self.done / self.total)


# ------------------------------------------------------------------ the guard
class Guard:
    """ASGI middleware: Host, Origin, token and body size, before any route runs."""

    def __init__(self, app, studio: Studio):
        self.app, self.studio = app, studio

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        try:
            set_cookie = self._admit(request)
        except Refused as r:
            return await PlainTextResponse(r.message, r.status)(scope, receive, send)

        async def send_with_cookie(message):
            if set_cookie and message["type"] == "http.response.start":
                cookie = (f"{self.studio.cookie}={self.studio.token}; Path=/; HttpOnly; SameSite=Strict")
                message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _admit(self, request: Request) -> bool:
        s = self.studio
        if request.headers.get("host", "") not in s.hosts:
            raise Refused(403, "this studio answers only at its own address (127.0.0.1)")
        origin = request.headers.get("origin")
        if origin is not None and origin not in s.origins:
            raise Refused(403, "requests from other sites are refused")
        url_ok = _same(request.query_params.get("token", ""), s.token)
        if not (url_ok or _same(request.cookies.get(s.cookie, ""), s.token)):
            raise Refused(403, "open the studio with the address `meditate studio` printed (it has the token)")
        if request.method not in ("GET", "HEAD"):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                raise Refused(411, "a request body needs a Content-Length")
            if int(length) > MAX_BODY:
                raise Refused(413, f"the request is over {MAX_BODY} bytes")
        return url_ok


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())


# ------------------------------------------------------------------ routes
def create_app(folder: Path, token: str, port: int, out_dir: Path | None = None) -> Starlette:
    studio = Studio(folder, token, port, out_dir)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def files(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(list_files, studio.folder))

    async def read(request: Request) -> Response:
        target = inside(studio.folder, request.query_params.get("path", ""))
        return JSONResponse({"path": request.query_params["path"], "text": target.read_text(encoding="utf-8")})

    async def body(request: Request) -> dict:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body must be JSON")
        if not isinstance(data, dict) or not isinstance(data.get("text", ""), str):
            raise Refused(400, "expected {path, text}")
        length = data.get("length")
        if length is not None and (not isinstance(length, (int, float)) or not 0 < length <= 24 * 3600):
            raise Refused(400, "length must be seconds, above 0")
        return data

    async def check(request: Request) -> Response:
        d = await body(request)
        return JSONResponse(await run_in_threadpool(studio.check, d.get("path", ""), d.get("text", ""),
                                                    d.get("length")))

    async def save(request: Request) -> Response:
        d = await body(request)
        res = await run_in_threadpool(studio.save, d.get("path", ""), d.get("text", ""))
        return JSONResponse(res, status_code=200 if res["saved"] else 422)

    async def render(request: Request) -> Response:
        d = await body(request)
        return JSONResponse({"job": studio.start_render(d.get("path", ""), d.get("text", ""), d.get("length"))})

    async def job(request: Request) -> Response:
        j = studio.jobs.get(request.path_params["job"])
        if j is None:
            raise Refused(404, "no such render")
        return JSONResponse({k: v for k, v in j.items() if k != "files"})

    async def output(request: Request) -> Response:
        job_id, name = request.path_params["job"], request.path_params["name"]
        j = studio.jobs.get(job_id) if JOB_ID.match(job_id) else None
        if j is None or name not in j.get("files", {}):
            raise Refused(404, "no such file")
        media = "text/vtt" if name.endswith(".vtt") else "audio/mpeg"
        return FileResponse(j["files"][name], media_type=media)

    async def refused(request: Request, exc: Refused) -> Response:
        return PlainTextResponse(exc.message, exc.status)

    routes = [
        Route("/", index),
        Route("/api/files", files),
        Route("/api/file", read),
        Route("/api/check", check, methods=["POST"]),
        Route("/api/save", save, methods=["POST"]),
        Route("/api/render", render, methods=["POST"]),
        Route("/api/render/{job}", job),
        Route("/out/{job}/{name}", output),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, exception_handlers={Refused: refused})
    app.state.studio = studio
    return Guard(app, studio)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def serve(folder: Path, port: int, open_browser: bool, echo=print) -> None:
    """Bind 127.0.0.1:port (0: any free port), print the address with its token, serve until ^C."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        raise MeditateError(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); pick another --port, "
                            f"or --port 0 for any free one")
    port = sock.getsockname()[1]
    token = new_token()
    app = create_app(folder, token, port)
    url = f"http://127.0.0.1:{port}/?token={token}"
    echo(f"meditate studio: editing {Path(folder).resolve()}\n  open {url}\n  (Ctrl+C stops it)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    config = uvicorn.Config(app, log_level="warning", limit_concurrency=32, timeout_keep_alive=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.studio.close()
