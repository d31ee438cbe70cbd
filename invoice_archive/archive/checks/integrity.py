"""完整性 (integrity), DA/T 70-2018 items GD-2-*.

DA/T 70-2018 requires at archiving that nothing be missing: the totals agree
with what was declared (件数, 字节数, 文件数量), every metadata element is
present and every mandatory one filled in, the numbering (件号) within a
class/volume is continuous, the content and its attachments still carry
their fixity information, the process that made the record is recorded
(GD-2-5), and the record is within the archive's scope: a category of
会计档案管理办法 附表1 kept at least as long as it asks (GD-2-9, docs/retention.md).
The metadata elements are those of DA/T 94-2022 Appendix A for an accounting
record, and DA/T 94-2022 8.4 (docs/standards.md) puts the 记账凭证 first within
each 件.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from invoice_archive.formats import InvoiceFormatError, xmlsafe

from ..retention import CATEGORIES, at_least_minimum
from .context import REQUIRED_MANIFESTS, Package, element, is_voucher_item, member_digest, metadata_files, record_file
from .registry import FAIL, INTEGRITY, NOT_PERFORMED, Outcome, check, listed, outcome

PROPERTY = INTEGRITY

# DA/T 94 Appendix A elements metadata.item_metadata_xml writes (2-3: present)
REQUIRED_ELEMENTS = (
    "聚合层次", "来源", "来源/获取方式", "来源/源系统", "全宗名称", "立档单位名称", "档号", "题名", "责任者",
    "日期", "会计年度", "会计月份", "本位币", "编制人", "编制日期", "审核人", "审核日期", "记账人", "保管期限截止",
    "会计档案类别", "存储位置", "权限管理", "计算机文件", "电子签名", "税务查验", "业务实体", "关系实体",
)
CODE_ATTRIBUTES = ("全宗号", "年度", "保管期限", "类别号", "案卷号", "件号")
# 2-4: elements that must carry a value (保管期限截止 too unless 保管期限 is Y = 永久)
REQUIRED_FIELDS = (
    "聚合层次", "来源/获取方式", "来源/源系统", "全宗名称", "立档单位名称", "档号", "题名", "责任者", "日期",
    "会计年度", "会计月份", "本位币", "编制人", "编制日期", "会计档案类别", "存储位置",
)
FILE_ATTRIBUTES = ("计算机文件名", "计算机文件大小", "格式信息", "SHA256", "SM3")


@check("GD-2-1", INTEGRITY, "总件数相符性")
def gd_2_1_item_count(pkg: Package) -> Outcome:
    want = int(pkg.expected.get("item_count", 1))
    problems = []
    items = [n for n in pkg.payload_names if n.endswith("-metadata.xml")]
    if len(items) != want:
        problems.append(f"包内有 {len(items)} 件（元数据文件），应为 {want} 件")
    if pkg.metadata is not None:
        level = (xmlsafe.findtext(pkg.metadata, "聚合层次") or "").strip()
        if level != "件":
            problems.append(f"聚合层次为“{level}”，应为“件”")
        roles = [f.get("角色") for f in metadata_files(pkg)]
        # a voucher's item leads with its 记账凭证 (DA/T 94 §8.4); a ledger's, report's or
        # list's with the record itself (docs/records.md)
        lead, name = ("voucher", "记账凭证") if is_voucher_item(pkg) else ("record", "档案本身（记录文件）")
        count = roles.count(lead)
        if count != want:
            problems.append(f"登记的{name} {count} 份，应为每件 1 份")
        elif roles and roles[0] != lead:
            problems.append(f"{name}应排在件内第一位（DA/T 94 §8.4）")
        return outcome(problems, f"共 {want} 件，每件以 1 份{name}开头")
    elif pkg.metadata_error:
        problems.append(pkg.metadata_error)
    return outcome(problems, f"共 {want} 件，每件含 1 张记账凭证")


@check("GD-2-2", INTEGRITY, "总字节数相符性（Payload-Oxum）")
def gd_2_2_byte_count(pkg: Package) -> Outcome:
    actual = sum(info.file_size for rel, info in pkg.infos.items() if rel.startswith("data/"))
    problems = []
    oxum = pkg.bag_info.get("Payload-Oxum", "")
    m = re.fullmatch(r"(\d+)\.(\d+)", oxum)
    if not m:
        problems.append(f"Payload-Oxum 缺失或格式错误：{oxum or '无'}")
    elif int(m.group(1)) != actual:
        problems.append(f"载荷实际 {actual} 字节，Payload-Oxum 声明 {m.group(1)} 字节")
    want = pkg.expected.get("byte_count")
    if want is not None and int(want) != actual:
        problems.append(f"载荷实际 {actual} 字节，登记为 {want} 字节")
    return outcome(problems, f"载荷共 {actual} 字节，与声明一致")


@check("GD-2-3", INTEGRITY, "元数据项完整性")
def gd_2_3_metadata_elements(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return FAIL, pkg.metadata_error or "没有元数据"
    problems = [f"缺少元数据项 {p}" for p in REQUIRED_ELEMENTS if element(pkg.metadata, p) is None]
    code_el = element(pkg.metadata, "档号")
    if code_el is not None:
        attrs = {xmlsafe.local(k) for k in code_el.attrib}
        problems += [f"档号缺少属性 {a}" for a in CODE_ATTRIBUTES if a not in attrs]
    for f in metadata_files(pkg):
        missing = [a for a in FILE_ATTRIBUTES if a not in f]
        if missing:
            problems.append(f"计算机文件 {f.get('计算机文件名', '?')} 缺少 {', '.join(missing)}")
    return outcome(problems, f"DA/T 94 附录 A 的 {len(REQUIRED_ELEMENTS)} 个元数据项齐全")


@check("GD-2-4", INTEGRITY, "元数据必填著录项")
def gd_2_4_required_fields(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return FAIL, pkg.metadata_error or "没有元数据"
    required = list(pkg.expected.get("required_fields") or REQUIRED_FIELDS)
    code_el = element(pkg.metadata, "档号")
    attrs = {xmlsafe.local(k): v for k, v in code_el.attrib.items()} if code_el is not None else {}
    if attrs.get("保管期限") != "Y":
        required.append("保管期限截止")
    problems = []
    for path in required:
        el = element(pkg.metadata, path)
        if el is not None and not (el.text or "").strip():
            problems.append(f"必填项 {path} 为空")
        elif el is None:
            problems.append(f"必填项 {path} 缺失")
    problems += [f"档号属性 {a} 为空" for a in CODE_ATTRIBUTES if a in attrs and not attrs[a].strip()]
    for f in metadata_files(pkg):
        empty = [a for a in FILE_ATTRIBUTES if a in f and not f[a].strip()]
        if empty:
            problems.append(f"计算机文件 {f.get('计算机文件名', '?')} 的 {', '.join(empty)} 为空")
    return outcome(problems, f"{len(required)} 个必填著录项均已填写")


# -- process history and archive scope --------------------------------------------------------

#: the process a 记账凭证 goes through before it is archived (docs/standards.md, GD-2-5): the
#: claim's 经办, 审核 and 审批 (财会〔2020〕6号), then posting; a red voucher's: its reversal
BLUE_PROCESS = ("claim.submitted", "claim.reviewed", "claim.approved", "voucher.posted")
RED_PROCESS = ("voucher.reversed",)
#: how a record other than a voucher came to the archive (docs/records.md): exported by the
#: accounting system, received through intake, or made by the archive itself (its lists)
RECORD_ORIGINS = ("record.exported", "record.received", "record.generated")


def _voucher_record(pkg: Package) -> Any:
    for rel, data in sorted(pkg.payload.items()):
        if rel.endswith(".xml") and "记账凭证" in rel:
            try:
                return xmlsafe.parse(data, rel)
            except InvoiceFormatError:
                return None
    return None


@check("GD-2-5", INTEGRITY, "过程信息完整性")
def gd_2_5_process(pkg: Package) -> Outcome:
    """The metadata's 业务实体 records the record's process, each step with its
    action, time and person, in order: for a voucher the claim's 经办, 审核 and 审批
    before it was posted; for a red (reversing) voucher the reversal."""
    if pkg.metadata is None:
        return FAIL, pkg.metadata_error or "没有元数据"
    business = element(pkg.metadata, "业务实体")
    if business is None:
        return FAIL, "缺少业务实体"
    events = []
    problems = []
    for n, el in enumerate(xmlsafe.findall(business, "业务行为"), start=1):
        attrs = {xmlsafe.local(k): v for k, v in el.attrib.items()}
        action, at, who = attrs.get("行为", "").strip(), attrs.get("行为时间", ""), attrs.get("责任人", "").strip()
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            when = None
        if not action or when is None or when.tzinfo is None or not who:
            problems.append(f"第 {n} 条业务行为缺少行为、行为时间或责任人")
            continue
        events.append((when, action))
    if not is_voucher_item(pkg):
        origins = [a for _, a in events if a in RECORD_ORIGINS]
        if not origins:
            problems.append(f"过程信息中没有档案的来源（{' / '.join(RECORD_ORIGINS)} 之一）")
        return outcome(problems, f"{len(events)} 条业务行为，来源 {origins[0] if origins else ''} 已记录")
    voucher = _voucher_record(pkg)
    red = voucher is not None and (xmlsafe.findtext(voucher, "RED_FLAG") or "").strip() == "1"
    required = RED_PROCESS if red else BLUE_PROCESS
    times: dict[str, list[dt.datetime]] = {}
    for when, action in events:
        times.setdefault(action, []).append(when)
    missing = [a for a in required if a not in times]
    if missing:
        problems.append(f"{'红字冲销凭证' if red else '记账凭证'}的过程信息缺少：{', '.join(missing)}")
    elif not red:
        # the last approval before posting, a review before it, a submission before that
        posted = min(times["voucher.posted"])
        approved = max((t for t in times["claim.approved"] if t <= posted), default=None)
        reviewed = max((t for t in times["claim.reviewed"] if approved and t <= approved), default=None)
        submitted = min((t for t in times["claim.submitted"] if reviewed and t <= reviewed), default=None)
        if approved is None:
            problems.append("入账前没有审批记录")
        elif reviewed is None:
            problems.append("审批前没有审核记录")
        elif submitted is None:
            problems.append("审核前没有经办记录")
    if voucher is None:
        problems.append("包内没有可读的记账凭证，无法判断应有的过程")
    return outcome(problems, f"{len(events)} 条业务行为，{'→'.join(required)} 齐全且有序")


@check("GD-2-6", INTEGRITY, "件号连续性", needs_zip=False)
def gd_2_6_numbering(pkg: Package) -> Outcome:
    sequence = pkg.expected.get("sequence")
    if sequence is None:
        return NOT_PERFORMED, "未提供本类目/案卷已登记的件号序列"
    numbers = [int(n) for n in sequence]
    problems = []
    seen = set(numbers)
    dups = sorted(n for n, count in Counter(numbers).items() if count > 1)
    if dups:
        problems.append(f"件号重复：{', '.join(f'{n:04d}' for n in dups)}")
    if numbers:
        if min(seen) != 1:
            problems.append(f"件号应从 0001 开始，实际从 {min(seen):04d} 开始")
        gaps = sorted(set(range(1, max(seen) + 1)) - seen)
        if gaps:
            problems.append(f"件号不连续，缺少：{', '.join(f'{n:04d}' for n in gaps[:20])}")
    else:
        problems.append("件号序列为空")
    item = None
    if pkg.metadata is not None:
        el = element(pkg.metadata, "档号")
        item = next((v for k, v in el.attrib.items() if xmlsafe.local(k) == "件号"), None) if el is not None else None
    if item is not None and item.isdigit() and int(item) not in seen:
        problems.append(f"本件件号 {item} 不在已登记的序列中")
    return outcome(problems, f"件号 0001–{max(seen) if seen else 0:04d} 连续无缺号")


@check("GD-2-7", INTEGRITY, "内容数据和附件的固化信息")
def gd_2_7_content_digests(pkg: Package) -> Outcome:
    problems = []
    checked = 0
    actual: dict[str, tuple[str, str]] = {}

    def digests(path: str) -> tuple[str, str] | None:
        if path not in actual:
            data = pkg.members.get(path)
            if data is None:
                return None
            actual[path] = (member_digest(pkg, "sha256", data), member_digest(pkg, "sm3", data))
        return actual[path]

    sources: list[tuple[str, Iterable[Mapping[str, Any]], str, str, str]] = []
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        sources.append(("元数据", metadata_files(pkg), "计算机文件名", "SHA256", "SM3"))
    if pkg.expected.get("files") is not None:
        sources.append(("登记信息", pkg.expected["files"], "path", "sha256", "sm3"))
    for label, files, path_key, sha_key, sm3_key in sources:
        for f in files:
            path = f.get(path_key, "")
            got = digests(path)
            if got is None:
                if path in pkg.infos:
                    problems.append(f"{path} 无法读取")
                continue  # absent files are GD-1-9's finding
            for alg, key, value in (("SHA-256", sha_key, got[0]), ("SM3", sm3_key, got[1])):
                want = f.get(key)
                if want:
                    checked += 1
                    if str(want).lower() != value:
                        problems.append(f"{path} 的 {alg} 值与{label}记录的不符")
    if not sources:
        return FAIL, listed(problems)
    return outcome(problems, f"{checked} 项内容摘要值与元数据和登记信息一致")


@check("GD-2-9", INTEGRITY, "归档范围")
def gd_2_9_scope(pkg: Package) -> Outcome:
    """The record belongs in the accounting archive: its category is one of
    会计档案管理办法 附表1 (docs/retention.md), its content is what the category
    says (a 记账凭证 carries its voucher), it is kept at least as long as 附表1
    asks, and it lies in the period being archived."""
    if pkg.metadata is None:
        return FAIL, pkg.metadata_error or "没有元数据"
    problems = []
    el = element(pkg.metadata, "会计档案类别")
    attrs = {xmlsafe.local(k): v for k, v in el.attrib.items()} if el is not None else {}
    key, name = attrs.get("代码", ""), ((el.text or "").strip() if el is not None else "")
    category = CATEGORIES.get(key)
    if category is None:
        problems.append(f"会计档案类别 {name or key or '（无）'} 不在会计档案管理办法附表1的归档范围内")
    else:
        roles = [f.get("角色") for f in metadata_files(pkg)]
        if key == "voucher" and "voucher" not in roles:
            problems.append("类别为记账凭证，包内却没有记账凭证")
        if key != "voucher":
            found = record_file(pkg)
            if found is None or found[1] is None:
                problems.append(f"类别为{category.name}，包内却没有可读的档案记录文件")
        code_el = element(pkg.metadata, "档号")
        retention = ({xmlsafe.local(k): v for k, v in code_el.attrib.items()}.get("保管期限")
                     if code_el is not None else None)
        if retention is None or not at_least_minimum(key, retention):
            problems.append(f"保管期限 {retention or '（无）'} 短于附表1对{category.name}的要求（{category.minimum_text}）")
    scope = pkg.expected.get("scope") or {}
    within = ""
    for label, want in (("会计年度", scope.get("fiscal_year")), ("会计月份", scope.get("period"))):
        if want is None:
            continue
        got = element(pkg.metadata, label)
        value = (got.text or "").strip() if got is not None else ""
        if value != str(want):
            problems.append(f"{label}为 {value or '（无）'}，不在本次归档的 {want} 内")
    if scope:
        within = f"，属于本次归档的 {scope.get('fiscal_year')}年{scope.get('period')}月"
    return outcome(problems, f"{name}属于会计档案（附表1 第 {category.row if category else '?'} 项）"
                             f"，保管期限不短于{category.minimum_text if category else ''}{within}")


@check("GD-2-11", INTEGRITY, "文件数量相符性")
def gd_2_11_file_count(pkg: Package) -> Outcome:
    actual = len(pkg.payload_names)
    problems = []
    want = pkg.expected.get("file_count")
    if want is not None and int(want) != actual:
        problems.append(f"包内 {actual} 个文件，登记为 {want} 个")
    m = re.fullmatch(r"(\d+)\.(\d+)", pkg.bag_info.get("Payload-Oxum", ""))
    if m and int(m.group(2)) != actual:
        problems.append(f"包内 {actual} 个文件，Payload-Oxum 声明 {m.group(2)} 个")
    for alg in REQUIRED_MANIFESTS:
        listed_files = pkg.manifests.get(alg)
        if listed_files is not None and len(listed_files) != actual:
            problems.append(f"包内 {actual} 个文件，manifest-{alg}.txt 列出 {len(listed_files)} 个")
    if pkg.metadata is not None:
        described = len(metadata_files(pkg)) + 1  # the metadata file describes the others
        if described != actual:
            problems.append(f"包内 {actual} 个文件，元数据登记 {described - 1} 个（另加元数据文件本身）")
    return outcome(problems, f"共 {actual} 个文件，与声明一致")
