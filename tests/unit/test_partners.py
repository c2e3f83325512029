"""The partner tree and the scope of a report (ARCHITECTURE.md §2 subPartnerOrgId rule, §4 PARTNER_* columns)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import Forbidden
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_rows import Partner

#   root ─┬─ sub-a ── sub-a1 ── sub-a1x
#         └─ sub-b
#   other ── other-child          (a foreign tree)
PARTNERS = [
    Partner("root", "Root Telecom"),
    Partner("sub-a", "Reseller A", "root"),
    Partner("sub-a1", "Reseller A1", "sub-a"),
    Partner("sub-a1x", "Reseller A1x", "sub-a1"),
    Partner("sub-b", "Reseller B", "root"),
    Partner("other", "Other Telecom"),
    Partner("other-child", "Other Reseller", "other"),
]
TREE = PartnerTree(PARTNERS)


def test_get_known_and_unknown():
    assert TREE.get("sub-a") == Partner("sub-a", "Reseller A", "root")
    assert TREE.get("nobody") is None


def test_find_by_org_id_or_by_name_ignoring_case():
    assert TREE.find("sub-a") == [Partner("sub-a", "Reseller A", "root")]
    assert TREE.find("  other TELECOM ") == [Partner("other", "Other Telecom")]
    assert TREE.find("Reseller") == [] and TREE.find("nobody") == []
    twins = PartnerTree([*PARTNERS, Partner("twin", "Reseller B", "other")])
    assert [partner.org_id for partner in twins.find("reseller b")] == ["sub-b", "twin"]  # ambiguous


def test_iteration_lists_every_partner_after_its_parent():
    listed = [partner.org_id for partner in TREE]
    assert sorted(listed) == sorted(partner.org_id for partner in PARTNERS)
    assert listed == ["other", "other-child", "root", "sub-a", "sub-a1", "sub-a1x", "sub-b"]


def test_subtree_of_the_root_is_the_whole_tree_sorted():
    assert TREE.subtree("root") == ["root", "sub-a", "sub-a1", "sub-a1x", "sub-b"]


def test_subtree_of_a_sub_partner_is_its_own_branch():
    assert TREE.subtree("sub-a") == ["sub-a", "sub-a1", "sub-a1x"]
    assert TREE.subtree("sub-b") == ["sub-b"]


def test_subtree_never_crosses_into_a_foreign_tree():
    assert TREE.subtree("other") == ["other", "other-child"]
    assert not set(TREE.subtree("root")) & set(TREE.subtree("other"))


def test_subtree_of_an_unknown_org_is_just_itself():
    assert TREE.subtree("nobody") == ["nobody"]


def test_report_scope_without_sub_partner_is_the_caller():
    assert TREE.report_scope("root", None) == Partner("root", "Root Telecom")


def test_report_scope_for_a_sub_partner_caller_is_that_sub_partner():
    assert TREE.report_scope("sub-a", None).name == "Reseller A"


@pytest.mark.parametrize(
    ("caller", "sub"), [("root", "sub-a"), ("root", "sub-a1x"), ("root", "sub-b"), ("sub-a", "sub-a1")]
)
def test_report_scope_with_a_real_sub_partner_names_the_sub_partner(caller, sub):
    assert TREE.report_scope(caller, sub) == TREE.get(sub)


@pytest.mark.parametrize(
    ("caller", "sub"),
    [
        ("root", "other"),  # another partner's root
        ("root", "other-child"),  # another partner's reseller
        ("sub-a", "sub-b"),  # a sibling
        ("sub-a", "root"),  # an ancestor
        ("sub-a1", "sub-a"),  # the parent
        ("root", "nobody"),  # unknown org
    ],
)
def test_report_scope_with_a_foreign_org_is_forbidden(caller, sub):
    with pytest.raises(Forbidden) as caught:
        TREE.report_scope(caller, sub)
    assert caught.value.status == 403
    assert "subPartnerOrgId" in caught.value.problems[0]


@pytest.mark.parametrize("caller", ["root", "sub-a", "other"])
def test_own_id_as_sub_partner_is_forbidden(caller):
    with pytest.raises(Forbidden):
        TREE.report_scope(caller, caller)


def test_unknown_caller_is_forbidden():
    with pytest.raises(Forbidden) as caught:
        TREE.report_scope("nobody", None)
    assert caught.value.status == 403


def test_unknown_caller_naming_a_real_partner_is_forbidden():
    with pytest.raises(Forbidden):
        TREE.report_scope("nobody", "sub-a")


def test_unknown_caller_with_a_dangling_child_is_forbidden():
    tree = PartnerTree([Partner("orphan", "Orphan Reseller", parent_org_id="ghost")])
    with pytest.raises(Forbidden):
        tree.report_scope("ghost", "orphan")


def test_empty_tree():
    tree = PartnerTree([])
    assert tree.subtree("x") == ["x"]
    with pytest.raises(Forbidden):
        tree.report_scope("x", None)


def test_cycles_are_tolerated():
    tree = PartnerTree(
        [
            Partner("a", "A", "c"),
            Partner("b", "B", "a"),
            Partner("c", "C", "b"),
            Partner("self", "Self", "self"),
        ]
    )
    assert tree.subtree("a") == ["a", "b", "c"]
    assert tree.subtree("b") == ["a", "b", "c"]
    assert tree.subtree("self") == ["self"]
    assert tree.report_scope("a", "c").org_id == "c"
    with pytest.raises(Forbidden):
        tree.report_scope("self", "self")
    with pytest.raises(Forbidden):
        tree.report_scope("a", "self")


@st.composite
def forests(draw):
    """Random partner forests: each partner's parent is an earlier one or none (no cycles)."""
    count = draw(st.integers(1, 25))
    partners = []
    for index in range(count):
        parent = draw(st.none() | st.integers(0, index - 1)) if index else None
        partners.append(Partner(f"p{index:02d}", f"P{index}", None if parent is None else f"p{parent:02d}"))
    return partners


def ancestors(partners_by_id, org_id):
    seen = []
    parent = partners_by_id[org_id].parent_org_id
    while parent is not None:
        seen.append(parent)
        parent = partners_by_id[parent].parent_org_id
    return seen


@settings(max_examples=100, deadline=None)
@given(forests(), st.data())
def test_scope_is_granted_exactly_for_strict_descendants(partners, data):
    tree = PartnerTree(partners)
    by_id = {p.org_id: p for p in partners}
    caller = data.draw(st.sampled_from(sorted(by_id)))
    target = data.draw(st.sampled_from(sorted(by_id)))
    expected_subtree = sorted(o for o in by_id if o == caller or caller in ancestors(by_id, o))
    assert tree.subtree(caller) == expected_subtree
    if target != caller and caller in ancestors(by_id, target):
        assert tree.report_scope(caller, target) == by_id[target]
    else:
        with pytest.raises(Forbidden):
            tree.report_scope(caller, target)
