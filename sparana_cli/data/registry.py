"""The standard data sets `sparana data fetch` knows: where they are published and the checksums of their files.

The MD5s are those the publishers list and torchvision checks (MNIST, Fashion-MNIST, KMNIST,
EMNIST's gzip.zip). Debian's dataset-fashion-mnist package recompresses the files, so their
MD5s differ; `content_sha256` holds the sha256 of each decompressed file, computed from that copy,
which identifies the same data whatever the compression.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    name: str  # file name on the server
    md5: str  # of the file as served
    content_sha256: str | None = None  # of the decompressed file, where known


@dataclass(frozen=True)
class StandardSet:
    name: str
    url: str  # folder the files are served from (a mirror serves the same names)
    files: tuple[RemoteFile, ...]
    about: str  # what it is, who made it, its licence
    # an archive's member -> the IDX name it is saved as (EMNIST ships one zip of many sets)
    members: dict[str, str] = field(default_factory=dict)


_MNIST_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _idx_files(*md5s: str, sha256s: tuple[str | None, ...] = (None,) * 4) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, md5, sha) for name, md5, sha in zip(_MNIST_NAMES, md5s, sha256s))


STANDARD_SETS: dict[str, StandardSet] = {s.name: s for s in (
    StandardSet(
        "mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/",
        _idx_files("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                   "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        "handwritten digits, 60,000 + 10,000, 10 classes; Yann LeCun, Corinna Cortes, Christopher J.C. Burges; "
        "CC BY-SA 3.0 (as TensorFlow and Keras state it)"),
    StandardSet(
        "fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        _idx_files("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                   "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
                   sha256s=("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
        "Zalando article images, 60,000 + 10,000, 10 classes; Han Xiao, Kashif Rasul, Roland Vollgraf; MIT"),
    StandardSet(
        "kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        _idx_files("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
                   "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
        "Kuzushiji-MNIST, cursive Japanese characters, 60,000 + 10,000, 10 classes; ROIS-DS CODH; CC BY-SA 4.0"),
    StandardSet(
        "emnist-balanced", "https://biometrics.nist.gov/cs_links/EMNIST/",
        (RemoteFile("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e"),),
        "EMNIST Balanced, handwritten digits and letters, 112,800 + 18,800, 47 classes; Cohen, Afshar, Tapson, "
        "van Schaik (NIST SD 19); the images are stored transposed, which a dense network does not mind. "
        "The download is NIST's 535 MB archive of every EMNIST split; only the balanced split is kept",
        members={"gzip/emnist-balanced-train-images-idx3-ubyte.gz": "train-images-idx3-ubyte.gz",
                 "gzip/emnist-balanced-train-labels-idx1-ubyte.gz": "train-labels-idx1-ubyte.gz",
                 "gzip/emnist-balanced-test-images-idx3-ubyte.gz": "t10k-images-idx3-ubyte.gz",
                 "gzip/emnist-balanced-test-labels-idx1-ubyte.gz": "t10k-labels-idx1-ubyte.gz"}),
)}

