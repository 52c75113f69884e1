"""Three levels of offices over real mail: counties → a city → a province.

Three counties of 8 units each consolidate their reports; each county's approved workbook
(``…（定稿）.xlsx``) goes by mail, in the thread of the city's invitation, from the county
office's registered address, to the city, which also has 8 departments of its own; the city's
approved workbook goes to the province, with the approved reports of two more cities. Every
office is a configuration and data directory of its own, runs the real Prefect flows
(dispatch, collect, consolidate) against the session's aiosmtpd and its own dovecot folder, and
keeps its own SQLite store.

Checked: every figure of every level is the exact sum of the leaf units' reports; a county
unit that also reports to the city directly is detected, told, shown to the coordinator and
counted once; the province's figures drill down to the leaf units through the offices they
came through; re-running a level whose approved report did not change changes nothing above
it (a duplicate answer, no new version), and a changed one flows up to the province.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from flowkit import IMAP_PASSWORD_ENV, SMTP_PASSWORD_ENV, XLSX, ZONE, Outbox, Sent

from annual_report.consolidation import consolidate_campaign
from annual_report.form.model import form_for_year
from annual_report.samples import consistent_values, fill_template, sample_narrative
from annual_report.store import open_store
from annual_report.workbook.reader import read_workbook
from office.consolidation import summary_markdown

YEAR = 2021
FORM = form_for_year(YEAR)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:prefect")


@dataclass
class Place:
    """An office: its code and kind in its superior's registry, its own units."""

    code: str
    name: str  # the place: 袁州区
    domain: str
    level: str  # county | city | province
    units: list[tuple[str, str, str]] = field(default_factory=list)  # (code, name, kind)
    offices: list[Place] = field(default_factory=list)  # the offices one level down
    direct: list[tuple[str, str, str, str]] = field(default_factory=list)  # + their address

    @property
    def address(self) -> str:
        return f"zwgk@{self.domain}"

    def unit_address(self, code: str) -> str:
        return f"{code.lower()}@{self.domain}"


def county(code: str, name: str, domain: str) -> Place:
    short = name[:-1]  # 袁州区 → 袁州
    units = [
        ("ZF", f"{name}人民政府办公室", "government"),
        ("JYJ", f"{name}教育局", "department"),
        ("GAJ", f"{name}公安局", "department"),
        ("CZJ", f"{name}财政局", "department"),
        ("MZJ", f"{name}民政局", "department"),
        ("RSJ", f"{name}人力资源和社会保障局", "department"),
        ("WJW", f"{name}卫生健康委员会", "department"),
        ("XZ", f"{short}镇人民政府", "township"),
    ]
    return Place(code, name, domain, "county", units)


COUNTIES = [
    county("YZQ", "袁州区", "yuanzhou.example"),
    county("FCS", "丰城市", "fengcheng.example"),
    county("JAX", "靖安县", "jingan.example"),
]
CITY = Place(
    "YC",
    "宜春市",
    "yichun.example",
    "city",
    [
        ("SZF", "宜春市人民政府办公室", "government"),
        ("FGW", "宜春市发展和改革委员会", "department"),
        ("JYJ", "宜春市教育局", "department"),
        ("GAJ", "宜春市公安局", "department"),
        ("CZJ", "宜春市财政局", "department"),
        ("MZJ", "宜春市民政局", "department"),
        ("RSJ", "宜春市人力资源和社会保障局", "department"),
        ("SJJ", "宜春市审计局", "department"),
    ],
    COUNTIES,
    # 袁州区教育局 also reports to the city directly: it is inside 袁州区's report already
    [("YZQJYJ", "袁州区教育局", "department", "jyj@yuanzhou.example")],
)
OTHER_CITIES = [
    Place(
        "NC",
        "南昌市",
        "nanchang.example",
        "city",
        [
            ("SZF", "南昌市人民政府办公室", "government"),
            ("JYJ", "南昌市教育局", "department"),
            ("GAJ", "南昌市公安局", "department"),
        ],
    ),
    Place(
        "JJ",
        "九江市",
        "jiujiang.example",
        "city",
        [
            ("SZF", "九江市人民政府办公室", "government"),
            ("CZJ", "九江市财政局", "department"),
            ("MZJ", "九江市民政局", "department"),
        ],
    ),
]
PROVINCE = Place("JX", "江西省", "jiangxi.example", "province", [], [CITY, *OTHER_CITIES])

# The calendar of each level: templates out on the 4th; the counties consolidate on the 18th,
# the cities on the 25th, the province on 1 February.
CALENDAR = {
    "county": (date(2022, 1, 12), date(2022, 1, 18)),
    "city": (date(2022, 1, 20), date(2022, 1, 25)),
    "province": (date(2022, 1, 28), date(2022, 2, 1)),
}


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=ZONE)


# -- an office: configuration, data, mailbox --------------------------------------------------


@dataclass
class Office:
    place: Place
    root: Path
    folder: str

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def database(self) -> Path:
        return self.data_dir / "nianbao.db"

    @property
    def final(self) -> Path:
        name = f"{self.place.name}{YEAR}年政府信息公开工作年度报告（定稿）.xlsx"
        return self.data_dir / "out" / str(YEAR) / name


def registry_data(place: Place) -> dict[str, Any]:
    departments: list[dict[str, Any]] = []
    for code, name, kind in place.units:
        entry: dict[str, Any] = {
            "code": code,
            "name": name,
            "kind": kind,
            "email": place.unit_address(code),
        }
        if kind == "government":
            entry["reports_for_government"] = True
            entry["can_make_rules"] = place.level in ("city", "province")
        departments.append(entry)
    for office in place.offices:
        departments.append(
            {
                "code": office.code,
                "name": f"{office.name}人民政府",
                "kind": office.level,
                "level": office.level,
                "email": office.address,
            }
        )
    for code, name, kind, address in place.direct:
        departments.append({"code": code, "name": name, "kind": kind, "email": address})
    data: dict[str, Any] = {"city": place.name, "departments": departments}
    if place.level != "province":
        data["office"] = {"code": place.code, "level": place.level}
    return data


def write_office(place: Place, root: Path, smtp: Any, dovecot: Any) -> Office:
    folder = f"levels-{place.code.lower()}-{os.getpid()}"
    dovecot.create_folder(folder)
    office = Office(place, root, folder)
    deadline, consolidate_on = CALENDAR[place.level]
    files = {
        "departments.yaml": registry_data(place),
        "campaign.yaml": {
            "id": str(YEAR),
            "report_year": YEAR,
            "start": "2022-01-04",
            "deadline": deadline.isoformat(),
            "consolidate_on": consolidate_on.isoformat(),
            "closes_on": "2022-03-31",
            "timezone": "Asia/Shanghai",
            "send_at": "09:00",
        },
        "mail.yaml": {
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "security": "none",
                "user": smtp.user,
                "password_env": SMTP_PASSWORD_ENV,
                "sender": place.address,
                "sender_name": f"{place.name}人民政府办公室",
                "timeout": 10,
                "rate_per_minute": None,
                "retries": 1,
                "backoff_seconds": 0.05,
            },
            "imap": {
                "host": dovecot.host,
                "port": dovecot.port,
                "security": "none",
                "user": dovecot.user,
                "password_env": IMAP_PASSWORD_ENV,
                "folder": folder,
                "processed_flag": "$NianbaoProcessed",
                "timeout": 10,
            },
            "coordinator": f"coordinator@{place.domain}",
            "archive_dir": str(root / "data" / "mail"),
        },
    }
    office.config_dir.mkdir(parents=True)
    for name, data in files.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
        (office.config_dir / name).write_text(text, encoding="utf-8")
    return office


# -- the leaf units' reports -------------------------------------------------------------------


def leaf_values(address: str, version: int = 1) -> dict[str, Decimal]:
    """A unit's figures (by its address: the same unit has the same report at every level)."""
    return consistent_values(FORM, random.Random(f"{address}-{version}"), busy=0.6)


def filled(template: bytes, values: dict[str, Decimal]) -> bytes:
    narrative = sample_narrative(YEAR, values, random.Random(1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.xlsx"
        path.write_bytes(template)
        return fill_template(path, Path(tmp) / "filled.xlsx", values, narrative).read_bytes()


_ids = iter(range(1, 10**6))


def reply_mail(sender: str, answering: Sent, when: datetime, name: str, book: bytes) -> bytes:
    """A reply in the thread of ``answering``, from ``sender``, with ``book`` attached."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = answering.parsed.sender or ""
    msg["Subject"] = f"回复：{answering.subject}"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<levels.{next(_ids)}.{when:%Y%m%d%H%M}@{sender.split('@')[1]}>"
    assert answering.message_id
    msg["In-Reply-To"] = answering.message_id
    msg["References"] = answering.message_id
    msg.set_content("您好，我单位年度报告见附件，请审核。")
    msg.add_attachment(book, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg.as_bytes(policy=SMTP)


@dataclass
class Levels:
    offices: dict[str, Office]
    outbox: Outbox
    dovecot: Any
    leaves: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # address → values
    states: dict[str, Any] = field(default_factory=dict)

    def run(self, code: str, flow_name: str, when: datetime, **kwargs: Any) -> Any:
        from flows.campaign import FLOWS

        office = self.offices[code]
        state = FLOWS[flow_name](
            str(office.config_dir),
            when,
            data_dir=str(office.data_dir),
            return_state=True,
            **kwargs,
        )
        label = f"{code} {flow_name} {when:%m-%d}"
        self.outbox.take(label, when.date())
        self.states[label] = state
        assert state.is_completed(), (label, state.message)
        return state

    def invitation(self, to: str, sender: str) -> Sent:
        mails = [
            m
            for m in self.outbox.to_address(to)
            if m.kind == "invitation" and m.parsed.sender == sender
        ]
        assert len(mails) == 1, (to, sender, mails)
        return mails[0]

    def unit_replies(self, place: Place, when: datetime, version: int = 1) -> None:
        """Every unit of ``place`` fills its template and replies (leaf values recorded)."""
        for code, name, _kind in place.units:
            self.unit_reply(place, place.unit_address(code), name, when, version)

    def unit_reply(
        self, place: Place, address: str, name: str, when: datetime, version: int = 1
    ) -> None:
        invitation = self.invitation(address, place.address)
        values = leaf_values(address, version)
        book = filled(invitation.parsed.workbooks[0].content, values)
        raw = reply_mail(address, invitation, when, f"{name}{YEAR}年年度报告.xlsx", book)
        self.dovecot.deliver(raw, self.offices[place.code].folder)
        self.leaves[address] = values

    def send_up(self, place: Place, superior: Place, when: datetime) -> None:
        """The office's coordinator replies to its superior's invitation with the approved
        workbook, from the office's registered address."""
        invitation = self.invitation(place.address, superior.address)
        final = self.offices[place.code].final
        raw = reply_mail(place.address, invitation, when, final.name, final.read_bytes())
        self.dovecot.deliver(raw, self.offices[superior.code].folder)


def leaf_addresses(place: Place) -> list[str]:
    """Every leaf unit under ``place`` (its own units and its offices', each once)."""
    own = [place.unit_address(code) for code, _n, _k in place.units]
    return own + [a for office in place.offices for a in leaf_addresses(office)]


def expected(levels: Levels, place: Place) -> dict[str, Decimal]:
    return {
        code: sum((levels.leaves[a][code] for a in leaf_addresses(place)), Decimal(0))
        for code in FORM.cells
    }


def figures(path: Path) -> dict[str, Decimal]:
    report = read_workbook(path, year=YEAR)
    return {code: report.value(code) or Decimal(0) for code in FORM.cells}


def submission_rows(office: Office) -> list[tuple[str, int, str]]:
    with open_store(office.database) as store:
        return [
            (s.department or "", s.version or 0, s.status) for s in store.submissions(str(YEAR))
        ]


# -- the test ----------------------------------------------------------------------------------


@pytest.fixture
def levels(prefect_harness, smtp_server, dovecot, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SMTP_PASSWORD_ENV, smtp_server.password)
        mp.setenv(IMAP_PASSWORD_ENV, dovecot.password)
        smtp_server.clear()
        places = [PROVINCE, CITY, *OTHER_CITIES, *COUNTIES]
        offices = {
            p.code: write_office(p, tmp_path / p.code.lower(), smtp_server, dovecot) for p in places
        }
        yield Levels(offices, Outbox(smtp_server), dovecot)
        smtp_server.clear()


def test_three_levels_over_real_mail(levels: Levels):
    start = date(2022, 1, 4)
    for code in levels.offices:
        levels.run(code, "dispatch", at(start))

    # 靖安县 keeps the template the city sent it: its approved report then carries the city's
    # token as well as coming from its registered address in the city's thread
    jax = levels.offices["JAX"]
    invitation = levels.invitation(COUNTIES[2].address, CITY.address)
    (jax.config_dir / "上级模板.xlsx").write_bytes(invitation.parsed.workbooks[0].content)
    registry = yaml.safe_load((jax.config_dir / "departments.yaml").read_text(encoding="utf-8"))
    registry["office"]["template"] = "上级模板.xlsx"
    text = yaml.safe_dump(registry, allow_unicode=True, sort_keys=False, width=100)
    (jax.config_dir / "departments.yaml").write_text(text, encoding="utf-8")

    # -- the counties: 8 units each, consolidated on the 18th --------------------------------
    for place in COUNTIES:
        levels.unit_replies(place, at(date(2022, 1, 10), 15))
        levels.run(place.code, "collect", at(date(2022, 1, 11)))
        levels.run(place.code, "consolidate", at(date(2022, 1, 18)), approval="auto")
        assert figures(levels.offices[place.code].final) == expected(levels, place)
    carried = read_workbook(jax.final, year=YEAR)
    with open_store(levels.offices["YC"].database) as store:
        assert store.department_for_token(str(YEAR), carried.token) == "JAX"
    assert read_workbook(levels.offices["YZQ"].final, year=YEAR).token is None

    # -- the city: its departments, the counties' approved reports, and a county unit that
    # reports to the city directly as well --------------------------------------------------
    levels.unit_replies(CITY, at(date(2022, 1, 12), 15))
    for place in COUNTIES:
        levels.send_up(place, CITY, at(date(2022, 1, 19), 10))
    code, name, _kind, address = CITY.direct[0]
    twice = leaf_values(address)
    levels.unit_reply(CITY, address, name, at(date(2022, 1, 19), 11))
    assert levels.leaves[address] == twice  # the same unit, the same report as in its county
    levels.run("YC", "collect", at(date(2022, 1, 20)))
    with open_store(levels.offices["YC"].database) as store:
        accepted = {s.department: s for s in store.accepted_submissions(str(YEAR))}
        for place in COUNTIES:
            office = store.office_record(accepted[place.code].id)
            assert office["level"] == "county" and office["leaf_count"] == 8
        direct = accepted["YZQJYJ"]
        assert direct.status == "accepted_with_warnings"
        assert [i.rule for i in store.issues(direct.id)] == ["L5"]
    answer = [m for m in levels.outbox.to_address(address) if m.parsed.sender == CITY.address]
    assert answer[-1].kind == "accepted_with_warnings"
    assert "已包含在袁州区人民政府报送的汇总报告中" in answer[-1].text
    for place in COUNTIES:  # each county office got its receipt
        got = [m for m in levels.outbox.to_address(place.address) if m.kind == "receipt"]
        assert len(got) == 1, place.code

    levels.run("YC", "consolidate", at(date(2022, 1, 25)), approval="auto")
    city_final = levels.offices["YC"].final
    assert figures(city_final) == expected(levels, CITY)  # 袁州区教育局 counted once
    with open_store(levels.offices["YC"].database) as store:
        city = consolidate_campaign(store, str(YEAR))
    assert [i.rule for i in city.issues] == ["H6"]
    assert city.issues[0].message == (
        "袁州区教育局既单独报送，又包含在袁州区人民政府的汇总报告中；"
        "为避免重复计算，只计入袁州区人民政府汇总报告中的数据"
    )
    outcome = next(u for u in city.units if u.code == "YZQJYJ")
    assert (outcome.included, outcome.status, outcome.covered_by) == (False, "covered", "YZQ")
    assert len(city.leaves) == 8 + 3 * 8
    summary = summary_markdown(city, city_final)  # what the coordinator approves
    assert "- 袁州区人民政府（县级，含基层单位8个）" in summary
    assert "汇总共含基层单位32个" in summary and "H6 袁州区教育局既单独报送" in summary

    # -- the province: three cities' approved reports --------------------------------------
    for place in OTHER_CITIES:
        levels.unit_replies(place, at(date(2022, 1, 12), 15))
        levels.run(place.code, "collect", at(date(2022, 1, 20)))
        levels.run(place.code, "consolidate", at(date(2022, 1, 25)), approval="auto")
    for place in PROVINCE.offices:
        levels.send_up(place, PROVINCE, at(date(2022, 1, 26), 10))
    levels.run("JX", "collect", at(date(2022, 1, 28)))
    levels.run("JX", "consolidate", at(date(2022, 2, 1)), approval="auto")
    province_final = levels.offices["JX"].final
    want = expected(levels, PROVINCE)
    assert figures(province_final) == want
    assert want["requests.new_received.total"] > 0 and want[FEE] > 0

    # the province's figures drill down to the leaf units, through the offices
    with open_store(levels.offices["JX"].database) as store:
        province = consolidate_campaign(store, str(YEAR))
    assert province.issues == []
    assert len(province.leaves) == 8 + 3 * 8 + 3 + 3
    code = "requests.new_received.total"
    drill = province.drill(code)
    assert sum(v for _leaf, v in drill) == province.values[code]
    paths = {leaf.name: leaf.path_names for leaf in province.leaves}
    assert paths["袁州区教育局"] == ("宜春市人民政府", "袁州区人民政府")
    assert paths["宜春市审计局"] == ("宜春市人民政府",)
    assert paths["九江市财政局"] == ("九江市人民政府",)
    drilled = cli("report", "--drill", code, office=levels.offices["JX"])
    assert drilled.exit_code == 0, drilled.output
    lines = drilled.output.splitlines()
    assert lines[:2] == [f"{FORM.cell(code).label}：{province.values[code]}", f"栏目代码：{code}"]
    assert lines[2] == "经由：市级汇总报告3份 → 县级汇总报告3份 → 本级"
    top, _value = drill[0]
    levels_of = ("市级", "县级")[: len(top.path_names)]
    through = " › ".join(f"{n}（{lv}）" for n, lv in zip(top.path_names, levels_of, strict=True))
    at_top = next(i for i, line in enumerate(lines) if line.endswith(f"  {top.name}"))
    assert lines[at_top + 1].strip() == f"经 {through}", lines
    assert lines[-1] == f"合计 {province.values[code]}，与汇总数一致"
    as_json = json.loads(
        cli("report", "--drill", code, "--json", office=levels.offices["JX"]).output
    )
    assert sum(u["value"] for u in as_json["units"]) == as_json["value"] == province.values[code]
    assert {tuple(t["level"] for t in u["through"]) for u in as_json["units"]} <= {
        ("city",),
        ("city", "county"),
    }
    # the draft's provenance workbook names every leaf unit and the offices it came through
    docx = levels.offices["JX"].root / "江西省报告.docx"
    drafted = cli("report", "--docx", str(docx), office=levels.offices["JX"])
    assert drafted.exit_code == 0, drafted.output
    sources = openpyxl.load_workbook(docx.with_name("江西省报告（数据来源）.xlsx"))["基层单位来源"]
    rows = [[c.value for c in row] for row in sources.iter_rows(min_row=3)]
    assert len(rows) == len(province.leaves)
    county_unit = next(r for r in rows if r[1] == "袁州区教育局")
    assert county_unit[3] == "宜春市人民政府 › 袁州区人民政府"
    for leaf in province.leaves:  # every leaf's figures are the unit's own report
        address = next(a for a in levels.leaves if _unit_of(a, leaf))
        assert {c: v for c, v in leaf.values.items() if v is not None} == levels.leaves[address]

    # -- re-running a level whose approved report did not change: nothing changes above ----
    before_city = submission_rows(levels.offices["YC"])
    before_province = submission_rows(levels.offices["JX"])
    levels.run("YZQ", "consolidate", at(date(2022, 2, 2)), approval="auto")
    levels.send_up(COUNTIES[0], CITY, at(date(2022, 2, 2), 14))
    levels.run("YC", "collect", at(date(2022, 2, 3)))
    assert submission_rows(levels.offices["YC"]) == before_city
    again = [m for m in levels.outbox.to_address(COUNTIES[0].address) if m.kind == "duplicate"]
    assert len(again) == 1 and "第1版" in again[0].text
    assert "内容相同（文件不同，数据一致）" in again[0].text  # written again: new bytes
    levels.run("YC", "consolidate", at(date(2022, 2, 3)), approval="auto")
    levels.send_up(CITY, PROVINCE, at(date(2022, 2, 3), 14))
    levels.run("JX", "collect", at(date(2022, 2, 4)))
    assert submission_rows(levels.offices["JX"]) == before_province
    assert figures(levels.offices["JX"].final) == want

    # -- a county unit corrects its report: the change flows up to the province ------------
    place = COUNTIES[0]
    code, name, _kind = place.units[1]
    corrected = place.unit_address(code)
    levels.unit_reply(place, corrected, name, at(date(2022, 2, 4), 15), version=2)
    levels.run(place.code, "collect", at(date(2022, 2, 5)))
    levels.run(place.code, "consolidate", at(date(2022, 2, 5)), approval="auto")
    levels.send_up(place, CITY, at(date(2022, 2, 5), 14))
    levels.run("YC", "collect", at(date(2022, 2, 6)))
    levels.run("YC", "consolidate", at(date(2022, 2, 6)), approval="auto")
    levels.send_up(CITY, PROVINCE, at(date(2022, 2, 6), 14))
    levels.run("JX", "collect", at(date(2022, 2, 7)))
    levels.run("JX", "consolidate", at(date(2022, 2, 7)), approval="auto")
    assert ("YC", 2, "accepted") in submission_rows(levels.offices["JX"])
    assert figures(levels.offices["JX"].final) == expected(levels, PROVINCE) != want


FEE = "proactive.admin_fees.amount_wan_yuan"


def cli(*args: str, office: Office) -> Any:
    from typer.testing import CliRunner

    from flows.cli import app

    common = ["--config", str(office.config_dir), "--data", str(office.data_dir)]
    return CliRunner().invoke(app, [*args, *common], catch_exceptions=False)


def _unit_of(address: str, leaf: Any) -> bool:
    """Whether ``address`` is the leaf's unit (its office's domain and its code)."""
    local, domain = address.split("@")
    places = [CITY, *OTHER_CITIES, *COUNTIES]
    office = next(p for p in places if p.domain == domain)
    return local == leaf.code.lower() and leaf.path[-1:] == (office.code,)
