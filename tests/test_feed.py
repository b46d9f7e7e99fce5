"""``batch --feed``: podcast feeds read back by feedparser (a real feed parser), every enclosure
checked against its file, and the rules podcast apps enforce (fake engine, tiny scripts)."""
from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import pytest
from mutagen import File

from generator.batch import run_batch
from generator.errors import MeditateError, SeriesError
from generator.output.feed import FEED, ITUNES_NS, PODCAST_NS
from generator.script.series import load_series

from tests.helpers import write

BASE = "https://example.org/calm/"


def with_feed_keys(series: Path, extra: str) -> Path:
    series.write_text(series.read_text(encoding="utf-8").replace("title: Tiny Series\n", "title: Tiny Series\n" + extra),
                      encoding="utf-8")
    return series


def check_feed(folder: Path, base: str, n: int):
    """The feed in ``folder`` as feedparser and an XML parser read it; returns (parsed, tree)."""
    import feedparser

    raw = (folder / FEED).read_bytes()
    d = feedparser.parse(raw)
    assert not d.bozo, d.get("bozo_exception")
    assert d.version == "rss20"
    ch = d.feed
    assert ch.title and ch.link and ch.description                        # RSS 2.0's required three
    tree = ElementTree.fromstring(raw)
    channel = tree.find("channel")
    assert channel.find(f"{{{ITUNES_NS}}}category").get("text") == "Health & Fitness"
    assert channel.find(f"{{{ITUNES_NS}}}explicit").text == "false"
    assert channel.find("language").text
    assert len(d.entries) == n
    guids = [e.id for e in d.entries]
    assert len(set(guids)) == n
    dates = [parsedate_to_datetime(e.published) for e in d.entries]     # RFC 822, or this raises
    assert all(b - a == (dates[1] - dates[0]) for a, b in zip(dates, dates[1:]))
    assert n < 2 or (dates[1] - dates[0]).days == 1
    items = channel.findall("item")
    for i, (e, item) in enumerate(zip(d.entries, items), start=1):
        assert item.find("guid").get("isPermaLink") == "false"
        assert int(e.itunes_episode) == i and int(e.itunes_season) == 1
        assert item.find(f"{{{ITUNES_NS}}}explicit").text == "false"
        (enc,) = e.enclosures
        url = urlsplit(enc.href)
        assert url.scheme == "https" and enc.href.startswith(base)
        path = folder / unquote(Path(url.path).name)
        assert int(enc.length) == path.stat().st_size
        assert enc.type == {".mp3": "audio/mpeg", ".m4a": "audio/x-m4a", ".opus": "audio/ogg"}[path.suffix]
        h, m, s = (int(x) for x in e.itunes_duration.split(":"))
        assert h * 3600 + m * 60 + s == round(File(path).info.length)
        chap = item.find(f"{{{PODCAST_NS}}}chapters")
        assert chap.get("type") == "application/json+chapters" and chap.get("url").startswith(base)
        doc = json.loads((folder / unquote(Path(urlsplit(chap.get("url")).path).name)).read_text(encoding="utf-8"))
        assert doc["version"] == "1.2.0" and doc["chapters"] and doc["chapters"][0]["startTime"] == 0
        assert all(isinstance(c["title"], str) for c in doc["chapters"])
        tr = item.find(f"{{{PODCAST_NS}}}transcript")
        assert tr.get("type") == "text/vtt"
        vtt = folder / unquote(Path(urlsplit(tr.get("url")).path).name)
        assert vtt.read_text(encoding="utf-8").startswith("WEBVTT") and vtt.with_suffix(path.suffix) == path
    return d, channel


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_feed_per_series_is_parsed_and_matches_its_files(lib, fmt):
    tmp, series = lib
    out = tmp / "out"
    report = run_batch(series, out_dir=out, fmt=fmt, feed=BASE)
    assert report.ok and report.feeds == [out / FEED]
    d, channel = check_feed(out, BASE, 3)
    assert d.feed.title == "Tiny Series"
    # day 1 is the oldest, at the documented epoch
    assert [parsedate_to_datetime(e.published).date().isoformat() for e in d.entries] == [
        "2024-01-01", "2024-01-02", "2024-01-03"]
    assert channel.find(f"{{{ITUNES_NS}}}image") is None                 # no artwork: none named
    first = (out / FEED).read_bytes()
    again = run_batch(series, out_dir=out, fmt=fmt, feed=BASE)
    assert again.skipped == 3 and (out / FEED).read_bytes() == first     # stable: guids, dates, everything


def test_feed_per_listener_with_artwork_start_date_and_author(lib, tmp_path):
    tmp, series = lib
    (series.parent / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with_feed_keys(series, "author: Sam Calm\ndescription: A week of kindness.\nartwork: cover.png\n"
                           "start_date: 2025-03-10\n")
    people = write(tmp / "people.csv", "name\nAnn Lee\nBo\n")
    out = tmp / "out"
    report = run_batch(series, people, out_dir=out, fmt="m4a", feed=BASE)
    assert report.ok and sorted(report.feeds) == [out / "ann-lee" / FEED, out / "bo" / FEED]
    ids = []
    for slug in ("ann-lee", "bo"):
        d, channel = check_feed(out / slug, BASE + slug + "/", 3)
        assert d.feed.author == "Sam Calm" and d.feed.summary == "A week of kindness."
        art = channel.find(f"{{{ITUNES_NS}}}image").get("href")
        assert art == f"{BASE}{slug}/artwork.png" and (out / slug / "artwork.png").is_file()
        assert parsedate_to_datetime(d.entries[0].published).date().isoformat() == "2025-03-10"
        ids += [e.id for e in d.entries]
    assert len(set(ids)) == 6 and ids[0] == "tiny/ann-lee/1"


def test_feed_options_are_checked(lib):
    tmp, series = lib
    with pytest.raises(MeditateError, match="absolute http"):
        run_batch(series, out_dir=tmp / "out", feed="example.org/calm")
    with_feed_keys(series, "start_date: next monday\n")
    with pytest.raises(SeriesError, match="YYYY-MM-DD"):
        load_series(series)
    series.write_text(series.read_text(encoding="utf-8").replace("start_date: next monday\n", "artwork: no.gif\n"),
                      encoding="utf-8")
    with pytest.raises(SeriesError, match="artwork: 'no.gif' must be a .jpg or .png"):
        load_series(series)
