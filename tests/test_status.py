from datetime import date, datetime
from zoneinfo import ZoneInfo

from annual_report.registry import load_registry
from annual_report.store import DepartmentState
from flows.status import changes, progress, snapshot, summary_markdown, table_rows

ZONE = ZoneInfo("Asia/Shanghai")
REGISTRY = load_registry("config")


def state(code, name, st, due=date(2022, 1, 26)):
    return DepartmentState(code, name, "department", st, None, None, due, None, None, 0, 0)


STATES = [
    state("RSJ", "宜春市人力资源和社会保障局", "accepted"),
    state("FGW", "宜春市发展和改革委员会", "sent"),
    state("JYJ", "宜春市教育局", "rejected"),
    state("GAJ", "宜春市公安局", "accepted_with_warnings"),
]


def test_table_rows_are_chinese_and_complete():
    rows = table_rows(STATES, ZONE)
    assert [r["代码"] for r in rows] == ["RSJ", "FGW", "JYJ", "GAJ"]
    assert rows[1]["状态"] == "已发送" and rows[1]["截止日期"] == "2022-01-26"


def test_progress_counts_accepted_and_accepted_with_warnings():
    assert progress(STATES) == 50.0
    assert progress([]) == 0.0


def test_changes_since_the_last_snapshot():
    before = snapshot(STATES) | {"FGW": "not_sent"}
    assert changes(before, STATES) == ["宜春市发展和改革委员会：未发送 → 已发送"]
    assert changes(None, STATES) == []


def test_summary_names_whom_to_call_after_the_deadline():
    text = summary_markdown(
        title="收集情况",
        states=STATES,
        registry=REGISTRY,
        as_of=datetime(2022, 1, 27, 9, tzinfo=ZONE),
        zone=ZONE,
        deadline=date(2022, 1, 26),
        previous=snapshot(STATES),
        extra=["未能发送：invitation:RSJ"],
    )
    assert "应报 4 个单位，已接收 2 个（50%）" in text and "（已过）" in text
    assert "- 无变化" in text
    call = text.split("## 需要电话督促")[1]
    assert "宜春市发展和改革委员会" in call and "张伟 0795-3202101" in call
    assert "宜春市人力资源和社会保障局" not in call
    assert "未能发送：invitation:RSJ" in text
