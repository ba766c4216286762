"""Job inputs that live on a PACS: a text form field named after a card input whose value is a DICOMweb URL of a
series (``T1=dicomweb://pacs:8042/dicom-web/studies/S/series/X``). The server pulls the series into the job's
upload folder before it queues the job, and only from a PACS its operator listed in ``pacs.json`` (in the
server's deepinfer home): a job can never make the server reach an arbitrary address."""

from __future__ import annotations

import asyncio
from pathlib import Path

from deepinfer.card import ModelCard
from deepinfer.dicomweb import allowed_pacs, fetch_series, is_dicomweb, open_client, parse_location
from deepinfer.jobs import display_name
from deepinfer.server._errors import ApiError
from deepinfer.server._uploads import ReceivedFile, Upload


async def pull_pacs_inputs(card: ModelCard, upload: Upload, home: Path) -> None:
    """Replace each input field holding a DICOMweb URL by the series it names, fetched into the upload folder."""
    names = [member.name for member in card.inputs if member.name in upload.fields]
    for name in names:
        text = upload.fields.pop(name)
        if not is_dicomweb(text):
            raise ApiError(422, f"input {name}: send a file, or the dicomweb:// URL of a series on an allowed PACS")
        location = parse_location(text)
        pacs = allowed_pacs(location, home)  # (a UsageError: 422)
        folder = upload.folder / name
        files = await asyncio.to_thread(fetch_series, location, folder, open_client(location, pacs))
        size = sum(path.stat().st_size for path in files)
        upload.files[name] = ReceivedFile(name, display_name(f"{pacs.name}: series {location.series}", name), size)
