"""Late is late: how many days after its deadline a report came in, and how that reads.

The deadline is a date in the campaign's time zone; a report received at 23:59 on that day is on
time. Used by the department table and ``nianbao status`` (``campaign.states``), the
escalation mails and the consolidation's record of who reported when.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo


def days_late(received: datetime | date, due: date, zone: tzinfo | None = None) -> int:
    """Whole days ``received`` is after ``due`` (0 when on time). A datetime is read in
    ``zone`` (the campaign's), an aware one converted first."""
    if isinstance(received, datetime):
        if zone is not None and received.tzinfo is not None:
            received = received.astimezone(zone)
        received = received.date()
    return max(0, (received - due).days)


def late_label(days: int) -> str:
    """``逾期报送（3天）``; empty when on time."""
    return f"逾期报送（{days}天）" if days > 0 else ""


def overdue_label(days: int) -> str:
    """For a report still missing (or not yet accepted) after its deadline: ``已逾期3天``."""
    return f"已逾期{days}天" if days > 0 else ""
