"""The checkable clauses of the rules the pilot is assessed against, as this project
implements them (docs/regulations.md, docs/standards.md), and the scenarios that show
each one: the feature files tag a scenario ``@条款:<id>``.

The report and docs/acceptance.md print the matrix clause → scenarios (with each
scenario's result in the report). A clause no scenario shows is listed too, as
not shown: the matrix never hides a gap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

TAG_PREFIX = "条款:"
#: a feature or scenario whose steps run in-process only (make test), not yet through the
#: HTTP-only step definitions: a run against a deployment reports it as skipped, saying so
IN_PROCESS_ONLY = "进程内"


@dataclass(frozen=True)
class Clause:
    id: str
    source: str        # the regulation or standard
    clause: str        # its own numbering, where the project's docs give one
    text: str          # what is checked, as the project implements it
    doc: str           # where the project explains it


SOURCES = ("财会〔2020〕6号", "会计档案管理办法", "DA/T 94-2022", "DA/T 70-2018", "DA/T 48-2009")

CLAUSES: tuple[Clause, ...] = (
    # 财会〔2020〕6号: the four conditions (docs/regulations.md numbers them C1-C4)
    Clause("CK6-C1", "财会〔2020〕6号", "条件一", "接收的电子会计凭证经查验合法、真实：验签验章、证书链，"
           "篡改即拒收，经税务平台查验，作废、冲红、查无此票者不得报销", "docs/regulations.md"),
    Clause("CK6-C2", "财会〔2020〕6号", "条件二", "传输与存储安全，篡改能及时发现：原件逐字节保存并有 SHA-256、SM3，"
           "固定性审计发现被改动的字节，审计包被改动即核验不通过", "docs/regulations.md"),
    Clause("CK6-C3-读取", "财会〔2020〕6号", "条件三", "准确、完整地接收和读取电子会计凭证及其元数据，每个字段注明来源",
           "docs/regulations.md"),
    Clause("CK6-C3-签核", "财会〔2020〕6号", "条件三", "具备经办、审核、审批的审签程序，不相容职务分离，每一步只决定一次",
           "docs/roles.md"),
    Clause("CK6-C3-防重", "财会〔2020〕6号", "条件三", "防止重复报销、重复入账：同一发票不论格式只接收一次，重试不产生第二张凭证，"
           "入账标识回传税务平台", "docs/regulations.md"),
    Clause("CK6-C3-输出", "财会〔2020〕6号", "条件三", "可按归档格式输出电子会计凭证及其元数据（归档包、审计包、封装包）",
           "docs/regulations.md"),
    Clause("CK6-C4", "财会〔2020〕6号", "条件四", "按会计档案管理办法归档", "docs/regulations.md"),
    # 会计档案管理办法 (财政部 国家档案局令第79号)
    Clause("GL79-保管期限", "会计档案管理办法", "附表1", "会计凭证保管 30 年，自会计年度终了后的第一天算起",
           "docs/regulations.md"),
    Clause("GL79-移交", "会计档案管理办法", "移交", "编制移交清册移交档案，接收方逐件核验准确性、完整性、可用性、安全性",
           "docs/regulations.md"),
    Clause("GL79-鉴定", "会计档案管理办法", "鉴定与销毁", "保管期满的档案经鉴定后方可处置：系统只列出待鉴定档案，从不自行销毁",
           "docs/regulations.md"),
    Clause("GL79-全部凭证", "会计档案管理办法", "归档范围", "每一张记账凭证都归档（红字冲销凭证亦然，并关联其冲销的凭证）",
           "docs/regulations.md"),
    # DA/T 94-2022 电子会计档案管理规范
    Clause("DAT94-6.4", "DA/T 94-2022", "6.3、6.4", "外部电子凭证以原格式归档，逐字节不变", "docs/standards.md"),
    Clause("DAT94-7.5", "DA/T 94-2022", "7.5", "归档时进行四性检测，只有通过的才登记归档，检测结果随件保存",
           "docs/standards.md"),
    Clause("DAT94-8.4", "DA/T 94-2022", "8.4", "一件 = 一张记账凭证 + 其原始凭证 + 附件，记账凭证在前", "docs/standards.md"),
    Clause("DAT94-8.7", "DA/T 94-2022", "8.7", "档号 = 全宗号-类别号-案卷号-件号，案卷号与件号四位", "docs/standards.md"),
    Clause("DAT94-附录C", "DA/T 94-2022", "附录C", "归档失败返回失败代码；已归档的标记为已归档，不重复归档",
           "docs/standards.md"),
    Clause("DAT94-12.3", "DA/T 94-2022", "12.3", "档案的查询、利用记入日志", "docs/standards.md"),
    # DA/T 70-2018 四性检测
    Clause("DAT70-真实性", "DA/T 70-2018", "GD-1", "真实性：固化信息（摘要）有效、档号规范、归档前后包摘要一致",
           "docs/standards.md"),
    Clause("DAT70-完整性", "DA/T 70-2018", "GD-2", "完整性：件数、字节数、元数据齐全，件号连续无缺号（GD-2-6）",
           "docs/standards.md"),
    Clause("DAT70-可用性", "DA/T 70-2018", "GD-3", "可用性：元数据可解析，文件为开放格式并可读", "docs/standards.md"),
    Clause("DAT70-安全性", "DA/T 70-2018", "GD-4", "安全性：病毒检测（GD-4-1、GD-4-2），无多余文件", "docs/standards.md"),
    Clause("DAT70-移交检测", "DA/T 70-2018", "YJ", "移交时接收方重复四性检测", "docs/standards.md"),
    # DA/T 48-2009 基于XML的电子文件封装规范
    Clause("DAT48-封装", "DA/T 48-2009", "封装内容", "一件档案封装为 电子文件封装包：全部文件以 Base64 嵌入，附 SHA-256 与 SM3",
           "docs/standards.md"),
    Clause("DAT48-签名", "DA/T 48-2009", "电子签名块、锁定签名", "封装包经签名并锁定，离线核验，改动一个字节即被发现",
           "docs/standards.md"),
    Clause("DAT48-模式", "DA/T 48-2009", "附录A 封装包模式", "封装包通过附录A 的 XML 模式校验；证书块是签名公钥的 X.509 证书；"
           "修改型封装包保留原封装包", "docs/standards.md"),
)

BY_ID: Mapping[str, Clause] = {c.id: c for c in CLAUSES}


def clause_ids(tags: Iterable[str]) -> list[str]:
    """The clause ids a scenario's tags name (``条款:CK6-C1`` → ``CK6-C1``), in order."""
    return [t[len(TAG_PREFIX):] for t in tags if t.startswith(TAG_PREFIX)]


def unknown_clauses(tags: Iterable[str]) -> list[str]:
    return [c for c in clause_ids(tags) if c not in BY_ID]


__all__ = ["BY_ID", "CLAUSES", "Clause", "IN_PROCESS_ONLY", "SOURCES", "TAG_PREFIX", "clause_ids", "unknown_clauses"]
