"""The department registry: lookups, and every problem of a bad registry reported at once."""

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from annual_report.campaign.registry import Department, Registry, load_registry, parse_registry
from annual_report.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def entry(code, kind="department", **extra):
    return {
        "code": code,
        "name": f"{code}单位",
        "kind": kind,
        "email": f"{code.lower()}@city.example",
        "contact": {"name": "张三", "phone": "0795-1234567"},
        **extra,
    }


def good():
    return {
        "city": "宜春市",
        "departments": [
            entry("SZF", "government", can_make_rules=True, reports_for_government=True),
            entry("RSJ"),
            entry("ZRZYJ", leader_email="leader@city.example"),
            entry("WTZ", "township"),
            entry("ZSS", "county", covers=["ZSRSJ", "ZSLJZ"]),
            entry("ZSRSJ"),
            entry("ZSLJZ", "township"),
        ],
    }


def test_the_example_registry_in_config_is_valid():
    registry = load_registry(ROOT / "config")
    assert 10 <= len(registry) <= 20
    assert registry.government is not None and registry.government.can_make_rules
    kinds = {d.kind for d in registry}
    assert kinds == {"government", "department", "township", "county"}
    county = next(d for d in registry if d.kind == "county")
    assert county.covers and all(registry.covered_by(c) == county for c in county.covers)


def test_lookups_by_code_and_email():
    registry = parse_registry(good())
    assert registry["rsj"].code == "RSJ"
    assert "Rsj" in registry and "NOPE" not in registry
    assert registry.get("nope") is None
    assert registry.by_email("RSJ@City.Example").code == "RSJ"
    assert registry.by_email("人社局 <rsj@city.example>").code == "RSJ"
    assert registry.by_email("other@city.example") is None
    assert registry.covered_by("ZSLJZ").code == "ZSS"
    assert registry.covered_by("RSJ") is None
    assert registry.government.code == "SZF"
    assert registry.codes == ("SZF", "RSJ", "ZRZYJ", "WTZ", "ZSS", "ZSRSJ", "ZSLJZ")


def test_units_given_the_same_fields_share_one_set_of_their_names():
    """pydantic keeps a set of the fields given per model (~0.7 KB): in a registry of
    thousands of units one set per distinct combination, what each unit was given unchanged."""
    data = {
        "city": "宜春市",
        "departments": [
            {"code": f"D{i}", "name": f"单位{i}", "kind": "department", "email": f"d{i}@x.cn"}
            for i in range(3)
        ]
        + [
            {
                "code": "RSJ",
                "name": "人社局",
                "kind": "department",
                "email": "rsj@x.cn",
                "contact": {"name": "王敏", "phone": "0795-1"},
            }
        ],
    }
    registry = parse_registry(data)
    d0, d1, d2, rsj = registry.departments
    assert d0.model_fields_set is d1.model_fields_set is d2.model_fields_set
    assert d0.model_fields_set == {"code", "name", "kind", "email"}
    assert rsj.model_fields_set == {"code", "name", "kind", "email", "contact"}
    assert rsj.contact.model_fields_set == {"name", "phone"}
    assert d0.model_dump(exclude_unset=True) == data["departments"][0]
    with pytest.raises(ValidationError):
        d0.name = "改名"  # frozen: the shared set never grows
    assert d1.model_fields_set == {"code", "name", "kind", "email"}


def test_codes_are_normalised_and_phone_numbers_may_be_numbers(tmp_path):
    data = good()
    data["departments"][1]["code"] = "rsj"
    data["departments"][1]["contact"]["phone"] = 13912345678
    data["departments"][4]["covers"] = ["zsrsj", "ZSLJZ"]
    path = tmp_path / "departments.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    registry = load_registry(tmp_path)
    assert registry["RSJ"].contact.phone == "13912345678"
    assert registry["ZSS"].covers == ("ZSRSJ", "ZSLJZ")


def test_every_problem_is_reported_at_once():
    data = good()
    deps = data["departments"]
    deps[1]["email"] = "rsj@@city"  # bad syntax
    deps.append(entry("RSJ"))  # duplicate code (of an entry that is itself invalid)
    deps[-1]["email"] = "dup@city.example"
    deps[2]["email"] = "WTZ@city.example"  # duplicate e-mail, case-insensitive
    deps[3]["covers"] = ["RSJ"]  # a township covering
    deps[4]["covers"] = ["ZSRSJ", "ZSS", "NOPE", "SZF"]  # itself, unknown, a government
    deps.append(entry("XQ", "county", covers=["ZSLJZ"]))  # ZSLJZ covered twice (ZSS too)
    deps[4]["covers"].append("ZSLJZ")
    deps.append(entry("BAD CODE!"))
    deps.append({**entry("ZJJ"), "kind": "bureau", "leader_mail": "x@city.example"})
    deps.append({**entry("FGW"), "can_make_rules": True, "reports_for_government": True})
    deps.append({"code": "JYJ", "kind": "department"})  # name and email missing
    data["extra"] = 1

    with pytest.raises(ConfigError) as caught:
        parse_registry(data, source="config/departments.yaml")
    found = [(p.entry, p.field, p.code) for p in caught.value.details]
    assert found == [
        (None, "extra", "extra_forbidden"),
        ("第2项（RSJ）", "email", "email"),
        ("第4项（WTZ）", "covers", "kind-field"),  # a township covering
        ("第4项（WTZ）", "email", "duplicate"),
        ("第5项（ZSS）", "covers", "covers-itself"),
        ("第5项（ZSS）", "covers", "unknown-code"),  # NOPE
        ("第5项（ZSS）", "covers", "covers-kind"),  # SZF
        ("第7项（ZSLJZ）", None, "covered-twice"),
        ("第8项（RSJ）", "code", "duplicate"),
        ("第10项（BAD CODE!）", "code", "code"),
        ("第10项（BAD CODE!）", "email", "email"),
        ("第11项（ZJJ）", "kind", "literal_error"),
        ("第11项（ZJJ）", "leader_mail", "extra_forbidden"),
        ("第12项（FGW）", "can_make_rules", "kind-field"),
        ("第12项（FGW）", "reports_for_government", "kind-field"),
        ("第12项（FGW）", "reports_for_government", "duplicate"),
        ("第13项（JYJ）", "name", "missing"),
        ("第13项（JYJ）", "email", "missing"),
    ]
    # the coordinator reads each as one Chinese line naming the file, the entry and the field
    expected = [
        "departments.yaml extra：未知的键",
        "departments.yaml 第2项（RSJ）email：不是有效的邮件地址（rsj@@city）",
        "departments.yaml 第4项（WTZ）email：wtz@city.example 也是第3项（ZRZYJ）的地址",
        "departments.yaml 第4项（WTZ）covers：只有县（市、区）的报告包含其他单位",
        "departments.yaml 第5项（ZSS）covers：不能包含本单位自己",
        "departments.yaml 第5项（ZSS）covers：名录中没有代码为 NOPE 的单位",
        "departments.yaml 第5项（ZSS）covers：SZF 是本级政府",
        "departments.yaml 第7项（ZSLJZ）：同时被多个县的报告包含（ZSS、XQ）",
        "departments.yaml 第8项（RSJ）code：与第2项（RSJ）重复",
        "departments.yaml 第11项（ZJJ）kind：应为以下之一：'department'、'township'",
        "departments.yaml 第12项（FGW）reports_for_government：第1项（SZF）已经设置",
        "departments.yaml 第13项（JYJ）name：缺少此项（必填）",
    ]
    text = "\n".join(caught.value.problems)
    for item in expected:
        assert item in text, item
    # covers naming RSJ (valid code of an invalid entry) is not reported as unknown
    assert "NOPE" in text and "RSJ 的单位" not in text
    assert str(caught.value).startswith("departments.yaml: 18 problem(s)")
    assert str(caught.value).count("\n  - ") == len(caught.value.problems)
    assert caught.value.context["file"] == "config/departments.yaml"
    assert all(p.file == "departments.yaml" for p in caught.value.details)


def test_top_level_problems(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_registry({"departments": []})
    assert caught.value.problems == [
        "departments.yaml city：缺少此项（必填）",
        "departments.yaml departments：至少要有1项",
    ]
    with pytest.raises(ConfigError, match="映射"):
        parse_registry(["not", "a", "mapping"])
    with pytest.raises(ConfigError) as caught:
        load_registry(tmp_path)
    assert caught.value.problems == ["departments.yaml：找不到此文件"]
    assert caught.value.details[0].code == "not-found"
    (tmp_path / "departments.yaml").write_text("city: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line 2") as caught:
        load_registry(tmp_path)
    assert caught.value.problems[0].startswith("departments.yaml：第2行不是有效的 YAML")


def test_models_check_themselves_when_built_in_code():
    with pytest.raises(ValidationError, match="只有县"):
        Department(code="RSJ", name="人社局", kind="department", email="a@b.cn", covers=("X",))
    a = Department(code="RSJ", name="人社局", kind="department", email="a@b.cn")
    b = Department(code="rsj", name="人社局2", kind="department", email="c@b.cn")
    with pytest.raises(ValidationError, match="与第1项（RSJ）重复"):
        Registry(city="宜春市", departments=(a, b))
