"""The public names of deepinfer.store (everything else is private)."""

import deepinfer.store


def test_public_names() -> None:
    assert sorted(deepinfer.store.__all__) == [
        "ArtifactStore",
        "ByteStream",
        "CacheEntry",
        "ExtractLimits",
        "HttpResponse",
        "HttpTransport",
        "PipDownloader",
        "ProgressCallback",
        "Source",
        "SubprocessPipDownloader",
        "UrlPolicy",
        "UrllibTransport",
        "check_relative",
        "check_url_path",
        "extract_archive",
        "resolve_inside",
        "sha256_file",
    ]
    for name in deepinfer.store.__all__:
        assert getattr(deepinfer.store, name) is not None
