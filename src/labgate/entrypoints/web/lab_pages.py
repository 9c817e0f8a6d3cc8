"""The lab-data area's route modules (stability and OOT, EM, raw materials), for app.py."""

from __future__ import annotations

from labgate.entrypoints.web import em, materials, stability

LAB_PAGES = (stability, em, materials)
