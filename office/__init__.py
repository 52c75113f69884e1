"""The use cases of the city office, without Prefect: what the flows and the CLI do, one unit
of work at a time. The Prefect tasks (``flows/tasks.py``) are thin wrappers of these functions.

- ``runtime``: the configuration, store, archive, texts, and the injected sender and mailboxes
- ``campaign``: the campaign opened from the plan; the moment of a run; departments' states
- ``compose``: a mail of a kind rendered from the campaign's texts
- ``delivery``: outgoing mail exactly once; the coordinator's word on a mail held back
- ``dispatch``: each department's personalised template
- ``intake``: a mailbox read, each message archived and recorded; files assigned by hand
- ``answers``: receipts, errors, warnings, unreadable files; ``notices``: held files,
  duplicates, refused messages
- ``ladder``: reminders and escalations
- ``attention``: mail held back, refused or failed, told to the coordinator
- ``reviews``: the coordinator's decisions (warnings sent back, the approval) as data
- ``consolidation``: the city-level workbook, made final on approval
- ``status``, ``progress``, ``outcome``: what the coordinator reads (table, summary, chart,
  how a run ended)
- ``settings``: the whole configuration directory, validated once
"""
