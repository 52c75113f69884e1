from annual_report.store.sqlite import Store


def test_messages_are_recorded_once_and_state_round_trips(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.ensure_campaign("2021", 2021)
        message, new = store.record_message(
            "2021", "imap:7:1", sha256="ab" * 32, outcome="no_workbook", sender="a@b.example"
        )
        assert new and message.outcome == "no_workbook"
        again, new = store.record_message("2021", "imap:7:1", sha256="cd" * 32, outcome="x")
        assert not new and again.sha256 == "ab" * 32
        assert [m.key for m in store.messages("2021", outcome="no_workbook")] == ["imap:7:1"]
        assert store.get_state("2021", "cursor:imap") is None
        store.set_state("2021", "cursor:imap", {"uidvalidity": 7, "last_uid": 1})
        store.set_state("2021", "cursor:imap", {"uidvalidity": 7, "last_uid": 2})
        assert store.get_state("2021", "cursor:imap") == {"uidvalidity": 7, "last_uid": 2}
    # the migration applies to an existing database on reopening
    with Store(tmp_path / "s.db") as store:
        assert "0003_messages_and_state" in store.applied_migrations()
