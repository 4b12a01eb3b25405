"""Test-session set-up: no network access at run time (loopback only)."""

from __future__ import annotations

from spect_tutorial import netguard

netguard.install()
