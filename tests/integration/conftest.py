"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from herald.fakes.twilio import FakeTwilio
from tests.integration.campaign_setup import SID, TOKEN


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """A fake Twilio for the account that ``campaign_setup.add_twilio`` configures (the tests of another
    provider define a ``fake`` of their own)."""
    async with FakeTwilio(account_sid=SID, auth_token=TOKEN, callbacks=False) as server:
        yield server
