"""`sparana data fetch` and `data list`: the standard sets in <data home>/<name>/, verified, never half-written."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sparana_cli.data.download import download, file_md5
from sparana_cli.data.registry import STANDARD_SETS, StandardSet
from sparana_cli.errors import UserError
from sparana_cli.files import atomic_path, write_text_atomic

MIRROR_ENV = "SPARANA_DATA_MIRROR"
EXTRACTED_SUMS = "extracted.sha256.json"  # sha256 of the files taken out of a verified archive


def fetch_set(name: str, home: Path, *, mirror: str | None = None, say=print, on_bytes=None) -> Path:
    """Download (or keep, when already verified) the set's files into home/name; return that folder."""
    standard = _standard(name)
    folder = home / name
    base = _checked_url(mirror, os.environ.get(MIRROR_ENV)) or standard.url.rstrip("/") + "/"
    for status in (_status(standard, place) for place in elsewhere(name, home)):
        if status.present:
            say(f"note: training already finds {name} in {status.folder} (checksums {status.checksums}); "
                f"the copy fetched into {home / name} is read first once it is there")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if standard.members:
            _fetch_archive(standard, folder, base, say, on_bytes)
        else:
            _fetch_files(standard, folder, base, say, on_bytes)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # a failed first fetch leaves nothing behind
        raise
    return folder


def _checked_url(option: str | None, env: str | None) -> str | None:
    """The mirror's base URL ending in "/" (None: none given); a UserError naming where it came from when it is no URL."""
    value, where = (option, "--mirror") if option else (env, MIRROR_ENV)
    if not value:
        return None
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # a port that is no number, or out of range, raises here
    except ValueError:  # "http://[::1": an unclosed IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https", "file") or (parts.scheme != "file" and not parts.netloc):
        raise UserError(f"{where} {value}: not a URL (expected http://HOST/PATH, https://HOST/PATH or file:///PATH)")
    return value.rstrip("/") + "/"


def _fetch_files(standard: StandardSet, folder: Path, base: str, say, on_bytes) -> None:
    for remote in standard.files:
        target = folder / remote.name
        if target.is_file() and file_md5(target) == remote.md5:
            say(f"{target}: present, MD5 ok")
            continue
        say(f"{base}{remote.name} -> {target}")
        download(base + remote.name, target, remote.md5, on_bytes=on_bytes)


def _fetch_archive(standard: StandardSet, folder: Path, base: str, say, on_bytes) -> None:
    """Download the archive, take the set's members out under the standard IDX names, delete the archive."""
    if _extracted_ok(folder, standard):
        say(f"{folder}: present, checksums ok")
        return
    (remote,) = standard.files
    archive = folder / f".{remote.name}"
    say(f"{base}{remote.name} -> {folder} (only {standard.name} is kept)")
    try:
        download(base + remote.name, archive, remote.md5, on_bytes=on_bytes)
        sums = {}
        with zipfile.ZipFile(archive) as zipped:
            for member, ours in standard.members.items():
                with atomic_path(folder / ours) as part:
                    part.write_bytes(zipped.read(member))
                    sums[ours] = _sha256(part)
        write_text_atomic(folder / EXTRACTED_SUMS, json.dumps(sums, indent=1))
    except (KeyError, zipfile.BadZipFile) as err:
        raise UserError(f"{base}{remote.name}: not the expected archive ({err})") from None
    finally:
        archive.unlink(missing_ok=True)


@dataclass(frozen=True)
class SetStatus:
    name: str
    folder: Path
    present: int  # files found, of `expected`
    expected: int
    size: int  # bytes on disk
    checksums: str  # "ok", "MISMATCH: <file>", "missing", ...


def list_sets(home: Path) -> list[SetStatus]:
    """What each standard set has on this machine: <data home>/<name>, else the first other place training reads it
    from without data.path (Debian's Fashion-MNIST), else <data home>/<name> as missing."""
    out = []
    for name, standard in STANDARD_SETS.items():
        statuses = [_status(standard, place) for place in [home / name, *elsewhere(name, home)]]
        out.append(next((s for s in statuses if s.present), statuses[0]))
    return out


def elsewhere(name: str, home: Path) -> list[Path]:
    """The places other than <home>/<name> that training finds the set in without data.path."""
    from sparana_cli.data.idx_set import idx_places

    return [p for p in idx_places(name) if p != home / name]


def _status(standard: StandardSet, folder: Path) -> SetStatus:
    if standard.members:
        names = list(standard.members.values())
        files = [folder / n for n in names]
        present = [f for f in files if f.is_file()]
        check = "ok" if present and _extracted_ok(folder, standard) else ("missing" if not present else "MISMATCH")
    else:
        files = [folder / r.name for r in standard.files]
        present = [f for f in files if f.is_file()]
        bad = [r.name for r in standard.files if (folder / r.name).is_file() and not _file_ok(folder / r.name, r)]
        check = "missing" if not present else (f"MISMATCH: {', '.join(bad)}" if bad else "ok")
    if present and len(present) < len(files) and check == "ok":
        check = "incomplete"
    return SetStatus(standard.name, folder, len(present), len(files), sum(f.stat().st_size for f in present), check)


def _file_ok(path: Path, remote) -> bool:
    if file_md5(path) == remote.md5:
        return True
    if remote.content_sha256 is None:
        return False
    try:
        with gzip.open(path) as f:  # a recompressed copy (Debian's) of the same data
            return hashlib.file_digest(f, "sha256").hexdigest() == remote.content_sha256
    except (OSError, EOFError):
        return False


def _extracted_ok(folder: Path, standard: StandardSet) -> bool:
    try:
        sums = json.loads((folder / EXTRACTED_SUMS).read_text())
    except (OSError, ValueError):
        return False
    return all((folder / n).is_file() and sums.get(n) == _sha256(folder / n) for n in standard.members.values())


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _standard(name: str) -> StandardSet:
    if name not in STANDARD_SETS:
        raise UserError(f"data fetch {name}: unknown data set; choose among {', '.join(STANDARD_SETS)}")
    return STANDARD_SETS[name]
