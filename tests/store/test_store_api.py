"""The public names of deepinfer.store (everything else is private)."""

import deepinfer.store


def test_public_names() -> None:
    assert sorted(deepinfer.store.__all__) == [
        "ArtifactStore",
        "ByteStream",
        "HttpResponse",
        "HttpTransport",
        "PipDownloader",
        "ProgressCallback",
        "Source",
        "SubprocessPipDownloader",
        "UrllibTransport",
        "check_relative",
        "resolve_inside",
        "sha256_file",
    ]
    for name in deepinfer.store.__all__:
        assert getattr(deepinfer.store, name) is not None
