"""The studio's server: its guard (Host, Origin, token, body size), its folder jail, and its
check, save and render routes, through Starlette's TestClient (no browser, no socket)."""
from __future__ import annotations

import importlib
import threading
import time

import pytest
from starlette.testclient import TestClient

from generator.studio.app import MAX_BODY, create_app

PORT = 8765
TOKEN = "t0ken-for-tests"
BASE = f"http://127.0.0.1:{PORT}"
GOOD = "---\ntitle: Studio test\n---\n# Opening\nHello there.\n[pause 2s-6s]\n# Closing\nGoodbye now.\n"
SECRET = "---\ntitle: Secret\n---\nOutside the folder.\n"


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "scripts"
    f.mkdir()
    (f / "one.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "secret.md").write_text(SECRET, encoding="utf-8")
    (f / "link-out.md").symlink_to(tmp_path / "secret.md")
    (f / "dir-out").symlink_to(tmp_path, target_is_directory=True)
    return f


@pytest.fixture
def client(folder, tmp_path):
    app = create_app(folder, TOKEN, PORT, out_dir=tmp_path / "out")
    with TestClient(app, base_url=BASE) as c:
        c.get(f"/?token={TOKEN}")          # the first request carries the token; the cookie follows
        yield c


def fresh(folder, tmp_path) -> TestClient:
    return TestClient(create_app(folder, TOKEN, PORT, out_dir=tmp_path / "out"), base_url=BASE)


# ------------------------------------------------------------------ the token
def test_every_request_needs_the_token(folder, tmp_path):
    c = fresh(folder, tmp_path)
    for url in ("/", "/api/files", "/static/studio.js", "/api/file?path=one.md"):
        assert c.get(url).status_code == 403, url
    assert c.get("/?token=wrong").status_code == 403
    assert c.get("/?token=" + TOKEN[:-1]).status_code == 403
    assert c.post("/api/check", json={"path": "one.md", "text": GOOD}).status_code == 403
    c.cookies.set(f"meditate_studio_{PORT}", "wrong")
    assert c.get("/api/files").status_code == 403


def test_the_token_in_the_url_sets_a_strict_cookie(folder, tmp_path):
    c = fresh(folder, tmp_path)
    r = c.get(f"/?token={TOKEN}")
    assert r.status_code == 200 and "<textarea" in r.text
    cookie = r.headers["set-cookie"]
    assert f"meditate_studio_{PORT}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/api/files").status_code == 200          # the cookie alone now


# ------------------------------------------------------------------ Host and Origin (DNS rebinding)
@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1", "127.0.0.1:9999",
                                  f"127.0.0.1.evil.example:{PORT}", f"0.0.0.0:{PORT}", f"[::1]:{PORT}"])
def test_a_foreign_host_is_refused(client, host):
    r = client.get("/api/files", headers={"host": host})
    assert r.status_code == 403 and "own address" in r.text


def test_localhost_and_loopback_hosts_are_served(client):
    assert client.get("/api/files", headers={"host": f"localhost:{PORT}"}).status_code == 200
    assert client.get("/api/files", headers={"host": f"127.0.0.1:{PORT}"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", f"http://evil.example:{PORT}", "null",
                                    f"https://127.0.0.1:{PORT}", "http://127.0.0.1:9999"])
def test_a_foreign_origin_is_refused(client, folder, origin):
    r = client.post("/api/save", json={"path": "one.md", "text": GOOD.replace("Hello", "Hi")},
                    headers={"origin": origin})
    assert r.status_code == 403
    assert (folder / "one.md").read_text() == GOOD
    assert client.get("/api/files", headers={"origin": origin}).status_code == 403


def test_the_page_s_own_origin_is_served(client):
    r = client.post("/api/check", json={"path": "one.md", "text": GOOD}, headers={"origin": BASE})
    assert r.status_code == 200


# ------------------------------------------------------------------ the folder jail
OUTSIDE = ["../secret.md", "..", "../scripts/../secret.md", "link-out.md", "dir-out/secret.md",
           "dir-out/scripts/../secret.md", "./../secret.md", "..\\secret.md", "one.md\x00.md", ""]


@pytest.mark.parametrize("rel", OUTSIDE)
def test_reads_stay_inside_the_folder(client, rel):
    r = client.get("/api/file", params={"path": rel})
    assert r.status_code == 403 and "Outside the folder" not in r.text


def test_absolute_paths_are_refused_even_inside(client, folder, tmp_path):
    for p in (tmp_path / "secret.md", folder / "one.md", "/etc/passwd"):
        assert client.get("/api/file", params={"path": str(p)}).status_code == 403


@pytest.mark.parametrize("raw", ["%2e%2e%2fsecret.md", "..%2fsecret.md", "%2E%2E/secret.md",
                                 "%2fetc%2fpasswd", "dir-out%2fsecret.md", "link-out.md"])
def test_url_encoded_tricks_are_refused(client, raw):
    r = client.get("/api/file?path=" + raw)
    assert r.status_code == 403 and "Outside the folder" not in r.text


def test_double_encoding_stays_a_literal_name_inside(client):
    # %252e%252e%252f decodes once, to the literal name "%2e%2e%2fsecret.md": a missing file inside
    r = client.get("/api/file?path=%252e%252e%252fsecret.md")
    assert r.status_code == 404 and "Outside the folder" not in r.text


@pytest.mark.parametrize("rel", OUTSIDE + ["/tmp/evil.md"])
def test_writes_stay_inside_the_folder(client, folder, tmp_path, rel):
    r = client.post("/api/save", json={"path": rel, "text": GOOD})
    assert r.status_code in (403, 404)
    assert (tmp_path / "secret.md").read_text() == SECRET
    assert not list(tmp_path.glob("*.md.*")) and not (tmp_path / "evil.md").exists()


@pytest.mark.parametrize("url", ["/static/..%2f..%2fapp.py", "/static/%2e%2e/app.py", "/out/..%2f..%2f/one.md",
                                 "/out/" + "0" * 32 + "/..%2fone.md", "/api/render/..%2f..%2fone.md"])
def test_url_path_tricks_reach_nothing(client, url):
    r = client.get(url)
    assert r.status_code in (403, 404) and "import" not in r.text and "Hello there" not in r.text


def test_checks_and_renders_stay_inside_too(client):
    for route in ("/api/check", "/api/render"):
        assert client.post(route, json={"path": "../secret.md", "text": GOOD}).status_code == 403


# ------------------------------------------------------------------ body size
def test_a_body_over_the_limit_is_refused_unread(client, folder):
    big = GOOD + "Hello there.\n" * (MAX_BODY // 12)
    r = client.post("/api/save", json={"path": "one.md", "text": big})
    assert r.status_code == 413
    assert (folder / "one.md").read_text() == GOOD


def test_a_body_without_a_length_is_refused(client):
    def chunks():
        yield b'{"path": "one.md", '
        yield b'"text": "x"}'

    r = client.post("/api/save", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 411


# ------------------------------------------------------------------ listing, check, save
def test_lists_scripts_and_series(client, folder):
    (folder / "series").mkdir()
    (folder / "series" / "week.yaml").write_text("title: A week\npractices:\n  - script: ../one.md\n")
    data = client.get("/api/files").json()
    assert [s["path"] for s in data["scripts"]] == ["one.md"]       # the links out are not listed
    assert data["scripts"][0]["title"] == "Studio test"
    assert data["series"] == [{"path": "series/week.yaml", "title": "A week", "scripts": ["one.md"]}]


def test_check_shows_errors_at_their_line(client, folder):
    broken = GOOD.replace("[pause 2s-6s]", "[pause 2 fortnights]")
    data = client.post("/api/check", json={"path": "one.md", "text": broken}).json()
    (err,) = data["errors"]
    assert err["line"] == 6 and "[pause 2 fortnights]" in err["message"] and err["where"] == "one.md"
    assert data["svg"] is None
    assert not [p for p in folder.iterdir() if p.name.startswith(".studio-")]     # the draft is gone


def test_check_draws_the_timeline_and_the_reachable_range(client):
    data = client.post("/api/check", json={"path": "one.md", "text": GOOD}).json()
    assert data["errors"] == [] and data["svg"].startswith("<svg")
    lo, hi = data["reachable"]
    assert hi - lo == pytest.approx(4.0, abs=1e-6)                  # a 2-6 s pause: 4 s of room
    assert data["duration"] == pytest.approx((lo + hi) / 2, abs=0.01)
    assert [c["title"] for c in data["chapters"]] == ["Opening", "Closing"]
    # the length control refits the flexible pause
    fitted = client.post("/api/check", json={"path": "one.md", "text": GOOD, "length": hi}).json()
    assert fitted["duration"] == pytest.approx(hi, abs=0.01) and fitted["errors"] == []
    far = client.post("/api/check", json={"path": "one.md", "text": GOOD, "length": hi + 60}).json()
    assert "out of reach" in far["errors"][0]["message"] and far["reachable"] == [lo, hi]


def test_save_validates_like_check_and_writes_whole(client, folder):
    broken = GOOD.replace("Goodbye now.", "Goodbye [gong].")
    r = client.post("/api/save", json={"path": "one.md", "text": broken})
    assert r.status_code == 422 and r.json()["errors"][0]["line"] == 8
    assert (folder / "one.md").read_text() == GOOD
    fixed = GOOD.replace("Goodbye now.", "Goodbye, friend.")
    assert client.post("/api/save", json={"path": "one.md", "text": fixed}).json() == {"saved": True, "errors": []}
    assert (folder / "one.md").read_text() == fixed
    assert client.post("/api/save", json={"path": "two.md", "text": fixed}).status_code == 200   # a new file
    assert sorted(p.name for p in folder.iterdir()) == ["dir-out", "link-out.md", "one.md", "two.md"]


# ------------------------------------------------------------------ renders
def wait(client, job, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        j = client.get(f"/api/render/{job}").json()
        if j["state"] in ("done", "failed"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"render {job} did not finish")


def test_render_plays_with_captions_and_chapters(client):
    from mutagen.mp3 import MP3

    job = client.post("/api/render", json={"path": "one.md", "text": GOOD, "length": 8}).json()["job"]
    j = wait(client, job)
    assert j["state"] == "done", j["error"]
    assert j["duration"] == pytest.approx(8, abs=0.01)
    audio = client.get(j["audio"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"
    out = client.app.app.state.studio.out_dir / job / "one.mp3"
    assert MP3(out).info.length == pytest.approx(8, abs=0.06)
    vtt = client.get(j["vtt"])
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT") and "Hello there." in vtt.text and "Goodbye now." in vtt.text
    assert [c["title"] for c in j["chapters"]] == ["Opening", "Closing"] and j["chapters"][0]["start"] == 0
    ranged = client.get(j["audio"], headers={"range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100     # the player can seek


def test_a_failed_render_reports_its_line(client):
    job = client.post("/api/render", json={"path": "one.md", "text": GOOD + "[bell x]\n"}).json()["job"]
    j = wait(client, job)
    assert j["state"] == "failed" and j["error"]["line"] == 9


def test_renders_run_one_at_a_time_and_do_not_block_the_page(client, monkeypatch):
    render_mod = importlib.import_module("generator.render")    # (``generator.render`` is the public function)

    real, running, most = render_mod.render, [0], [0]
    gate = threading.Event()

    def counted(*a, **k):
        running[0] += 1
        most[0] = max(most[0], running[0])
        gate.wait(30)
        try:
            return real(*a, **k)
        finally:
            running[0] -= 1

    monkeypatch.setattr(render_mod, "render", counted)
    jobs = [client.post("/api/render", json={"path": "one.md", "text": GOOD}).json()["job"] for _ in range(3)]
    time.sleep(0.3)
    states = [client.get(f"/api/render/{j}").json()["state"] for j in jobs]
    assert states.count("running") == 1 and states.count("queued") == 2
    t0 = time.monotonic()
    assert client.get("/api/files").status_code == 200                                 # the page answers
    assert client.post("/api/check", json={"path": "one.md", "text": GOOD}).json()["errors"] == []
    assert time.monotonic() - t0 < 10
    gate.set()
    assert [wait(client, j)["state"] for j in jobs] == ["done"] * 3
    assert most[0] == 1


def test_serve_binds_loopback_only(folder, monkeypatch):
    import uvicorn

    from generator.studio import app as studio_app

    bound = {}

    def fake_run(self, sockets=None):
        bound["addr"] = sockets[0].getsockname()
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    lines = []
    made = []
    real_create = studio_app.create_app
    monkeypatch.setattr(studio_app, "create_app", lambda *a: made.append(real_create(*a)) or made[-1])
    studio_app.serve(folder, 0, open_browser=False, echo=lines.append)
    assert not made[0].studio.out_dir.exists()          # the rendered files go when the studio stops
    host, port = bound["addr"]
    assert host == "127.0.0.1" and port > 0
    assert f"http://127.0.0.1:{port}/?token=" in lines[0]


def test_a_port_in_use_is_a_clear_error(folder):
    import socket

    from generator.errors import MeditateError
    from generator.studio.app import serve

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MeditateError, match=f"cannot listen on 127.0.0.1:{port}.*--port 0"):
            serve(folder, port, open_browser=False, echo=lambda _: None)
