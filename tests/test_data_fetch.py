"""`sparana data fetch` and `data list` against a local HTTP server on 127.0.0.1 serving small synthetic IDX files."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.data import download, load_dataset, registry
from sparana_cli.data.idx import write_idx
from sparana_cli.data.registry import RemoteFile, StandardSet
from sparana_cli.spec import DataSpec
from tests.conftest import IDX_NAMES, make_images


def synthetic_idx_files(folder: Path) -> dict[str, bytes]:
    """The four gzipped IDX files of a small learnable set, by their published names."""
    (x, y), (xt, yt) = make_images(120, seed=1), make_images(40, seed=2)
    files = {}
    for role, array in {"train_images": x, "train_labels": y, "test_images": xt, "test_labels": yt}.items():
        path = folder / (IDX_NAMES[role] + ".gz")
        write_idx(path, array)
        files[path.name] = path.read_bytes()
    return files


class Server:
    """Serves `files` by name; `truncate` names files whose body is cut short (always, or on the first request)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.truncate, self.truncate_once, self.requests = dict(files), set(), set(), []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404, "Not Found")
                    return
                body, start = server.files[name], 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = name in server.truncate or (name in server.truncate_once and start == 0)
                self.wfile.write(body[start:len(body) // 2] if cut else body[start:])
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/sets/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path):
    (tmp_path / "published").mkdir()
    server = Server(synthetic_idx_files(tmp_path / "published"))
    yield server
    server.close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARANA_DATA", str(tmp_path / "home"))
    monkeypatch.delenv("SPARANA_DATA_MIRROR", raising=False)
    monkeypatch.setattr(download, "RETRY_WAIT_S", 0.0)
    return tmp_path / "home"


@pytest.fixture
def tiny_mnist(monkeypatch, served):
    """Make 'mnist' the synthetic files, with their own MD5s, published at an address that does not answer."""
    md5 = {name: hashlib.md5(body).hexdigest() for name, body in served.files.items()}
    files = tuple(RemoteFile(name, md5[name]) for name in (n + ".gz" for n in IDX_NAMES.values()))
    monkeypatch.setitem(registry.STANDARD_SETS, "mnist", StandardSet("mnist", "http://127.0.0.1:9/", files, "test set"))
    return files


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result) -> str:
    """The one error line (after any progress lines), checked: exit 2, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and "Traceback" not in result.output, result.stderr
    return errors[0]


def everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_fetch_from_a_mirror_then_train_finds_it(home, served, tiny_mnist):
    result = run("data", "fetch", "mnist", "--mirror", served.url)
    assert result.exit_code == 0, result.output
    assert everything_under(home) == ["mnist"] + [f"mnist/{r.name}" for r in sorted(tiny_mnist, key=lambda r: r.name)]
    listed = {row["name"]: row for row in json.loads(run("data", "list", "--json").stdout)}
    assert listed["mnist"]["files"] == 4 and listed["mnist"]["checksums"] == "ok"
    assert listed["kmnist"]["checksums"] == "missing"
    ds = load_dataset(DataSpec(name="mnist"), seed=0)  # no data.path: the fetched files, not the embedded sample
    assert ds.notice is None and str(home / "mnist") in ds.source and len(ds.y_test) == 40


def test_mirror_from_the_environment_and_a_second_fetch_downloads_nothing(home, served, tiny_mnist, monkeypatch):
    monkeypatch.setenv("SPARANA_DATA_MIRROR", served.url)
    assert run("data", "fetch", "mnist").exit_code == 0
    asked = len(served.requests)
    again = run("data", "fetch", "mnist")
    assert again.exit_code == 0 and len(served.requests) == asked == 4
    assert "present, MD5 ok" in again.stderr


def test_a_broken_download_is_resumed(home, served, tiny_mnist):
    served.truncate_once.add("train-images-idx3-ubyte.gz")
    assert run("data", "fetch", "mnist", "--mirror", served.url).exit_code == 0
    resumed = [r for name, r in served.requests if name == "train-images-idx3-ubyte.gz"]
    half = len(served.files["train-images-idx3-ubyte.gz"]) // 2
    assert resumed == [None, f"bytes={half}-"]
    target = home / "mnist" / "train-images-idx3-ubyte.gz"
    assert target.read_bytes() == served.files["train-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("failure, words", [
    ("wrong checksum", "checksum mismatch"),
    ("404", "HTTP 404"),
    ("truncated", "closed before the end of the file"),
])
def test_a_failed_download_leaves_nothing_behind(failure, words, home, served, tiny_mnist):
    first = "train-images-idx3-ubyte.gz"
    if failure == "wrong checksum":
        served.files[first] = bytes([served.files[first][0] ^ 1]) + served.files[first][1:]
    elif failure == "404":
        del served.files[first]
    else:
        served.truncate.add(first)
    line = refused(run("data", "fetch", "mnist", "--mirror", served.url))
    assert words in line and served.url + first in line
    assert everything_under(home) == []


def test_a_dead_server_leaves_nothing_behind(home, tiny_mnist):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    line = refused(run("data", "fetch", "mnist", "--mirror", f"http://127.0.0.1:{port}/"))
    assert "after 3 attempts" in line and f"127.0.0.1:{port}" in line
    assert everything_under(home) == []


def test_unknown_set_is_refused(home):
    assert "kmnist" in refused(run("data", "fetch", "mnist-ish"))


def test_an_archive_set_keeps_only_its_members_under_the_standard_names(home, served, monkeypatch):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, body in served.files.items():
            zipped.writestr(f"gzip/letters-{name}", body)
        zipped.writestr("gzip/other-set.gz", b"not kept")
    served.files["bundle.zip"] = archive.getvalue()
    members = {f"gzip/letters-{name}": name for name in served.files if name != "bundle.zip"}
    monkeypatch.setitem(registry.STANDARD_SETS, "emnist-balanced", StandardSet(
        "emnist-balanced", served.url, (RemoteFile("bundle.zip", hashlib.md5(archive.getvalue()).hexdigest()),),
        "test archive", members=members))
    assert run("data", "fetch", "emnist-balanced").exit_code == 0
    folder = home / "emnist-balanced"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*members.values(), "extracted.sha256.json"])
    listed = {row["name"]: row for row in json.loads(run("data", "list", "--json").stdout)}
    assert listed["emnist-balanced"]["checksums"] == "ok"
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"changed")
    listed = {row["name"]: row for row in json.loads(run("data", "list", "--json").stdout)}
    assert listed["emnist-balanced"]["checksums"] == "MISMATCH"


def test_list_reports_a_changed_file(home, served, tiny_mnist):
    assert run("data", "fetch", "mnist", "--mirror", served.url).exit_code == 0
    (home / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x")
    listed = {row["name"]: row for row in json.loads(run("data", "list", "--json").stdout)}
    assert listed["mnist"]["checksums"] == "MISMATCH: t10k-labels-idx1-ubyte.gz"


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian's Fashion-MNIST is absent")
def test_debians_recompressed_fashion_mnist_matches_the_recorded_content(monkeypatch):
    monkeypatch.setenv("SPARANA_DATA", "/usr/share/datasets")
    listed = {row["name"]: row for row in json.loads(run("data", "list", "--json").stdout)}
    assert listed["fashion-mnist"]["checksums"] == "ok" and listed["fashion-mnist"]["files"] == 4
