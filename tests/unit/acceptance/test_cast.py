"""The token file: what demo-setup prints, key=token lines, comments; who plays whom."""
from __future__ import annotations

import pytest

from invoice_archive.acceptance.cast import Cast, TokenFileError, parse_token_file


def test_demo_setups_output_is_a_token_file():
    text = ("finance            ia_aaa\napprover           ia_bbb\naccounting_system  ia_ccc\n"
            "auditor            ia_ddd\narchivist          ia_eee\nadmin              ia_fff\napprover2          ia_ggg\n")
    assert parse_token_file(text) == {"finance": "ia_aaa", "approver": "ia_bbb", "accounting_system": "ia_ccc",
                                      "auditor": "ia_ddd", "archivist": "ia_eee", "admin": "ia_fff",
                                      "approver2": "ia_ggg"}


def test_key_equals_token_comments_and_names():
    text = "# 试点单位\n\nauditor=ia_1  # 审计\n张经办 = ia_2\n"
    assert parse_token_file(text) == {"auditor": "ia_1", "张经办": "ia_2"}


@pytest.mark.parametrize("text", ["", "# nothing\n", "finance\n", "a = b = c\n"])
def test_what_is_not_a_token_file_is_refused_in_words(text):
    with pytest.raises(TokenFileError, match="令牌文件"):
        parse_token_file(text)


def test_a_name_beats_a_role_and_the_second_approver_is_approver2():
    cast = Cast({"approver": "ia_rev", "approver2": "ia_app", "finance": "ia_fin", "张经办": "ia_zhang"})
    assert cast.token("李审核") == "ia_rev" and cast.token("陈审批") == "ia_app"
    assert cast.token("张经办") == "ia_zhang"
    assert cast.token("王审计") is None and "auditor" in cast.missing("王审计")
    cast.add("张经办（另一张令牌）", "ia_alias")
    assert cast.token("张经办（另一张令牌）") == "ia_alias"
