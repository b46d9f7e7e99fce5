"""A podcast feed per output folder (``meditate batch … --feed BASE_URL``), written with feedgen.

``feed.xml`` is RSS 2.0 with the ``itunes`` namespace (feedgen's podcast
extension: author, summary, category, artwork, type ``serial``, per episode
its number, season 1 and duration) and the Podcasting 2.0 ``podcast`` namespace
(``podcast:chapters``, a JSON chapters file per episode, version 1.2.0 of that
spec, and ``podcast:transcript``, the episode's ``.vtt``). What feedgen 1.0.0
lacked, added by the small extension below: the ``podcast`` namespace, and
``itunes:explicit`` as ``false`` (feedgen accepts only the old yes/no/clean).

Every URL is ``BASE_URL`` + the file's path under the batch's output folder.
An episode's guid is ``<series slug>/<listener folder>/<position>`` (not a
permalink), so a rerun, a move to another host or a new format keeps it; its
publication date is the manifest's ``start_date:`` (or 2024-01-01) plus one
day per position, at 06:00 UTC: day 1 is the oldest, so apps list it first.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from .. import __version__
from ..errors import MeditateError

FEED = "feed.xml"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
MIME = {".mp3": "audio/mpeg", ".m4a": "audio/x-m4a", ".m4b": "audio/x-m4a", ".opus": "audio/ogg"}
CATEGORY = ("Health & Fitness", "Mental Health")
PUBLISH_AT = time(6, 0, tzinfo=timezone.utc)


@dataclass
class Episode:
    path: Path               # the audio file
    position: int
    title: str
    duration: float          # seconds
    chapters: list           # [(title, start s, end s)]
    description: str | None = None


def check_base_url(url: str) -> str:
    """An absolute http(s) URL, ending in ``/``."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MeditateError(f"--feed {url!r}: give the absolute http(s) URL the output folder is served at, "
                            f"e.g. https://example.org/calm/")
    return url if url.endswith("/") else url + "/"


def chapters_json(episode: Episode) -> str:
    """Podcasting 2.0 JSON chapters (version 1.2.0): startTime/endTime in seconds, title."""
    return json.dumps({"version": "1.2.0", "chapters": [
        {"startTime": round(s, 3), "endTime": round(e, 3), "title": t} for t, s, e in episode.chapters]},
        indent=1, ensure_ascii=False) + "\n"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Podcast20(BaseExtension):
    """feedgen extension for the feed: the podcast namespace, and itunes:explicit false."""

    def extend_ns(self):
        return {"podcast": PODCAST_NS}

    def extend_rss(self, rss):
        xml_elem("{%s}explicit" % ITUNES_NS, rss[0]).text = "false"
        return rss


class Podcast20Entry(BaseEntryExtension):
    """The same per episode, with its podcast:chapters and podcast:transcript links."""

    def __init__(self):
        self.links: list = []

    def link(self, tag: str, url: str, mime: str, **extra) -> None:
        self.links.append((tag, url, mime, extra))

    def extend_rss(self, item):
        xml_elem("{%s}explicit" % ITUNES_NS, item).text = "false"
        for tag, url, mime, extra in self.links:
            el = xml_elem("{%s}%s" % (PODCAST_NS, tag), item)
            el.attrib.update(dict(url=url, type=mime, **extra))
        return item


def write_feed(folder: Path, out_dir: Path, base_url: str, series, title: str, episodes: list[Episode],
               write, language: str | None = None) -> Path:
    """``folder/feed.xml`` and a ``.chapters.json`` per episode; ``write(path, text)`` writes atomically.
    ``series``: the manifest (slug, author, description, artwork, start_date)."""
    base_url = check_base_url(base_url)
    rel = PurePosixPath(folder.resolve().relative_to(out_dir.resolve()).as_posix())
    folder_url = base_url + "".join(quote(p) + "/" for p in rel.parts)
    listener = "/".join(rel.parts) or "-"

    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcast20", Podcast20, Podcast20Entry)
    fg.title(title)
    fg.link(href=folder_url, rel="alternate")
    summary = series.description or title
    fg.description(summary)
    fg.language(language or "en")
    fg.generator(f"meditate {__version__}")
    fg.podcast.itunes_summary(summary)
    fg.podcast.itunes_category(*CATEGORY)
    fg.podcast.itunes_type("serial")
    if series.author:
        fg.podcast.itunes_author(series.author)
    if series.artwork:
        art = series.artwork
        if not art.lower().startswith(("http://", "https://")):
            name = "artwork" + Path(art).suffix.lower()
            shutil.copyfile(art, folder / name)
            art = folder_url + name
        fg.podcast.itunes_image(art)
        fg.image(url=art, title=title, link=folder_url)
    start = datetime.combine(series.start_date, PUBLISH_AT)
    for ep in episodes:
        url = folder_url + quote(ep.path.name)
        stem = ep.path.stem
        write(folder / f"{stem}.chapters.json", chapters_json(ep))
        fe = fg.add_entry(order="append")
        fe.guid(f"{series.slug}/{listener}/{ep.position}", permalink=False)
        fe.title(ep.title)
        fe.description(ep.description or ep.title)
        fe.enclosure(url, str(ep.path.stat().st_size), MIME[ep.path.suffix.lower()])
        fe.pubDate(start + timedelta(days=ep.position - 1))
        fe.podcast.itunes_duration(_clock(ep.duration))
        fe.podcast.itunes_episode(ep.position)
        fe.podcast.itunes_season(1)
        fe.podcast.itunes_episode_type("full")
        fe.podcast20.link("chapters", folder_url + quote(f"{stem}.chapters.json"), "application/json+chapters")
        fe.podcast20.link("transcript", folder_url + quote(f"{stem}.vtt"), "text/vtt", rel="captions")
    last = max((ep.position for ep in episodes), default=1)
    fg.lastBuildDate(start + timedelta(days=last - 1))      # deterministic: the newest episode's date
    path = folder / FEED
    write(path, fg.rss_str(pretty=True).decode("utf-8"))
    return path
