"""真实性 (authenticity), DA/T 70-2018 items GD-1-*.

DA/T 70-2018 requires at archiving that an electronic record be what it claims
to be: its fixity information (固化信息: digests, signatures) is valid, its
metadata is accurate (the 档号 is well-formed and not used twice, file names
and sizes agree with what the metadata describes), and the archival
information package itself is regular (说明文件和目录文件, directory structure)
and unchanged between packaging and archiving. The metadata's values are held
against the item metadata's schema (:mod:`.schema`): length, type, range,
reasonableness and special characters (GD-1-2 to GD-1-6); the storage location
it records is where the package is kept (GD-1-11). The 档号 format is the one
DA/T 94-2022 8.7 (docs/archival-codes.md) gives for accounting records:
``[全宗号-]类别号-案卷号-件号``.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.formats import InvoiceFormatError, xmlsafe

from ..retention import BY_NAME
from .context import (
    OPEN_MEDIA, REQUIRED_MANIFESTS, Package, element, is_voucher_item, metadata_code, metadata_files, record_file,
    member_digest, sniff,
)
from .registry import AUTHENTICITY, FAIL, NOT_PERFORMED, PASS, Outcome, check, outcome
from .schema import (
    FIELDS, FILE_NAME_FORBIDDEN, Field, may_hold_special_characters, range_problem, special_characters, type_problem,
    values,
)

PROPERTY = AUTHENTICITY

# DA/T 94 8.7 (docs/archival-codes.md): [全宗号-]类别号-案卷号-件号; class code parts upper-case letters/digits joined by "·"
CODE_RE = re.compile(r"^(?:(?P<fonds>[A-Z0-9]+)-)?(?P<cls>[A-Z0-9]+(?:·[A-Z0-9]+)*)-(?P<volume>\d{4})-(?P<item>\d{4})$")


@check("GD-1-1", AUTHENTICITY, "固化信息有效性（清单摘要值）")
def gd_1_1_fixity(pkg: Package) -> Outcome:
    problems = []
    checked = 0
    for kind, manifests in (("manifest", pkg.manifests), ("tagmanifest", pkg.tagmanifests)):
        for alg in REQUIRED_MANIFESTS:
            if alg not in manifests:
                problems.append(f"缺少 {kind}-{alg}.txt")
        for alg, entries in sorted(manifests.items()):
            for path, digest in entries.items():
                if path not in pkg.infos:
                    problems.append(f"{kind}-{alg}.txt 列出的文件不存在：{path}")
                    continue
                data = pkg.members.get(path)
                if data is None:
                    problems.append(f"{path} 无法读取（{pkg.unreadable.get(path)}）")
                    continue
                actual = member_digest(pkg, alg, data)
                if actual is None:
                    continue  # an algorithm this system lacks: neither proof nor disproof
                checked += 1
                if actual != digest:
                    problems.append(f"{path} 的 {alg.upper()} 值与 {kind}-{alg}.txt 不符")
    return outcome(problems, f"SHA-256 与 SM3 清单及标签清单共 {checked} 项摘要值全部一致")


# -- the metadata's values: GD-1-2 to GD-1-6 (the schema is .schema.FIELDS) ---------------------

def _field_values(pkg: Package) -> list[tuple[Field, str, str]]:
    """Every value of the schema's fields in the metadata, read once for GD-1-2 to GD-1-4."""
    if "field_values" not in pkg.derived:
        pkg.derived["field_values"] = [(f, label, value) for f in FIELDS for label, value in values(pkg.metadata, f)]
    return pkg.derived["field_values"]


_EVENT_TIME = next(f for f in FIELDS if f.path == "业务实体/业务行为@行为时间")


def _no_metadata(pkg: Package) -> Outcome:
    return FAIL, f"无法读取元数据：{pkg.metadata_error or '没有元数据'}"


@check("GD-1-2", AUTHENTICITY, "元数据项数据长度")
def gd_1_2_lengths(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return _no_metadata(pkg)
    checked = _field_values(pkg)
    problems = [f"{label} 长 {len(value)} 个字符，超过 {f.max_length}" for f, label, value in checked
                if len(value) > f.max_length]
    return outcome(problems, f"{len(checked)} 个元数据值的长度均在规定之内")


@check("GD-1-3", AUTHENTICITY, "元数据项数据类型与格式")
def gd_1_3_types(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return _no_metadata(pkg)
    checked = _field_values(pkg)
    problems = [f"{label}“{value}”{why}" for f, label, value in checked
                if (why := type_problem(f, value)) is not None]
    return outcome(problems, f"{len(checked)} 个元数据值的类型与格式正确")


@check("GD-1-4", AUTHENTICITY, "元数据项值域")
def gd_1_4_ranges(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return _no_metadata(pkg)
    ranged = [(f, label, value) for f, label, value in _field_values(pkg)
              if f.domain is not None or f.minimum is not None or f.maximum is not None]
    problems = [f"{label} {why}" for f, label, value in ranged if (why := range_problem(f, value)) is not None]
    return outcome(problems, f"{len(ranged)} 个设定值域的元数据值均在值域内")


def _text(pkg: Package, path: str) -> str:
    el = element(pkg.metadata, path)
    return (el.text or "").strip() if el is not None else ""


def _attr(pkg: Package, path: str, name: str) -> str | None:
    el = element(pkg.metadata, path)
    if el is None:
        return None
    return {xmlsafe.local(k): v for k, v in el.attrib.items()}.get(name)


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text or "")
    except ValueError:
        return None


def _instant(text: str | None) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


@check("GD-1-5", AUTHENTICITY, "元数据项数据值合理性")
def gd_1_5_reasonable(pkg: Package) -> Outcome:
    """Values that are each well-formed must also agree with one another: the
    voucher's date lies in its accounting year and month, the 档号's year and
    volume (the accounting month) are those of the record, the retention date
    follows from the year and the retention period, nothing is dated after the
    package was made, preparer and reviewer are two people, and the category's
    name and code are one category."""
    if pkg.metadata is None:
        return _no_metadata(pkg)
    problems: list[str] = []
    year_text, month_text = _text(pkg, "会计年度"), _text(pkg, "会计月份")
    year = int(year_text) if year_text.isdigit() else None
    month = int(month_text) if month_text.isdigit() else None
    date = _date(_text(pkg, "日期"))
    if date and year and month and (date.year, date.month) != (year, month):
        problems.append(f"日期 {date} 不在会计期间 {year}年{month}月内")
    code_year, volume = _attr(pkg, "档号", "年度"), _attr(pkg, "档号", "案卷号")
    if year and code_year and code_year != str(year):
        problems.append(f"档号年度 {code_year} 与会计年度 {year} 不符")
    if month and volume and volume.isdigit() and int(volume) != month:
        problems.append(f"案卷号 {volume} 与会计月份 {month} 不符（案卷按会计月份组卷）")
    retention, until = _attr(pkg, "档号", "保管期限"), _text(pkg, "保管期限截止")
    if retention == "Y" and until:
        problems.append(f"保管期限为永久，却有保管期限截止日期 {until}")
    elif retention and re.fullmatch(r"D\d+", retention) and year:
        want = dt.date(year + int(retention[1:]), 12, 31)
        if _date(until) is not None and _date(until) != want:
            problems.append(f"保管期限截止应为 {want}（{year} 年度终了后 {retention[1:]} 年），元数据为 {until}")
    bagged = _date(pkg.bag_info.get("Bagging-Date"))
    if bagged is not None:
        # a day's grace: accounting dates are China's, the bagging date is UTC
        latest = bagged + dt.timedelta(days=1)
        if date and date > latest:
            problems.append(f"日期 {date} 晚于归档日期 {bagged}")
        for label, value in values(pkg.metadata, _EVENT_TIME):
            when = _instant(value)
            if when and when.date() > latest:
                problems.append(f"{label} {value} 晚于归档日期 {bagged}")
    prepared, reviewed = _text(pkg, "编制人"), _text(pkg, "审核人")
    if prepared and reviewed and prepared == reviewed:
        problems.append(f"编制人与审核人同为 {prepared}：凭证应由他人审核")
    name, key = _text(pkg, "会计档案类别"), _attr(pkg, "会计档案类别", "代码")
    if name and key and BY_NAME.get(name) != key:
        problems.append(f"会计档案类别“{name}”与代码 {key} 不符")
    return outcome(problems, "日期、会计期间、档号、保管期限与责任者之间相互一致")


@check("GD-1-6", AUTHENTICITY, "元数据项数据特殊字符")
def gd_1_6_special_characters(pkg: Package) -> Outcome:
    """Every value and attribute of the metadata, whatever its element, is free of
    the characters .schema.special_characters names (line breaks only where the
    schema allows several lines); the 档号 and file names also of the characters
    file systems refuse."""
    if pkg.metadata is None:
        return _no_metadata(pkg)
    multi_line = {f.path for f in FIELDS if not f.single_line}
    problems: list[str] = []
    count = 0
    everything = [v for el in pkg.metadata.iter() for v in ((el.text or "").strip(), *el.attrib.values())]
    clean = not may_hold_special_characters(" ".join(everything))   # then no value needs its path named

    def judge(path: str, value: str) -> None:
        nonlocal count
        count += 1
        found = special_characters(value, single_line=path not in multi_line)
        if found:
            problems.append(f"{path} 含 {'、'.join(found)}")

    def walk(el: Any, path: str) -> None:
        judge(path or xmlsafe.local(el.tag), (el.text or "").strip())
        for k, v in el.attrib.items():
            judge(f"{path}@{xmlsafe.local(k)}", v)
        for child in el:
            name = xmlsafe.local(child.tag)
            walk(child, f"{path}/{name}" if path else name)

    if clean:
        count = len(everything)
    else:
        walk(pkg.metadata, "")
    names = [("档号", metadata_code(pkg) or "")] + [
        (f"计算机文件名 {f.get('计算机文件名', '')}", f.get("计算机文件名", "").rpartition("/")[2])
        for f in metadata_files(pkg)]
    for label, value in names:
        bad = sorted(set(value) & FILE_NAME_FORBIDDEN)
        if bad:
            problems.append(f"{label} 含文件名不允许的字符 {' '.join(bad)}")
    return outcome(problems, f"{count} 个元数据值均不含特殊字符")


@check("GD-1-7", AUTHENTICITY, "档号规范性")
def gd_1_7_code_format(pkg: Package) -> Outcome:
    expected = pkg.expected.get("archival_code")
    problems = []
    meta_code = metadata_code(pkg)
    if meta_code is None:
        problems.append("元数据中没有档号" + (f"（{pkg.metadata_error}）" if pkg.metadata_error else ""))
    else:
        match = CODE_RE.match(meta_code)
        if not match:
            problems.append(f"档号 {meta_code} 不符合“[全宗号-]类别号-案卷号(4位)-件号(4位)”格式")
        else:
            el = element(pkg.metadata, "档号")
            attrs = {xmlsafe.local(k): v for k, v in el.attrib.items()}
            parts = {"全宗号": match.group("fonds") or "", "类别号": match.group("cls"),
                     "案卷号": match.group("volume"), "件号": match.group("item")}
            for attr, value in parts.items():
                if attr in attrs and attrs[attr] != value:
                    problems.append(f"档号属性 {attr}={attrs[attr]} 与档号中的 {value} 不符")
        if expected and meta_code != expected:
            problems.append(f"元数据档号 {meta_code} 与登记档号 {expected} 不符")
    if expected and pkg.top != expected:
        problems.append(f"包文件夹名 {pkg.top} 与档号 {expected} 不符")
    ext_id = pkg.bag_info.get("External-Identifier")
    if ext_id is not None and meta_code is not None and ext_id != meta_code:
        problems.append(f"bag-info.txt 的 External-Identifier {ext_id} 与档号 {meta_code} 不符")
    return outcome(problems, f"档号 {meta_code} 格式规范，与包名及登记信息一致")


def document_number_of(pkg: Package) -> str | None:
    """The item's document number (文号): a 记账凭证's word-number (记-0001) from its
    voucher XML; a ledger's, report's or list's 文号 from its record XML (docs/records.md)."""
    if pkg.metadata is not None and not is_voucher_item(pkg):
        found = record_file(pkg)
        root = found[1] if found else None
        number = (xmlsafe.findtext(root, "文号") or "").strip() if root is not None else ""
        return number or None
    for rel, data in sorted(pkg.payload.items()):
        if rel.endswith(".xml") and "记账凭证" in rel:
            try:
                root = xmlsafe.parse(data, rel)
            except InvoiceFormatError:
                return None
            word, number = xmlsafe.findtext(root, "VOUCHER_TYPE"), xmlsafe.findtext(root, "VOUCHER_NO")
            if word and number:
                return f"{word.strip()}-{number.strip()}"
    return None


@check("GD-1-8", AUTHENTICITY, "档号与文号重复性")
def gd_1_8_duplicates(pkg: Package) -> Outcome:
    """Both the 档号 and the voucher number (文号) must be unique: the 档号 among the
    archive's codes, the voucher number among the vouchers archived in the same
    fiscal year. Either list missing leaves the item not performed, not half passed."""
    known_codes = pkg.expected.get("known_codes")
    known_numbers = pkg.expected.get("known_document_numbers")
    problems, done, missing = [], [], []
    if known_codes is None:
        missing.append("已登记的档号清单")
    else:
        archival_code = metadata_code(pkg) or pkg.expected.get("archival_code")
        if archival_code is None:
            problems.append("无法确定本件档号")
        elif archival_code in set(known_codes):
            problems.append(f"档号 {archival_code} 已被其他档案使用")
        else:
            done.append(f"档号 {archival_code} 未重复")
    number = document_number_of(pkg)
    what = "凭证号" if pkg.metadata is None or is_voucher_item(pkg) else "文号"
    want = pkg.expected.get("document_number")
    if want is not None and number != str(want):
        problems.append(f"包内{'记账凭证' if what == '凭证号' else '档案'}的{what}为 {number or '（无）'}，登记为 {want}")
    if known_numbers is None:
        missing.append(f"已归档的{what}清单")
    elif number is None:
        problems.append(f"无法确定本件的{what}")
    elif number in set(known_numbers):
        problems.append(f"{what} {number} 已归档，重复归档")
    else:
        done.append(f"{what} {number} 未重复")
    if problems:
        return outcome(problems, "")
    if missing:
        return NOT_PERFORMED, f"未提供{'与'.join(missing)}，无法完整查重" + (f"（{'；'.join(done)}）" if done else "")
    return PASS, "；".join(done)


@check("GD-1-9", AUTHENTICITY, "计算机文件名与元数据一致性")
def gd_1_9_file_names(pkg: Package) -> Outcome:
    problems = []
    actual = set(pkg.payload_names)
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        described = {f.get("计算机文件名", "") for f in metadata_files(pkg)}
        others = actual - {pkg.metadata_path}
        for missing in sorted(described - others):
            problems.append(f"元数据登记的文件不在包内：{missing}")
        for extra in sorted(others - described):
            problems.append(f"包内文件未在元数据中登记：{extra}")
        archival_code = metadata_code(pkg)
        if archival_code:
            for n in sorted(actual):
                if not n.split("/")[-1].startswith(archival_code):
                    problems.append(f"文件名未以档号命名：{n}")
    files = pkg.expected.get("files")
    if files is not None:
        registered = {f["path"] for f in files}
        for missing in sorted(registered - actual):
            problems.append(f"登记的文件不在包内：{missing}")
        for extra in sorted(actual - registered):
            problems.append(f"包内文件未登记：{extra}")
    return outcome(problems, f"{len(actual)} 个文件的文件名与元数据、登记信息一致")


@check("GD-1-10", AUTHENTICITY, "计算机文件大小与格式和元数据一致性")
def gd_1_10_file_sizes(pkg: Package) -> Outcome:
    problems = []
    sizes = {rel: info.file_size for rel, info in pkg.infos.items() if rel.startswith("data/")}
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        for f in metadata_files(pkg):
            path = f.get("计算机文件名", "")
            if path not in sizes:
                continue  # reported by GD-1-9
            if f.get("计算机文件大小") != str(sizes[path]):
                problems.append(f"{path} 大小 {sizes[path]} 字节，元数据登记为 {f.get('计算机文件大小')}")
            data = pkg.members.get(path)
            kind = sniff(data) if data is not None else None
            declared = f.get("格式信息")
            if kind and declared and OPEN_MEDIA[kind] != declared:
                problems.append(f"{path} 实际格式为 {kind.upper()}，元数据登记为 {declared}")
    for f in pkg.expected.get("files") or ():
        path = f["path"]
        if path in sizes and "size" in f and int(f["size"]) != sizes[path]:
            problems.append(f"{path} 大小 {sizes[path]} 字节，登记为 {f['size']}")
    return outcome(problems, f"{len(sizes)} 个文件的大小与格式和元数据一致")


@check("GD-1-11", AUTHENTICITY, "元数据与内容数据及存储位置关联")
def gd_1_11_storage(pkg: Package) -> Outcome:
    """The metadata is tied to its content: every file it describes is a member of
    this package, and the storage location it records is where the package is
    actually kept (the archive store's key, named after the 档号)."""
    if pkg.metadata is None:
        return _no_metadata(pkg)
    problems: list[str] = []
    for f in metadata_files(pkg):
        path = f.get("计算机文件名", "")
        if path not in pkg.infos:
            problems.append(f"元数据描述的 {path} 不是本包的文件")
    location = _text(pkg, "存储位置")
    code = metadata_code(pkg)
    if not location:
        problems.append("元数据未记录存储位置")
    elif code and location.rpartition("/")[2] != f"{code}.zip":
        problems.append(f"存储位置 {location} 不是以档号 {code} 命名的归档包")
    actual = pkg.expected.get("package_key")
    if location and actual is not None and location != actual:
        problems.append(f"元数据记录的存储位置 {location} 与实际存储位置 {actual} 不符")
    if problems:
        return outcome(problems, "")
    if actual is None:
        return NOT_PERFORMED, f"未提供实际存储位置，无法与元数据记录的 {location} 核对"
    return PASS, f"元数据所述文件均在包内，存储位置 {location} 与实际一致"


@check("GD-1-12", AUTHENTICITY, "说明文件和目录文件规范性")
def gd_1_12_tag_files(pkg: Package) -> Outcome:
    problems = []
    for rel in ("bagit.txt", "bag-info.txt"):
        if rel not in pkg.infos:
            problems.append(f"缺少 {rel}")
    for rel, found in sorted(pkg.tag_problems.items()):
        problems.extend(f"{rel}：{p}" for p in found)
    oxum = pkg.bag_info.get("Payload-Oxum")
    if "bag-info.txt" in pkg.members:
        if oxum is None or not re.fullmatch(r"\d+\.\d+", oxum):
            problems.append(f"bag-info.txt 的 Payload-Oxum 缺失或格式错误：{oxum}")
        date = pkg.bag_info.get("Bagging-Date")
        try:
            dt.date.fromisoformat(date or "")
        except ValueError:
            problems.append(f"bag-info.txt 的 Bagging-Date 缺失或不是 YYYY-MM-DD：{date}")
    tag_files = {rel for rel in pkg.infos if "/" not in rel and not rel.startswith("tagmanifest-")}
    for alg, entries in sorted(pkg.tagmanifests.items()):
        for missing in sorted(tag_files - set(entries)):
            problems.append(f"tagmanifest-{alg}.txt 未列出 {missing}")
    return outcome(problems, "bagit.txt、bag-info.txt 与各清单文件格式规范")


@check("GD-1-13", AUTHENTICITY, "归档信息包目录结构规范性", needs_zip=False)
def gd_1_13_structure(pkg: Package) -> Outcome:
    if pkg.error:
        return FAIL, pkg.error   # an unopenable package is itself a structure failure
    problems = list(pkg.structure)
    expected = pkg.expected.get("archival_code")
    if expected and pkg.top and pkg.top != expected:
        problems.append(f"顶层文件夹 {pkg.top} 应以档号 {expected} 命名")
    required = ["bagit.txt", "bag-info.txt"] + [f"{k}-{a}.txt" for k in ("manifest", "tagmanifest")
                                                for a in REQUIRED_MANIFESTS]
    for rel in required:
        if rel not in pkg.infos:
            problems.append(f"缺少 {rel}")
    if not pkg.payload_names:
        problems.append("data/ 文件夹内没有文件")
    if "fetch.txt" in pkg.infos:
        problems.append("包含 fetch.txt：归档包须自包含，不得引用外部文件")
    for rel in sorted(pkg.infos):
        if "/" in rel and not rel.startswith("data/"):
            problems.append(f"文件不在 data/ 或包根目录：{rel}")
    return outcome(problems, f"包 {pkg.top}/ 的目录结构符合 BagIt（RFC 8493）")


@check("GD-1-14", AUTHENTICITY, "归档前后数据一致性（包摘要值）", needs_zip=False)
def gd_1_14_package_digest(pkg: Package) -> Outcome:
    want_sha = pkg.expected.get("package_sha256")
    want_sm3 = pkg.expected.get("package_sm3")
    if not want_sha and not want_sm3:
        return NOT_PERFORMED, "未提供归档时记录的包摘要值"
    problems = []
    if want_sha and sha256_hex(pkg.raw) != want_sha.lower():
        problems.append("归档包 SHA-256 值与归档时记录的不符")
    if want_sm3 and sm3_hex(pkg.raw) != want_sm3.lower():
        problems.append("归档包 SM3 值与归档时记录的不符")
    return outcome(problems, "归档包摘要值与归档时记录的一致")
