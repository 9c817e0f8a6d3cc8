"""The envelope schemas a LIMS exchanges with labgate, by name."""

from __future__ import annotations

SAMPLE_REQUEST = "labgate.lims_sample_request.v1"
CANCELLED = "labgate.sample_cancelled.v1"
REGISTRATION = "labgate.sample_registration.v1"
RESULT = "labgate.result.v1"
