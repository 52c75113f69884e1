"""The runtime's connectors: by default those of mail.yaml (SMTP built on first use, the
configured mailboxes from the one factory), or the ones a caller passes in."""

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from officekit import recording_runtime

from annual_report.errors import ConfigError
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from connectors.mailbox import DropFolder, MaildirMailbox
from connectors.outgoing import RecordingSender, SmtpSender
from demo import city
from office.campaign import open_campaign
from office.delivery import deliver
from office.dispatch import invitation
from office.intake import read_mailbox
from office.runtime import Runtime
from office.settings import load_app_config
from office.status import states

AS_OF = datetime(2022, 1, 4, 9, tzinfo=ZoneInfo("Asia/Shanghai"))


def demo_config(root, **smtp):
    config_dir = city.write_config(
        root / "config",
        report_year=2021,
        smtp_port=2525,
        maildir=root / "office",
        archive=root / "archive",
    )
    mail = yaml.safe_load((config_dir / "mail.yaml").read_text(encoding="utf-8"))
    mail["smtp"] |= smtp
    (config_dir / "mail.yaml").write_text(yaml.safe_dump(mail, allow_unicode=True), "utf-8")
    return load_app_config(config_dir, root / "data")


def test_the_defaults_come_from_mail_yaml(tmp_path, monkeypatch):
    monkeypatch.delenv("NIANBAO_SMTP_PASSWORD", raising=False)
    config = demo_config(tmp_path, user="office")
    rt = Runtime.open(config)
    try:
        # the mailboxes of mail.yaml, by name (one cursor per name)
        assert list(rt.mailboxes) == ["maildir"]
        assert isinstance(rt.mailboxes["maildir"], MaildirMailbox)
        assert rt.mailboxes["maildir"].path == config.mail.maildir
        # what sends nothing needs no password: the SMTP sender is built on first use
        open_campaign(rt)
        assert len(states(rt, AS_OF)) == len(config.registry)
        with pytest.raises(ConfigError, match="NIANBAO_SMTP_PASSWORD"):
            rt.sender  # noqa: B018
    finally:
        rt.close()
    rt = Runtime.open(config, smtp_password="secret")
    try:
        assert isinstance(rt.sender, SmtpSender) and rt.sender is rt.sender
        assert rt.sender.archive is rt.archive  # sent mail is archived
    finally:
        rt.close()


def test_a_sender_and_mailboxes_passed_in_are_used(tmp_path):
    outbox = RecordingSender()
    drop = tmp_path / "drop"
    drop.mkdir()
    box = DropFolder(drop, settle_seconds=0)
    config = demo_config(tmp_path)
    rt = Runtime.open(config, sender=outbox, mailboxes={"drop": box})
    try:
        open_campaign(rt)
        assert rt.sender is outbox and rt.mailboxes == {"drop": box}
        assert deliver(rt, [invitation(rt, "RSJ", AS_OF)]).sent == ["invitation:RSJ"]
        (sent,) = outbox.sent
        template = tmp_path / "RSJ-template.xlsx"
        template.write_bytes(sent.attachments[0].content)
        rng = random.Random("RSJ")
        values = consistent_values(form_for_year(2021), rng)
        fill_template(
            template, drop / "人社局年报.xlsx", values, sample_narrative(2021, values, rng)
        )
        intake = read_mailbox(rt, "drop", AS_OF)
        assert (intake.messages, len(intake.new_submissions)) == (1, 1)
        sub = rt.store.latest_submission("2021", "RSJ")
        assert sub.status == "accepted" and sub.source.startswith("drop:")
        assert rt.store.get_state("2021", "cursor:drop") is not None
    finally:
        rt.close()


def test_the_recording_runtime_is_a_runtime_with_a_recording_sender(tmp_path):
    rt = recording_runtime(tmp_path)
    try:
        assert type(rt) is Runtime and isinstance(rt.sender, RecordingSender)
        deliver(rt, [invitation(rt, "JYJ", AS_OF)])
        assert [m.department for m in rt.sender.sent] == ["JYJ"]
    finally:
        rt.close()


def test_a_flow_run_keeps_what_was_alive_at_its_start_out_of_the_garbage_collector(tmp_path):
    """Prefect's objects do not delay the full collections that free the receipts' documents
    (reference cycles): frozen while a run lasts, nested runs included, given back after."""
    import gc

    from flows.campaign import runtime

    config_dir = city.write_config(
        tmp_path / "config",
        report_year=2021,
        smtp_port=2525,
        maildir=tmp_path / "office",
        archive=tmp_path / "archive",
    )
    assert gc.get_freeze_count() == 0
    with runtime(str(config_dir), str(tmp_path / "data")) as rt:
        assert gc.get_freeze_count() > 0
        assert rt.campaign_id
        with runtime(str(config_dir), str(tmp_path / "data")):  # a campaign's subflow
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the outer run still going
    assert gc.get_freeze_count() == 0
