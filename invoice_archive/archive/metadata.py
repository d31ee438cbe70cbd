"""XML renderings of an archive item's parts (pure: plain dicts in, UTF-8 XML out).

Element names follow DA/T 95 for vouchers (FISCAL_YEAR, VOUCHER_NO, DR_AMT ...)
and DA/T 94 Appendix A for the item's metadata (聚合层次, 档号, 题名 ...).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Iterable, Mapping


def _add(parent: ET.Element, tag: str, value: Any = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if value is not None:
        el.text = str(value)
    return el


def _dump(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def voucher_xml(v: Mapping[str, Any]) -> bytes:
    root = ET.Element("VOUCHER")
    for tag, key in (("FISCAL_YEAR", "fiscal_year"), ("ACCT_PERIOD", "period"), ("VOUCHER_TYPE", "voucher_word"),
                     ("VOUCHER_NO", "voucher_number"), ("VOUCHER_DATE", "date"), ("INPUTER", "prepared_by"),
                     ("AUDITOR", "reviewed_by"), ("POSTER", "posted_by"), ("DR_AMT", "debit_total"),
                     ("CR_AMT", "credit_total"), ("VOU_CNT", "attachment_count"), ("RED_FLAG", "red_flag"),
                     ("EXTERNAL_REF", "external_ref"), ("SOURCE_SYSTEM", "source_system"),
                     ("CLAIM_NO", "claim_number")):
        _add(root, tag, v.get(key))
    if str(v.get("red_flag")) == "1":
        # a red voucher (红字冲销) names the voucher it reverses, and why (docs/archival-codes.md)
        for tag, key in (("REVERSED_VOUCHER_NO", "reverses_number"), ("REVERSED_FISCAL_YEAR", "reverses_fiscal_year"),
                         ("REVERSED_EXTERNAL_REF", "reverses_external_ref"), ("REVERSAL_REASON", "reason")):
            _add(root, tag, v.get(key))
    entries = _add(root, "ENTRIES")
    for e in v["entries"]:
        entry = _add(entries, "ENTRY")
        for tag, key in (("ENTRY_NO", "line_no"), ("SUMMARY", "summary"), ("ACCT_CODE", "account_code"),
                         ("ACCT_NAME", "account_name"), ("DR_AMT", "debit"), ("CR_AMT", "credit")):
            _add(entry, tag, e.get(key))
    return _dump(root)


def claim_xml(c: Mapping[str, Any]) -> bytes:
    root = ET.Element("报销单")
    for tag, key in (("单号", "number"), ("题名", "title"), ("费用类别", "expense_category"),
                     ("报销人", "claimant"), ("金额", "total"), ("创建时间", "created_at"), ("状态", "status")):
        _add(root, tag, c.get(key))
    invoices = _add(root, "发票清单")
    for inv in c["invoices"]:
        el = _add(invoices, "发票")
        for tag, key in (("业务键", "business_key"), ("发票种类", "kind"), ("发票代码", "code"),
                         ("发票号码", "number"), ("开票日期", "issue_date"), ("销售方名称", "seller_name"),
                         ("销售方纳税人识别号", "seller_tax_id"), ("价税合计", "total"),
                         ("签名校验结果", "verdict"), ("SHA256", "sha256"), ("SM3", "sm3")):
            _add(el, tag, inv.get(key))
    trail = _add(root, "签核记录")
    for s in c["signoffs"]:
        _add(trail, "签核", None, 环节=s["step"], 签核人=s["actor"], 角色=s["role"], 时间=s["at"],
             意见=s.get("comment") or "")
    return _dump(root)


def item_metadata_xml(m: Mapping[str, Any], files: Iterable[Mapping[str, Any]]) -> bytes:
    """DA/T 94 Appendix A metadata of one item (件): every element is listed, with
    the standard's name and where its value comes from, in docs/metadata.md."""
    root = ET.Element("电子会计档案元数据")
    _add(root, "聚合层次", "件")
    src = _add(root, "来源")
    _add(src, "获取方式", "系统归档")
    _add(src, "源系统", m["source_system"])
    _add(root, "全宗名称", m["org_name"])
    _add(root, "立档单位名称", m["org_name"])
    code = _add(root, "档号", m["archival_code"])
    for tag, key in (("全宗号", "fonds"), ("年度", "fiscal_year"), ("保管期限", "retention"),
                     ("类别号", "class_code"), ("案卷号", "volume"), ("件号", "item")):
        code.set(tag, str(m[key]))
    if m.get("organisation_or_subject"):
        # 机构或问题: the 会计资料形式 the class code stands for (docs/metadata.md)
        code.set("机构或问题", str(m["organisation_or_subject"]))
    for tag, key in (("题名", "title"), ("责任者", "org_name"), ("日期", "date"), ("会计年度", "fiscal_year"),
                     ("会计月份", "period"), ("本位币", "currency"), ("编制人", "prepared_by"),
                     ("编制日期", "prepared_on"), ("审核人", "reviewed_by"), ("审核日期", "reviewed_on"),
                     ("记账人", "posted_by"), ("保管期限截止", "retention_until")):
        if tag in ("编制日期", "审核日期") and key not in m:
            continue
        _add(root, tag, m.get(key))
    # the record's category in 会计档案管理办法 附表1 (DA/T 70 GD-2-9: within the archive's scope)
    category = m.get("category") or {}
    _add(root, "会计档案类别", category.get("name"), 代码=str(category.get("key") or ""))
    # where the package is kept (DA/T 70 GD-1-11: the metadata's storage location is the real one)
    _add(root, "存储位置", m.get("storage_location"))
    access = m.get("access")
    if access is not None:
        rights = _add(root, "权限管理")
        _add(rights, "控制标识", access.get("control"))
        for grant in access.get("grants", []):
            _add(rights, "授权", None, 授权对象=grant["to"], 授权行为=grant["action"])
    files_el = _add(root, "计算机文件")
    for f in files:
        _add(files_el, "文件", None, 计算机文件名=f["path"], 计算机文件大小=str(f["size"]),
             格式信息=f["media_type"], 角色=f["role"], SHA256=f["sha256"], SM3=f["sm3"])
    sigs = _add(root, "电子签名")
    for s in m.get("signatures", []):
        attrs = {"对象": s["object"], "结果": s["verdict"], "校验时间": s.get("verified_at") or "",
                 "校验程序": s.get("verifier") or ""}
        # the signature itself, as the verifier read it (empty for an unsigned invoice)
        for tag, key in (("签名规则", "rule"), ("签名时间", "signed_at"), ("签名人", "signer"),
                         ("证书", "certificate"), ("证书颁发者", "issuer"), ("签名算法", "algorithm")):
            if key in s:
                attrs[tag] = s.get(key) or ""
        _add(sigs, "签名", None, **attrs)
    if "tax_checks" in m:
        # the tax platform's 查验 answer for each original (财会〔2020〕6号; docs/tax-platform.md)
        checks = _add(root, "税务查验")
        for t in m["tax_checks"]:
            _add(checks, "查验", None, 对象=t["object"], 状态=t["status"], 查验时间=t.get("checked_at") or "",
                 来源=t.get("source") or "", 差异=t.get("discrepancies") or "")
    if m.get("four_property") is not None:
        fp = m["four_property"]
        result = _add(root, "四性检测", None, 检测时间=fp["checked_at"], 结论=fp["conclusion"],
                      依据="DA/T 70-2018")
        for c in fp["checks"]:
            _add(result, "检测项", None, 代码=c["code"], 性质=c["property"], 名称=c["name"], 结果=c["result"])
        for w in fp.get("waivers", []):
            _add(result, "豁免", None, 代码=w["code"], 豁免人=w["waived_by"], 豁免时间=w["waived_at"],
                 理由=w["reason"])
    business = _add(root, "业务实体")
    for ev in m.get("events", []):
        attrs = {"行为": ev["action"], "行为时间": ev["at"], "责任人": ev["actor"],
                 "描述": ev.get("description") or ""}
        if "status" in ev:
            attrs["状态"] = ev["status"]
            attrs["依据"] = ev.get("basis") or ""
        _add(business, "业务行为", None, **attrs)
    rel = _add(root, "关系实体")
    for r in m.get("relations", []):
        attrs = {"类型": r["type"], "对象": r["target"]}
        if r.get("archival_code"):
            attrs["档号"] = r["archival_code"]
        _add(rel, "关系", None, **attrs)
    return _dump(root)


def four_property_summary(report: Any, checked_at: Any) -> dict[str, Any]:
    """What the item's metadata records of a four-property report (四性检测, DA/T 94
    7.5 and E.1.4c): when, the conclusion, and each DA/T 70 item's result and waiver."""
    data = report.to_dict()
    conclusion = ("通过" if data["complete"] else "通过（部分检测项经豁免）" if data["registrable"]
                  else "未通过")
    return {"checked_at": checked_at.isoformat() if hasattr(checked_at, "isoformat") else str(checked_at),
            "conclusion": conclusion,
            "checks": [{"code": c["code"], "property": c["property"], "name": c["name"], "result": c["result"]}
                       for c in data["checks"]],
            "waivers": list(data["waivers"])}
