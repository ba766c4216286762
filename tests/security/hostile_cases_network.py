"""Hostile corpus, part 1: URLs and redirects, registry paths, registries, signed registries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hostile_helpers import (
    CARD_BYTES,
    INDEX_URL,
    REGISTRY_URL,
    Attack,
    RoutedTransport,
    fetch_url,
    hostile,
    http_index_path,
    http_registry,
    http_routes,
    index_bytes,
    outside,
)

from deepinfer import CardError, FetchError, IntegrityError, UsageError
from deepinfer.registry import (
    DirectoryRegistry,
    RegistrySource,
    add_source,
    load_private_key,
    sign_index,
    write_index,
    write_private_key,
)

# --------------------------------------------------------------------------- URLs and redirects (store)

_NOT_ALLOWED = "is not an allowed host"
_REDIRECT = "https://github.com/m.onnx"
URL_CASES = [
    hostile("url-plain-http", fetch_url("http://github.com/m.onnx"), FetchError, "only https"),
    hostile("url-file-scheme", fetch_url("file:///etc/passwd"), FetchError, "only https"),
    hostile("url-ftp-scheme", fetch_url("ftp://github.com/m.onnx"), FetchError, "only https"),
    hostile("url-host-off-list", fetch_url("https://evil.example/m.onnx"), FetchError, _NOT_ALLOWED),
    hostile("url-userinfo", fetch_url("https://github.com@evil.example/m.onnx"), FetchError, "user information"),
    hostile("url-backslash", fetch_url("https://github.com\\@evil.example/m"), FetchError, "backslashes"),
    hostile("url-fragment-host", fetch_url("https://evil.example/#@github.com/m"), FetchError, "fragment"),
    hostile("url-fragment", fetch_url("https://github.com/m.onnx#../../x"), FetchError, "fragment"),
    hostile("url-suffix-host", fetch_url("https://github.com.evil.example/m"), FetchError, _NOT_ALLOWED),
    hostile("url-homograph", fetch_url("https://g\u0456thub.com/m.onnx"), FetchError, "non-ASCII"),
    hostile("url-crlf", fetch_url("https://github.com/m\r\nHost: evil.example"), FetchError, "control characters"),
    hostile("url-other-port", fetch_url("https://github.com:8443/m.onnx"), FetchError, _NOT_ALLOWED),
    hostile("url-bad-port", fetch_url("https://github.com:99999/m.onnx"), FetchError, "port"),
    hostile("url-encoded-host", fetch_url("https://github%2ecom/m.onnx"), FetchError, _NOT_ALLOWED),
    hostile("url-no-host", fetch_url("https:///m.onnx"), FetchError, "no host"),
    hostile(
        "redirect-off-list",
        fetch_url(_REDIRECT, {_REDIRECT: "https://evil.example/m.onnx"}),
        FetchError,
        _NOT_ALLOWED,
    ),
    hostile("redirect-to-http", fetch_url(_REDIRECT, {_REDIRECT: "http://github.com/m"}), FetchError, "only https"),
    hostile("redirect-to-file", fetch_url(_REDIRECT, {_REDIRECT: "file:///etc/passwd"}), FetchError, "only https"),
    hostile(
        "redirect-userinfo",
        fetch_url(_REDIRECT, {_REDIRECT: "https://github.com@evil.example/"}),
        FetchError,
        "user information",
    ),
    hostile(
        "redirect-chain",
        fetch_url(
            _REDIRECT,
            {f"https://github.com/{n}": f"https://github.com/{n + 1}" for n in range(9)}
            | {_REDIRECT: "https://github.com/0"},
        ),
        FetchError,
        "more than 5 redirects",
    ),
]

# --------------------------------------------------------------------------- registries

_NOT_PLAIN = "not a plain relative URL path"
HTTP_PATH_CASES = [
    hostile(f"http-index-{name}", http_index_path(path), CardError, _NOT_PLAIN)
    for name, path in [
        ("dotdot", "../outside.json"),
        ("encoded-dotdot", "%2e%2e%2fsecret.json"),
        ("double-encoded", "%252e%252e%252fsecret.json"),
        ("backslashes", "cards\\..\\..\\secret.json"),
        ("proc-self-root", "//proc/self/root/etc/passwd"),
        ("absolute", "/etc/passwd"),
        ("fragment", "cards/evil.json#/../../x"),
        ("query", "cards/evil.json?x=../../y"),
        ("drive", "C:/Windows/win.ini"),
        ("dot-segment", "cards/./evil.json"),
        ("other-host", "https://evil.example/evil.json"),
    ]
]


def directory_index(path: Callable[[Path], str]) -> Attack:
    """A registry folder whose index points at ``path`` (the victim card's sha256 is the indexed one)."""

    def attack(root: Path) -> object:
        folder = root / "reg"
        (folder / "cards").mkdir(parents=True)
        victim = outside(root) / "victim.json"
        (folder / "index.json").write_bytes(index_bytes(path(root), victim.read_bytes()))
        return DirectoryRegistry(folder).list()

    return attack


def symlinked_card(root: Path) -> object:
    (root / "reg").mkdir()
    (root / "reg" / "link.json").symlink_to(outside(root) / "victim.json")
    return DirectoryRegistry(root / "reg").list()


def registry_name_escape(root: Path) -> None:
    add_source(root, RegistrySource("../../etc", REGISTRY_URL))


def unsigned_card_changed(root: Path) -> object:
    routes = {INDEX_URL: index_bytes("cards/evil.json"), REGISTRY_URL + "cards/evil.json": CARD_BYTES + b" "}
    return http_registry(RoutedTransport(routes), root).list()


REGISTRY_CASES = [
    hostile("dir-index-dotdot", directory_index(lambda r: "../outside/victim.json"), CardError, r"contains '\.\.'"),
    hostile("dir-index-absolute", directory_index(lambda r: str(outside(r) / "victim.json")), CardError, "absolute"),
    hostile(
        "dir-index-deep-dotdot",
        directory_index(lambda r: "cards/../../outside/victim.json"),
        CardError,
        r"contains '\.\.'",
    ),
    hostile("dir-index-backslash", directory_index(lambda r: "..\\outside\\victim.json"), CardError, "not a plain"),
    hostile("dir-symlinked-card", symlinked_card, CardError, "symlinks are refused"),
    hostile(
        "registry-redirect-off-host",
        http_routes({INDEX_URL: "https://evil.example/index.json"}),
        FetchError,
        _NOT_ALLOWED,
    ),
    hostile("registry-huge-index", http_routes({INDEX_URL: b" " * (17 << 20)}), FetchError, "limit"),
    hostile(
        "registry-huge-card",
        http_routes({INDEX_URL: index_bytes("c.json", b"{}" * (2 << 20)), REGISTRY_URL + "c.json": b"x" * (3 << 20)}),
        FetchError,
        "limit",
    ),
    hostile("registry-card-changed", unsigned_card_changed, IntegrityError, "registry 'lab': card cards/evil.json"),
    hostile("registry-name-escape", registry_name_escape, UsageError, "registry name"),
]

# --------------------------------------------------------------------------- signed registries


def signed_folder(root: Path) -> tuple[Path, str]:
    folder = root / "reg"
    (folder / "cards").mkdir(parents=True)
    (folder / "cards" / "evil.json").write_bytes(CARD_BYTES)
    write_index(folder)
    public = write_private_key(root / "key.pem")
    (folder / "index.json.sig").write_bytes(
        sign_index((folder / "index.json").read_bytes(), load_private_key(root / "key.pem"))
    )
    return folder, public


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 1
    path.write_bytes(bytes(data))


def signed_local(tamper: Callable[[Path, Path], object], key: Callable[[Path, str], str] = lambda r, k: k) -> Attack:
    def attack(root: Path) -> object:
        folder, public = signed_folder(root)
        tamper(folder, root)
        return DirectoryRegistry(folder, keys=(key(root, public),), label="lab").list()

    return attack


def signed_http(file: str) -> Attack:
    """A signed registry served over https with ``file`` changed by one byte after signing."""

    def attack(root: Path) -> object:
        folder, public = signed_folder(root)
        flip(folder / file, len((folder / file).read_bytes()) // 2)
        routes = {REGISTRY_URL + p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}
        return http_registry(RoutedTransport(routes), root, keys=(public,)).list()

    return attack


_BAD_SIGNATURE = "the index signature does not verify"
SIGNED_CASES = [
    hostile("signed-index-one-byte", signed_http("index.json"), IntegrityError, rf"registry 'lab' .*{_BAD_SIGNATURE}"),
    hostile(
        "signed-card-one-byte",
        signed_http("cards/evil.json"),
        IntegrityError,
        r"registry 'lab': card cards/evil\.json refused.*signed index",
    ),
    hostile(
        "signed-local-index-one-byte",
        signed_local(lambda f, r: flip(f / "index.json", 5)),
        IntegrityError,
        _BAD_SIGNATURE,
    ),
    hostile(
        "signed-signature-missing",
        signed_local(lambda f, r: (f / "index.json.sig").unlink()),
        IntegrityError,
        "not signed",
    ),
    hostile(
        "signed-index-removed",
        signed_local(lambda f, r: (f / "index.json").unlink()),
        IntegrityError,
        "a signed registry needs",
    ),
    hostile(
        "signed-untrusted-key",
        signed_local(lambda f, r: None, key=lambda r, k: write_private_key(r / "other.pem")),
        IntegrityError,
        _BAD_SIGNATURE,
    ),
    hostile(
        "signed-garbage-signature",
        signed_local(lambda f, r: (f / "index.json.sig").write_text('{"signatures": "AAAA"}')),
        IntegrityError,
        "signature file",
    ),
]
