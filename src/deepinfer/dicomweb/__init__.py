"""DICOMweb: series pulled from a PACS as run inputs, results stored back into their study.

``dicomweb://`` (http) and ``dicomwebs://`` (https) URLs name a series on a PACS (:mod:`._location`);
credentials come from the environment or ``DEEPINFER_HOME/pacs.json``, which is also the server's allow-list
(:mod:`._access`); the transfers go through ``dicomweb-client`` (:mod:`._transfer`, the optional ``dicom``
extra)."""

from __future__ import annotations

from deepinfer.dicomweb._access import (
    PACS_FILE,
    PASSWORD_VARIABLE,
    TOKEN_VARIABLE,
    USER_VARIABLE,
    Pacs,
    allowed_pacs,
    configured_pacs,
    credentials,
)
from deepinfer.dicomweb._location import DicomWebLocation, check_uid, is_dicomweb, parse_location
from deepinfer.dicomweb._transfer import MAX_INSTANCES, fetch_series, open_client, store_files

__all__ = [
    "MAX_INSTANCES",
    "PACS_FILE",
    "PASSWORD_VARIABLE",
    "TOKEN_VARIABLE",
    "USER_VARIABLE",
    "DicomWebLocation",
    "Pacs",
    "allowed_pacs",
    "check_uid",
    "configured_pacs",
    "credentials",
    "fetch_series",
    "is_dicomweb",
    "open_client",
    "parse_location",
    "store_files",
]
