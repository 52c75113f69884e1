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
        parse_registry(data, source="departments.yaml")
    problems = caught.value.problems
    text = "\n".join(problems)
    expected = [
        "extra: unknown field",
        "departments[1] (RSJ).email: 'rsj@@city' is not a valid e-mail address",
        "departments[3] (WTZ).email: wtz@city.example is also the address of departments[2]",
        "departments[3] (WTZ).covers: only a county's report covers other units",
        "departments[4] (ZSS).covers: a unit cannot cover itself",
        "departments[4] (ZSS).covers: unknown code NOPE",
        "departments[4] (ZSS).covers: SZF is a government",
        "departments[6] (ZSLJZ): covered by several counties (ZSS, XQ)",
        "departments[7] (RSJ).code: duplicate of departments[1] (RSJ)",
        "departments[9] (BAD CODE!).code:",
        "departments[10] (ZJJ).kind: Input should be",
        "departments[10] (ZJJ).leader_mail: unknown field",
        "departments[11] (FGW).can_make_rules: only a government",
        "departments[11] (FGW).reports_for_government: only the government's own office",
        "departments[11] (FGW).reports_for_government: already set on departments[0] (SZF)",
        "departments[12] (JYJ).name: required",
        "departments[12] (JYJ).email: required",
    ]
    for item in expected:
        assert item in text, item
    # covers naming RSJ (valid code of an invalid entry) is not reported as unknown
    assert "unknown code RSJ" not in text
    assert "the department registry has" in str(caught.value)
    assert str(caught.value).count("\n  - ") == len(problems)
    assert caught.value.context["file"] == "departments.yaml"
    # problems come in file order
    indexes = [int(p.split("]")[0].split("[")[1]) for p in problems if p.startswith("departments[")]
    assert indexes == sorted(indexes)


def test_top_level_problems(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_registry({"departments": []})
    assert caught.value.problems == [
        "city: required (the city's name, e.g. 宜春市)",
        "departments: required, a non-empty list",
    ]
    with pytest.raises(ConfigError, match="mapping"):
        parse_registry(["not", "a", "mapping"])
    with pytest.raises(ConfigError, match="not found"):
        load_registry(tmp_path)
    (tmp_path / "departments.yaml").write_text("city: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_registry(tmp_path)


def test_models_check_themselves_when_built_in_code():
    with pytest.raises(ValidationError, match="only a county"):
        Department(code="RSJ", name="人社局", kind="department", email="a@b.cn", covers=("X",))
    a = Department(code="RSJ", name="人社局", kind="department", email="a@b.cn")
    b = Department(code="rsj", name="人社局2", kind="department", email="c@b.cn")
    with pytest.raises(ValidationError, match="duplicate"):
        Registry(city="宜春市", departments=(a, b))
